#!/usr/bin/env bash
# Jump hosts and ~/.ssh/config: connect() inside a remote session tunnels through it; `via` as a
# host, a chain or a session; ProxyJump (and chains) from ssh config; host keys and errors behind
# a jump host; many threads and bulk data through a tunnel; Host patterns (*, ?, !), first value
# wins, explicit options win.
#
# Whether a connection really went through a jump host is read from the sockets: the client end
# of the connection to the target is owned by the sshd process serving the jump host (ss -p).
source "$TESTROOT/remote_lib.sh"
plan 49

CLOSED=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
export CLOSED
cat > "$TMP/config" <<EOF
Host jumpalias
  HostName 127.0.0.10
Host behind
  HostName 127.0.0.8
  ProxyJump 127.0.0.2
Host deep
  HostName 127.0.0.9
  ProxyJump 127.0.0.2,127.0.0.3
Host viaalias
  HostName 127.0.0.11
  ProxyJump jumpalias
Host neg* !negx
  HostName 127.0.0.12
Host negx
  HostName 127.0.0.13
Host q?q
  HostName 127.0.0.14
Host first
  HostName 127.0.0.15
Host first
  HostName 127.0.0.16
Host wrongport
  HostName 127.0.0.6
  Port 1
Host baduser
  HostName 127.0.0.6
  User nobody-at-all
Host *
$(test_server_defaults)
EOF
# Scripts below read ~/.ssh/config from this home.
mkdir -p "$TMP/home/.ssh"
cp "$TMP/config" "$TMP/home/.ssh/config"
export RHOME=$TMP/home

cat > "$TMP/path.lua" <<'EOF'
-- path(ssh_connection): how the connection got here, e.g. "127.0.0.3 <- 127.0.0.2 <- sshs"
-- (each hop after the first an sshd serving that address); "127.0.0.2 <- sshs" when direct.
local T = require "t"
return function(conn)
  local port, to, to_port = nil, nil, nil
  if conn then port, to, to_port = conn:match("^%S+ (%d+) (%S+) (%d+)") end
  local hops = {to or "?"}
  for _ = 1, 6 do
    if not port then hops[#hops + 1] = "?"; break end
    local pid = T.owner(port, to, to_port)   -- this hop's connection, not another with its port
    if not pid then hops[#hops + 1] = "?"; break end
    if pid == T.pid then hops[#hops + 1] = "sshs"; break end
    local addr, peer = T.served(pid)
    hops[#hops + 1] = addr or ("pid " .. pid)
    port, to, to_port = peer, addr, T.port
  end
  return table.concat(hops, " <- ")
end
EOF

script jump.sshs <<'EOF'
local T = require "t"
local path = require "path"
local U = T.user
local function here() return $(echo "$SSH_CONNECTION") end
local function addr() return (here():match("^%S+ %S+ (%S+)")) end

T.eq("a direct connection is owned by sshs itself", (function()
  with connect("127.0.0.2") do return path(here()) end end)(), "127.0.0.2 <- sshs")

-- connect() inside a remote session goes through it.
with connect("127.0.0.2") do
  with connect("127.0.0.3") as inner do
    T.eq("nested connect reaches the inner host", addr(), "127.0.0.3")
    T.eq("nested connect is tunnelled through the outer host", path(here()), "127.0.0.3 <- 127.0.0.2 <- sshs")
    T.eq("nested session's host", inner.host, U .. "@127.0.0.3")
    T.eq("only one TCP connection from sshs (the outer one)", T.conns(), 1)
    local hs = {}
    for i = 1, 10 do hs[i] = thread(function() return $(sleep 0.2; echo #{i}) end) end
    local good, bad = T.join_all(hs, tostring)
    T.ok("10 threads on a tunnelled connection", good == 10, bad)
    local sink = os.tmpname()
    local p = io.popen("sha256sum > " .. sink, "w")
    local r = run("head -c 64000000 /dev/urandom | tee /tmp/sshs-jump-" .. T.pid .. " | sha256sum")
    local want = r.stdout
    local got = run("cat /tmp/sshs-jump-" .. T.pid, {on_stdout = function(d) p:write(d) end})
    p:close()
    T.eq("64 MB of stdout through the tunnel arrives intact", T.read(sink):match("^%x+"), want:match("^%x+"))
    local data = string.rep("0123456789abcdef", 512 * 1024)                    -- 8 MiB
    T.eq("8 MiB of stdin through the tunnel arrives intact", run("wc -c", {stdin = data}).stdout:match("%d+"), tostring(#data))
    $ rm -f /tmp/sshs-jump-#{T.pid}
    os.remove(sink)
    local m = T.fails(function() connect("127.0.0.4", {known_hosts = "/dev/null"}) end)
    T.has("host keys are checked behind a jump host too", m, "unknown host key for " .. U .. "@127.0.0.4")
  end
  T.eq("after the inner block, commands run on the outer host", addr(), "127.0.0.2")
end
T.ok("all connections closed afterwards", T.wait_for(function() return T.conns() == 0 end, 30), "conns: " .. T.conns())

-- via = "host"
with connect("127.0.0.4", {via = "127.0.0.5"}) do
  T.eq("via = 'host' tunnels through that host", path(here()), "127.0.0.4 <- 127.0.0.5 <- sshs")
end
T.ok("the via connection is closed with the session", T.wait_for(function() return T.conns() == 0 end, 30), "conns: " .. T.conns())

-- via = a session: not the one on top.
local a = connect("127.0.0.2")
local b = connect("127.0.0.3")
local c = connect("127.0.0.6", {via = a})
T.eq("via = session tunnels through that session, not the one on top", path(here()), "127.0.0.6 <- 127.0.0.2 <- sshs")
c:close()
T.eq("closing it returns to the session below", path(here()), "127.0.0.3 <- 127.0.0.2 <- sshs")
a:close()
T.eq("an inner session outlives closing its jump host's session", addr(), "127.0.0.3")
b:close()
T.ok("... and the jump connection closes with the last user", T.wait_for(function() return T.conns() == 0 end, 30), "conns: " .. T.conns())

-- via = "a,b": a chain.
with connect("127.0.0.7", {via = "127.0.0.2,127.0.0.3"}) do
  T.eq("via = 'a,b' chains the jump hosts in order", path(here()), "127.0.0.7 <- 127.0.0.3 <- 127.0.0.2 <- sshs")
end

-- ProxyJump from ssh config.
with connect("behind") as s do
  T.eq("ProxyJump in ssh config", path(here()), "127.0.0.8 <- 127.0.0.2 <- sshs")
  T.eq("host of a session reached by ProxyJump names the alias", s.host, U .. "@behind")
end
with connect("deep") do
  T.eq("ProxyJump a,b in ssh config chains in order", path(here()), "127.0.0.9 <- 127.0.0.3 <- 127.0.0.2 <- sshs")
end
with connect("viaalias") do
  T.eq("ProxyJump through an alias resolves the alias", path(here()), "127.0.0.11 <- 127.0.0.10 <- sshs")
end
with connect("behind", {via = "127.0.0.5"}) do
  T.eq("opts.via wins over ProxyJump", path(here()), "127.0.0.8 <- 127.0.0.5 <- sshs")
end
T.ok("no connection left open", T.wait_for(function() return T.conns() == 0 end, 30), "conns: " .. T.conns())
EOF
LIMIT=90 lua_checks jump.sshs

# ---------------------------------------------------------------------------------------------
# Errors behind and at jump hosts.
script jumperr.sshs <<'EOF'
local T = require "t"
local U, CLOSED = T.user, T.env("CLOSED")
local function attempt(target, opts)
  return T.fails(function() connect(target, opts):close() end)
end
local m = attempt("127.0.0.1:" .. CLOSED, {via = "127.0.0.2"})
T.has("target port closed behind a jump host: message names the target", m, "127.0.0.1:" .. CLOSED)
T.ok("... and says the jump host could not reach it (not a handshake failure)",
  m and (m:lower():find("refused") or m:find("connect failed")) and not m:find("handshake"), m)
T.lacks("... at once (not by a timeout)", m, "timed out")
m = attempt("nonexistent.invalid", {via = "127.0.0.2"})
T.has("unknown name behind a jump host: message names it", m, "nonexistent.invalid")
T.ok("... and does not blame the SSH handshake", m and not m:find("handshake"), m)
m = attempt("127.0.0.4", {via = "127.0.0.1:" .. CLOSED})
T.has("jump host unreachable: message names the jump host", m, "127.0.0.1:" .. CLOSED)
T.like("... and says refused", (m or ""):lower(), "refused")
m = attempt("127.0.0.4", {via = 42})
T.like("via of a wrong type is an error", m, "via must be")
T.eq("nothing left pushed after failed jumps", run("true").host, "local")
T.ok("nothing left connected after failed jumps", T.wait_for(function() return T.conns() == 0 end, 30), "conns: " .. T.conns())
EOF
LIMIT=60 lua_checks jumperr.sshs

if start_sshd "$TMP/nofwd" $'AllowTcpForwarding no'; then
  script nofwd.sshs <<'EOF'
local T = require "t"
with connect("127.0.0.1", {port = tonumber(arg[1]), known_hosts = arg[2], key = arg[3]}) do
  local m = T.fails(function() connect("127.0.0.3"):close() end)
  T.has("jump host refuses forwarding: the error names the target", m, "127.0.0.3")
  T.ok("... and says the jump host refused the tunnel", m and (m:find("prohibited") or m:find("forward") or m:find("tunnel")), m)
  T.lacks("... at once (not by a timeout)", m, "timed out")
  T.eq("the jump host's session still works", $(echo still), "still")
end
EOF
  LIMIT=90 lua_checks nofwd.sshs "$X_PORT" "$X_KNOWN_HOSTS" "$X_KEY"
fi

# ---------------------------------------------------------------------------------------------
# ~/.ssh/config: Host patterns, first value wins, explicit options win.
script config.sshs <<'EOF'
local T = require "t"
local U, P = T.user, T.port
local function where(target, opts)
  local ok, s = pcall(connect, target, opts)
  if not ok then return "error: " .. T.msg(s) end
  local a = $(echo "$SSH_CONNECTION" | cut -d' ' -f3)
  local who = $(whoami)
  s:close()
  return a, who
end
T.eq("Host neg* matches", where("negy"), "127.0.0.12")
T.eq("Host neg* !negx: the negation excludes negx", where("negx"), "127.0.0.13")
T.eq("Host q?q: ? matches one character", where("qaq"), "127.0.0.14")
T.like("Host q?q: ? does not match two", where("qaaq"), "^error: .*qaaq")
T.eq("the first matching HostName wins", where("first"), "127.0.0.15")
T.eq("Host * gives Port/User/IdentityFile to an alias", where("jumpalias"), "127.0.0.10")
T.eq("opts.port wins over Port in ssh config", where("wrongport", {port = P}), "127.0.0.6")
T.like("Port in ssh config is used (Port 1 is refused)", where("wrongport"), "^error: .*127%.0%.0%.6.*refused")
local a, who = where("baduser", {user = U})
T.eq("opts.user wins over User in ssh config", who, U)
T.like("User in ssh config is used (an unknown user fails)", where("baduser"), "^error: .*nobody%-at%-all@baduser")
T.like("opts.ssh_config = another file is read instead", where("negy", {ssh_config = "/dev/null", port = P, known_hosts = T.env("SSHS_TEST_KNOWN_HOSTS")}), "^error: .*negy")
EOF
lua_checks config.sshs
