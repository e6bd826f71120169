#!/usr/bin/env bash
# The main remote cases against another server: Dropbear (Debian's dropbear-bin), started here
# on a free loopback port with its own ed25519 host key, for a throw-away user whose home (and
# authorized_keys) live in this test's temp folder. Nothing depends on OpenSSH quirks:
# connect + host key check, capture, exit status, stderr, stdin, a 64 MiB stream checked by
# sha256, parallel commands on one connection, a timeout that stops the command (Dropbear gets
# the pid-marker-and-kill path), an RSA user key, a jump through Dropbear (direct-tcpip), and a
# ProxyCommand relay to Dropbear.
source "$TESTROOT/remote_lib.sh"

if ! command -v /usr/sbin/dropbear >/dev/null || ! command -v dropbearkey >/dev/null; then
  echo "1..0 # SKIP dropbear-bin is not installed (scripts/install-deps.sh installs it)"; exit 0
fi
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root to make a throw-away user"; exit 0; fi
plan 17

DB=$TMP/dropbear
mkdir -p "$DB"
chmod 755 "$TMP" "$DB"
U=sshs_transportdb$$
if useradd -M -d "$DB/home" -s /bin/sh -p '*' "$U" 2>/dev/null; then CLEANUP+=("userdel $U"); fi
mkdir -p "$DB/home/.ssh"
ssh-keygen -q -t ed25519 -N '' -C dbclient -f "$DB/client_key"
ssh-keygen -q -t rsa -b 2048 -N '' -C dbrsa -f "$DB/rsa_key"
cat "$DB/client_key.pub" "$DB/rsa_key.pub" > "$DB/home/.ssh/authorized_keys"
chown -R "$U" "$DB/home"; chmod 700 "$DB/home" "$DB/home/.ssh"; chmod 600 "$DB/home/.ssh/authorized_keys"

dropbearkey -t ed25519 -f "$DB/host_key" > /dev/null 2>&1
HOSTPUB=$(dropbearkey -y -f "$DB/host_key" 2>/dev/null | grep '^ssh-ed25519 ' | cut -d' ' -f1,2)
DBPID=""
for _ in 1 2 3 4 5; do
  DBPORT=$(( (RANDOM % 20000) + 30000 ))
  [ -n "$(ss -Htan "( sport = :$DBPORT )" 2>/dev/null)" ] && continue
  setsid /usr/sbin/dropbear -F -E -s -m -p "127.0.0.1:$DBPORT" -r "$DB/host_key" -P "$DB/pid" \
    < /dev/null > "$DB/log" 2>&1 &
  DBPID=$!
  for _ in $(seq 1 50); do
    timeout 1 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && IFS= read -r -t 1 l <&3 && [ "${l#SSH-}" != "$l" ]' _ "$DBPORT" 2>/dev/null && break 2
    kill -0 "$DBPID" 2>/dev/null || break
    sleep 0.1
  done
  kill "$DBPID" 2>/dev/null; DBPID=""
done
if [ -z "$DBPID" ]; then not_ok "dropbear starts" "$(tail -n 5 "$DB/log")"; exit 1; fi
CLEANUP+=("kill $DBPID")
echo "[127.0.0.1]:$DBPORT $HOSTPUB" > "$DB/known_hosts"
export DBPORT U DB
echo "# $(/usr/sbin/dropbear -V 2>&1 | head -n 1) on 127.0.0.1:$DBPORT; sshs with libssh2 $LIBSSH2_VER"

script db.sshs <<'EOF'
local T = require "t"
local o = {port = tonumber(os.getenv("DBPORT")), user = os.getenv("U"), key = os.getenv("DB") .. "/client_key",
           known_hosts = os.getenv("DB") .. "/known_hosts"}
with connect("127.0.0.1", o) do
  T.eq("connects (host key checked) and captures a command's output", $(echo hello from $(id -un)), "hello from " .. o.user)
  local r = run("echo out; echo err >&2; exit 3", {check = false})
  T.ok("exit status, stdout and stderr apart", r.exitcode == 3 and r.stdout == "out\n" and r.stderr == "err\n", T.show(r.exitcode), T.show(r.stdout), T.show(r.stderr))
  T.eq("stdin reaches the command", run("tr a-z A-Z", {stdin = "abc\n"}).stdout, "ABC\n")
  local want = T.sh("head -c 67108864 /dev/zero | sha256sum"):match("%x+")
  local got = run("head -c 67108864 /dev/zero | sha256sum").stdout:match("%x+")
  local n, p = 0, io.popen("sha256sum > " .. os.getenv("DB") .. "/stream.sum", "w")
  run("head -c 67108864 /dev/urandom | tee " .. os.getenv("DB") .. "/home/sent", {on_stdout = function(c) n = n + #c; p:write(c) end})
  p:close()
  T.ok("a 64 MiB stream to a callback arrives whole and intact", n == 67108864 and
       T.read(os.getenv("DB") .. "/stream.sum"):match("%x+") == T.sh("sha256sum < " .. os.getenv("DB") .. "/home/sent"):match("%x+") and got == want, n)
  local hs = {}
  for i = 1, 6 do hs[i] = thread(function() return $(sleep 0.3; echo #{i}) end) end
  local good, bad = T.join_all(hs, function(i) return tostring(i) end)
  T.eq("6 parallel commands on one connection", good, 6, bad)
  local mark = "4799" .. T.pid              -- a sleep argument no other process has
  local ok, e = pcall(run, "sleep " .. mark .. "; echo not-reached", {timeout = 1})
  T.ok("a timeout stops the command", not ok and T.msg(e):find("timed out", 1, true) ~= nil, T.msg(e))
  T.ok("... at the timeout, not when the command ends (it would sleep for years)", not ok and type(e) == "table" and e.timed_out == true, T.msg(e))
  T.ok("... and nothing is left running on the server",
       T.wait_for(function() return T.sh("pgrep -f '^sleep " .. mark .. "$' || true") == "" end, 30), T.sh("pgrep -af 'sleep " .. mark .. "' || true"))
end
-- A jump through Dropbear to the OpenSSH test server (a direct-tcpip channel on Dropbear).
with connect("127.0.0.1", o) do
  with connect("127.0.0.1", {port = T.port, user = T.user, key = os.getenv("SSHS_TEST_KEY"),
                             known_hosts = os.getenv("SSHS_TEST_KNOWN_HOSTS")}) do
    T.eq("a jump through Dropbear reaches the OpenSSH server", $(echo via-jump $(id -un)), "via-jump " .. T.user)
  end
end
-- A ProxyCommand (a TCP relay that logs its arguments) carries the connection to Dropbear.
local relay = os.getenv("DB") .. "/relay.py"
T.write(relay, [[
import os, socket, sys, select
with open(sys.argv[1], "a") as f: f.write(" ".join(sys.argv[2:]) + "\n")
s = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
fds = [0, s.fileno()]
while fds:
    for fd in select.select(fds, [], [])[0]:
        d = os.read(fd, 65536)
        if not d:
            if fd == 0: s.shutdown(socket.SHUT_WR)
            else: sys.exit(0)
            fds.remove(fd)
        elif fd == 0: s.sendall(d)
        else: os.write(1, d)
]])
local po = {port = o.port, user = o.user, key = o.key, known_hosts = o.known_hosts,
            proxy_command = "python3 " .. relay .. " " .. os.getenv("DB") .. "/relay.log %p %r"}
with connect("127.0.0.1", po) do
  T.eq("a ProxyCommand carries the connection to Dropbear", $(echo proxied), "proxied")
end
T.eq("... through the relay (tokens %p %r expanded)", T.read(os.getenv("DB") .. "/relay.log"), o.port .. " " .. o.user .. "\n")
-- RSA user key (rsa-sha2 with libssh2 >= 1.11; Dropbear 2022 still accepts ssh-rsa as well).
local ro = {port = o.port, user = o.user, key = os.getenv("DB") .. "/rsa_key", known_hosts = o.known_hosts}
local okr, er = pcall(function() with connect("127.0.0.1", ro) do return $(echo rsa-ok) end end)
T.ok("an RSA user key logs in", okr, T.msg(er))
-- A wrong host key is refused, naming the host.
T.write(os.getenv("DB") .. "/bad_known_hosts", "[127.0.0.1]:" .. o.port .. " ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFk3b8o0q0R0pPqfQm7WwOe2vQxq3U6o0b3s2m0wGr0u\n")
local bo = {port = o.port, user = o.user, key = o.key, known_hosts = os.getenv("DB") .. "/bad_known_hosts"}
local okb, eb = pcall(function() with connect("127.0.0.1", bo) do return $(true) end end)
T.ok("a changed host key is refused", not okb, "connected")
T.has("... naming the host", T.msg(eb), "127.0.0.1")
-- Algorithms: Dropbear 2022.83 has aes128-ctr, aes256-ctr and chacha20-poly1305, no aes192-ctr.
local co = {port = o.port, user = o.user, key = o.key, known_hosts = o.known_hosts, ciphers = "aes192-ctr"}
local okc, ec = pcall(function() with connect("127.0.0.1", co) do return $(true) end end)
T.has("no common cipher with Dropbear: the error names both sides", not okc and T.msg(ec) or "connected",
      "no common cipher algorithm: we offer aes192-ctr; the server offers")
EOF
export SSHS_TEST_KEY SSHS_TEST_KNOWN_HOSTS
LIMIT=180 lua_checks db.sshs

# Agent forwarding: Dropbear grants it per session (each gets a socket of its own), so each
# command asks and both have the agent. A private agent, for this run only (stopped at exit).
script dbagent.sshs <<'EOF'
local T = require "t"
local ao = {port = tonumber(os.getenv("DBPORT")), user = os.getenv("U"), key = os.getenv("DB") .. "/client_key",
            known_hosts = os.getenv("DB") .. "/known_hosts", forward_agent = true}
local ok, a1, a2 = pcall(function() with connect("127.0.0.1", ao) do return $(ssh-add -l), $(ssh-add -l) end end)
if os.getenv("LIBSSH2_OLD") == "1" then
  T.has("forward_agent with libssh2 1.10: an error saying the bundled libssh2 is needed", not ok and T.msg(a1) or "connected", "bundled libssh2")
else
  local fp = os.getenv("AGENT_FP")
  T.ok("forward_agent: every command on Dropbear lists the local agent's key", ok and a1:find(fp, 1, true) and a2:find(fp, 1, true), T.msg(a1), a2)
end
EOF
eval "$(ssh-agent -a "$TMP/agent.sock" -s)" > /dev/null
CLEANUP+=("kill $SSH_AGENT_PID")
SSH_AUTH_SOCK=$TMP/agent.sock ssh-add -q "$DB/client_key" 2> /dev/null
AGENT_FP=$(ssh-keygen -lf "$DB/client_key" | cut -d' ' -f2)
SSH_AUTH_SOCK=$TMP/agent.sock AGENT_FP=$AGENT_FP LIBSSH2_OLD=$LIBSSH2_OLD LIMIT=60 lua_checks dbagent.sshs

# A refused key file, then the right one: Dropbear disconnects a client that sends anything
# but auth before auth is done ("Received message 90 before userauth"), so sshs opens no
# channel ahead of the auth reply here (it does with OpenSSH: remote_open_ahead.sh).
mkdir -p "$DB/twokeys/.ssh"
printf 'Host *\n  IdentityFile %s\n  IdentityFile %s\n' "$SSHS_TEST_WRONG_KEY" "$DB/client_key" > "$DB/twokeys/.ssh/config"
script dbtwo.sshs <<'EOF'
with connect("127.0.0.1", {port = tonumber(os.getenv("DBPORT")), user = os.getenv("U"),
                           known_hosts = os.getenv("DB") .. "/known_hosts"}) do
  print($(echo second-key))
end
EOF
unset SSH_AUTH_SOCK           # the agent above holds the right key: keys files only here
RHOME=$DB/twokeys SSHS_TRACE=1 run_remote dbtwo.sshs
if [ "$rc" = 0 ] && [ "$out" = second-key ] && ! grep -q "channel open sent with the auth request" "$TMP/err"; then
  ok "a refused key, then the right one: Dropbear logs in (no channel opened ahead of the auth reply)"
else not_ok "a refused key, then the right one: Dropbear logs in (no channel opened ahead)" "$(show)"; fi
