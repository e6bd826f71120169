#!/usr/bin/env bash
# The first channel opened ahead (issue 21): the CHANNEL_OPEN of a connection's first session
# channel goes right behind a signed publickey request (libssh2 patch 0009), so the
# first command does not wait for the auth success before asking for its channel. Counted in
# the server's debug log and SSHS_TRACE=1, not timed:
# - accepted key: one channel open for one command (the channel opened ahead is the command's),
#   and the open is not answered as a pre-auth protocol error;
# - agent keys: the open goes behind the signed request that follows the server's PK_OK, never
#   behind a query;
# - a refused key first: sshd answers the early open with UNIMPLEMENTED (its log names message
#   type 90); sshs forgets it, the next key and the password still log in, and the command opens
#   its own channel;
# - what comes first after connect may be SFTP or a forward, not a command: both work, and the
#   unused channel serves the next command;
# - the server refuses every session (MaxSessions 0): the command still fails with the refusal;
# - a jump host's (ProxyJump) connection opens nothing ahead: it only carries the tunnel, and a
#   bastion with MaxSessions 0 would log "no more sessions" for each connection;
# - one session allowed (MaxSessions 1): SFTP first gets the slot of the unused channel opened
#   ahead (closed when SFTP's own open is refused); threaded commands take turns;
# - the server closes the connection right after the auth success: connect fails, saying so;
# - AuthenticationMethods publickey,password: the open behind the partly accepted key is
#   forgotten and the password completes the login.
# The system libssh2 1.10 has no such call: there nothing is opened ahead, and these checks
# expect that.
source "$TESTROOT/remote_lib.sh"
plan 31

start_sshd "$TMP/rsshd" $'LogLevel DEBUG1\nPasswordAuthentication yes' || exit 1
LOG=$X_DIR/sshd.log
opens_in() { log_since "$1" | grep -c "server_input_channel_open: ctype session" || true; }
protocol_errors_in() { log_since "$1" | grep -c "dispatch_protocol_error: type 90" || true; }
if [ "$LIBSSH2_OLD" = 1 ]; then AHEAD=0; else AHEAD=1; fi

script one.sshs <<'EOF'
with connect("127.0.0.1") do
  print($(echo connected))
end
EOF

# --- the key is accepted ------------------------------------------------------------------------
n0=$(log_lines)
RHOME=$X_HOME SSHS_TRACE=1 run_remote one.sshs
settle "$n0"
if [ "$rc" = 0 ] && [ "$out" = connected ]; then ok "accepted key: the command runs"; else not_ok "accepted key: the command runs" "$(show)"; fi
sent=$(grep -c "channel open sent with the auth request" "$TMP/err")
opened=$(grep -c "channel opened ahead: open" "$TMP/err")
if [ "$sent$opened" = "$AHEAD$AHEAD" ]; then ok "SSHS_TRACE: the channel open went with the auth request and was confirmed ($AHEAD)"
else not_ok "SSHS_TRACE: the channel open went with the auth request and was confirmed ($AHEAD)" "sent=$sent opened=$opened" "$(grep 'trace: .*\(channel\|auth\)' "$TMP/err")"; fi
n=$(opens_in "$n0")
if [ "$n" = 1 ]; then ok "one command, one channel open on the server: the command used the channel opened ahead"
else not_ok "one command, one channel open on the server" "opens=$n" "$(log_since "$n0" | grep 'channel_open\|userauth')"; fi
e=$(protocol_errors_in "$n0")
if [ "$e" = 0 ]; then ok "the open reached the server after the auth, not as a pre-auth protocol error"
else not_ok "the open reached the server after the auth" "$(log_since "$n0" | grep dispatch_protocol_error)"; fi

# --- a refused key first, then the right one ------------------------------------------------------
two_keys_home "$TMP/two"
n0=$(log_lines)
RHOME=$TMP/two SSHS_TRACE=1 run_remote one.sshs
settle "$n0"
if [ "$rc" = 0 ] && [ "$out" = connected ]; then ok "a refused key, then the right one: the command runs"; else not_ok "a refused key, then the right one: the command runs" "$(show)"; fi
e=$(protocol_errors_in "$n0")
f=$(grep -c "channel opened ahead: forgotten" "$TMP/err")
if [ "$e$f" = "$AHEAD$AHEAD" ]; then ok "the early open came before auth: sshd answered UNIMPLEMENTED, sshs forgot it ($AHEAD)"
else not_ok "the early open came before auth: sshd answered UNIMPLEMENTED, sshs forgot it ($AHEAD)" "protocol errors=$e forgotten=$f" "$(grep 'trace: .*channel' "$TMP/err")"; fi
n=$(opens_in "$n0")
if [ "$n" = 1 ]; then ok "... and the command opened its own channel after the auth (one open)"
else not_ok "... and the command opened its own channel after the auth" "opens=$n"; fi

# --- a refused key, then the password (a throw-away user of this run) -------------------------------
PWUSER=sshs_oa$$
PW='oa pw'
script pw.sshs <<'EOF'
with connect("127.0.0.1", {user = arg[1], key = arg[2], password = arg[3], port = arg[4] and tonumber(arg[4]), known_hosts = arg[5]}) do
  print($(whoami))
  print($(echo second))
end
EOF
if password_user "$PWUSER" "$PW"; then
  n0=$(log_lines)
  RHOME=$X_HOME SSHS_TRACE=1 run_remote pw.sshs "$PWUSER" "$X_WRONG_KEY" "$PW"
  settle "$n0"
  if [ "$rc" = 0 ] && [ "$out" = "$PWUSER"$'\n'second ]; then ok "a refused key, then the password: two commands run"; else not_ok "a refused key, then the password: two commands run" "$(show)"; fi
  if grep -q "auth: password (one request): accepted" "$TMP/err" && [ "$(grep -c 'channel opened ahead: forgotten' "$TMP/err")" = "$AHEAD" ]; then
    ok "SSHS_TRACE: the early open forgotten ($AHEAD), the password accepted"
  else not_ok "SSHS_TRACE: the early open forgotten ($AHEAD), the password accepted" "$(grep 'trace: .*\(auth\|channel\)' "$TMP/err")"; fi
else
  skip_checks 2 "cannot create the throw-away user $PWUSER (not root?)"
fi

# --- agent keys: the open follows the signed request, after the server's PK_OK --------------------
agent_two_keys "$TMP/agenthome"; agent=$?
if [ "$agent" = 2 ]; then
  skip_checks 2 "ssh-agent did not start: $AGENT_ERR"
else
  if [ "$agent" = 0 ]; then
    n0=$(log_lines)
    RHOME=$TMP/agenthome SSHS_TRACE=1 run_remote one.sshs
    settle "$n0"
    if [ "$rc" = 0 ] && [ "$out" = connected ]; then ok "two agent keys, the first refused: the command runs"; else not_ok "two agent keys, the first refused: the command runs" "$(show)"; fi
    sent=$(grep -c "channel open sent with the auth request" "$TMP/err")
    opened=$(grep -c "channel opened ahead: open" "$TMP/err")
    n=$(opens_in "$n0"); e=$(protocol_errors_in "$n0")
    # The refused key's query got no signature, so nothing was sent behind it: no protocol error.
    if [ "$sent$opened$e" = "${AHEAD}${AHEAD}0" ] && [ "$n" = 1 ]; then
      ok "agent: the open went behind the accepted key's signed request only ($AHEAD), one open, no protocol error"
    else not_ok "agent: the open went behind the accepted key's signed request only ($AHEAD)" "sent=$sent opened=$opened opens=$n protocol errors=$e" "$(grep 'trace: .*\(auth\|channel\)' "$TMP/err")"; fi
  else
    not_ok "ssh-add loads the keys into a private agent" "$AGENT_ERR"; skip_checks 1 "no agent keys"
  fi
  agent_stop
fi

# --- SFTP first, then commands ---------------------------------------------------------------------
mkdir -p "$TMP/files"
echo payload > "$TMP/files/src"
script sftp_first.sshs <<'EOF'
local D = arg[1]
with connect("127.0.0.1") do
  upload(D .. "/src", D .. "/up")
  download(D .. "/up", D .. "/down")
  print($(cat #{D}/down))
  print($(echo again))
end
EOF
n0=$(log_lines)
RHOME=$X_HOME SSHS_TRACE=1 run_remote sftp_first.sshs "$TMP/files"
settle "$n0"
if [ "$rc" = 0 ] && [ "$out" = payload$'\n'again ]; then ok "SFTP first: upload, download, then two commands"; else not_ok "SFTP first: upload, download, then two commands" "$(show)"; fi
n=$(opens_in "$n0")
# SFTP opens its own channel; the one opened ahead serves the first command, the second opens one.
if [ "$n" = 3 ]; then ok "SFTP first: three channel opens (ahead or SFTP's own, then a command's), no more"
else not_ok "SFTP first: three channel opens" "opens=$n" "$(log_since "$n0" | grep 'channel_open\|subsystem')"; fi
closed=$(log_since "$n0" | grep -c "channel [0-9]*: free: server-session")
if [ "$closed" = "$n" ]; then ok "SFTP first: every session channel was freed on the server ($closed of $n)"
else not_ok "SFTP first: every session channel was freed on the server" "freed $closed of $n"; fi

# --- a forward first, then a command ---------------------------------------------------------------
# A local client (started here, outside sshs) waits for the forward's port, connects through it
# and writes what came back: the tunnel's direct-tcpip channel is the connection's first.
cat > "$TMP/server.py" <<'EOF'
import os, socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
c, _ = s.accept(); c.sendall(b"hello from the far side\n"); c.close()
EOF
cat > "$TMP/client.py" <<'EOF'
import os, socket, sys, time
for _ in range(1200):
    if os.path.exists(sys.argv[1]): break
    time.sleep(0.05)
port = int(open(sys.argv[1]).read())
s = socket.create_connection(("127.0.0.1", port))
line = s.makefile().readline().strip()
open(sys.argv[2] + ".tmp", "w").write(line)
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
EOF
timeout 120 python3 "$TMP/server.py" "$TMP/port" &
CLEANUP+=("kill $!")
timeout 120 python3 "$TMP/client.py" "$TMP/fport" "$TMP/fres" &
CLEANUP+=("kill $!")
for _ in $(seq 200); do [ -s "$TMP/port" ] && break; sleep 0.05; done
script fwd_first.sshs <<'EOF'
local to, pfile, rfile = "127.0.0.1:" .. arg[1], arg[2], arg[3]
with connect("127.0.0.1") do
  with forward{listen = "127.0.0.1:0", to = to} as f do
    local fh = io.open(pfile .. ".tmp", "w"); fh:write(f.port); fh:close()
    os.rename(pfile .. ".tmp", pfile)
    local got
    for _ = 1, 600 do
      fh = io.open(rfile)
      if fh then got = fh:read("a"); fh:close(); break end
      sleep(0.05)
    end
    print(got)
  end
  print($(echo after))
end
EOF
n0=$(log_lines)
RHOME=$X_HOME SSHS_TRACE=1 run_remote fwd_first.sshs "$(cat "$TMP/port")" "$TMP/fport" "$TMP/fres"
settle "$n0"
if [ "$rc" = 0 ] && [ "$out" = "hello from the far side"$'\n'after ]; then ok "a forward first, then a command"; else not_ok "a forward first, then a command" "$(show)"; fi
if log_since "$n0" | grep -q "server_input_channel_open: ctype direct-tcpip" && [ "$(opens_in "$n0")" = 1 ]; then
  ok "... the tunnel's channel, then one session channel (the one opened ahead, or the command's)"
else not_ok "... the tunnel's channel, then one session channel" "$(log_since "$n0" | grep 'channel_open')"; fi

# --- a jump host (ProxyJump) that allows no sessions --------------------------------------------------
# A bastion's connection carries only the tunnel: nothing is opened ahead there, so a bastion
# with MaxSessions 0 does not log "no more sessions" for each connection; the target's own
# connection still opens its first channel ahead.
if start_sshd "$TMP/bastion" $'MaxSessions 0'; then
  mkdir -p "$TMP/jumphome/.ssh"
  printf 'Host bastion\n  HostName 127.0.0.1\n  Port %s\n  User %s\n  IdentityFile %s\n  UserKnownHostsFile %s\n' \
    "$X_PORT" "$X_USER" "$X_KEY" "$X_KNOWN_HOSTS" > "$TMP/jumphome/.ssh/config"
  printf 'Host target\n  HostName 127.0.0.1\n  Port %s\n  User %s\n  IdentityFile %s\n  UserKnownHostsFile %s\n  ProxyJump bastion\n' \
    "$SSHS_TEST_PORT" "$SSHS_TEST_USER" "$SSHS_TEST_KEY" "$SSHS_TEST_KNOWN_HOSTS" >> "$TMP/jumphome/.ssh/config"
  script jump.sshs <<'EOF'
with connect("target") do
  print($(echo through the bastion))
end
EOF
  RHOME=$TMP/jumphome SSHS_TRACE=1 run_remote jump.sshs
  sleep 0.3
  if [ "$rc" = 0 ] && [ "$out" = "through the bastion" ]; then ok "through a bastion that allows no sessions: the command runs"; else not_ok "through a bastion that allows no sessions: the command runs" "$(show)"; fi
  b=$(grep -c "@bastion: channel open sent" "$TMP/err"); t=$(grep -c "@target: channel opened ahead: open" "$TMP/err")
  if [ "$b" = 0 ] && [ "$t" = "$AHEAD" ] && ! grep -q "no more sessions" "$X_DIR/sshd.log"; then
    ok "nothing opened ahead on the bastion (its log has no \"no more sessions\"); the target's channel went ahead ($AHEAD)"
  else not_ok "nothing opened ahead on the bastion; the target's channel went ahead ($AHEAD)" "bastion sent=$b target opened=$t" "$(grep 'trace: .*channel' "$TMP/err")" "$(grep 'no more sessions' "$X_DIR/sshd.log")"; fi
else
  skip_checks 2 "the bastion sshd did not start"
fi

# --- the server refuses every session (MaxSessions 0) -----------------------------------------------
if start_sshd "$TMP/nosess" $'MaxSessions 0'; then
  script nosess.sshs <<'EOF'
local T = require "t"
with connect("127.0.0.1", {port = tonumber(arg[1]), known_hosts = arg[2], key = arg[3]}) do
  local m = T.fails(function() return $(echo hi) end)
  T.has("MaxSessions 0: the command raises, naming the host", m, "127.0.0.1")
  T.has("... and the refusal", m, "refused to open a session channel")
end
EOF
  SSHS_TRACE=1 LIMIT=60 lua_checks nosess.sshs "$X_PORT" "$X_KNOWN_HOSTS" "$X_KEY"
  if [ "$(grep -c 'channel opened ahead: refused' "$TMP/err")" = "$AHEAD" ]; then ok "SSHS_TRACE: the open ahead was refused ($AHEAD)"
  else not_ok "SSHS_TRACE: the open ahead was refused ($AHEAD)" "$(grep 'trace: .*\(auth\|channel\)' "$TMP/err")"; fi
else
  skip_checks 3 "the MaxSessions 0 sshd did not start"
fi

# --- one session allowed (MaxSessions 1): the unused channel opened ahead gives its slot up ---------
# SFTP opens a channel of its own; refused while the channel opened ahead sits unused (the server's
# one session), sshs closes that one and opens SFTP's again. A command after the transfers gets
# the slot of the idle SFTP channel (it used to wait forever), and a transfer after the command
# opens SFTP again.
# Commands in parallel threads right after connect: the first takes the channel opened ahead,
# the others wait their turn.
if start_sshd "$TMP/onesess" $'LogLevel DEBUG1\nMaxSessions 1'; then
  mkdir -p "$TMP/one"; echo payload1 > "$TMP/one/src"
  script onesess.sshs <<'EOF'
local T = require "t"
local o = {port = tonumber(arg[1]), known_hosts = arg[2], key = arg[3]}
local D = arg[4]
with connect("127.0.0.1", o) do
  local ok, e = pcall(function() upload(D .. "/src", D .. "/up"); download(D .. "/up", D .. "/down") end)
  T.ok("MaxSessions 1: SFTP first (an upload, a download) works", ok, T.msg(e))
  T.eq("MaxSessions 1: a command after SFTP runs (the idle SFTP channel gives its slot up)",
       select(2, pcall(function() return $(echo after-sftp) end)), "after-sftp")
  local ok2, e2 = pcall(function() upload(D .. "/src", D .. "/up2") end)
  T.ok("MaxSessions 1: SFTP again after the command, then a command", ok2 and $(cat #{D}/up2) == "payload1", T.msg(e2))
end
T.eq("... and carried the file", T.read(D .. "/down"), "payload1\n")
with connect("127.0.0.1", o) do
  local hs = {}
  for i = 1, 6 do hs[i] = thread(function() return $(echo #{i}) end) end
  local good, bad = T.join_all(hs, function(i) return tostring(i) end)
  T.eq("MaxSessions 1: 6 commands in threads right after connect", good, 6, bad)
end
EOF
  SSHS_TRACE=1 LIMIT=90 lua_checks onesess.sshs "$X_PORT" "$X_KNOWN_HOSTS" "$X_KEY" "$TMP/one"
  if [ "$(grep -c 'channel opened ahead: closed (another session was refused)' "$TMP/err")" = "$AHEAD" ]; then
    ok "SSHS_TRACE: SFTP's refused open closed the unused channel opened ahead ($AHEAD)"
  else not_ok "SSHS_TRACE: SFTP's refused open closed the unused channel opened ahead ($AHEAD)" "$(grep 'trace: [^ ]*: channel' "$TMP/err")"; fi
else
  skip_checks 6 "the MaxSessions 1 sshd did not start"
fi

# --- the server ends the connection right after the auth success -----------------------------------
# A user who is not root with a ChrootDirectory sshd refuses (/tmp is world-writable): sshd's
# post-auth child exits at once ("bad ownership or modes for chroot directory"), so the channel
# opened ahead is never confirmed. The connect fails, saying the connection closed right after
# authentication (with libssh2 1.10, nothing went ahead: the first command fails); no hang.
if id "$PWUSER" > /dev/null 2>&1 && chmod 711 "$TMP" && mkdir -m 755 "$TMP/akeys"; then
  if start_sshd "$TMP/chroot" $'LogLevel DEBUG1\nAuthorizedKeysFile '"$TMP/akeys/keys"$'\nChrootDirectory /tmp'; then
    cp "$X_DIR/authorized_keys" "$TMP/akeys/keys"; chmod 644 "$TMP/akeys/keys"
    script closed.sshs <<'EOF'
with connect("127.0.0.1", {port = tonumber(arg[1]), known_hosts = arg[2], key = arg[3], user = arg[4]}) do
  print($(echo not-reached))
end
EOF
    SSHS_TRACE=1 LIMIT=60 run_remote closed.sshs "$X_PORT" "$X_KNOWN_HOSTS" "$X_KEY" "$PWUSER"
    msg=$(grep -v 'trace:' "$TMP/err")
    if [ "$rc" = 1 ] && [ -z "$out" ] && grep -q "bad ownership or modes for chroot" "$X_DIR/sshd.log" && [[ "$msg" == *"$PWUSER@127.0.0.1"* ]]; then
      ok "the server closes right after the auth success: the script fails, naming the host"
    else not_ok "the server closes right after the auth success: the script fails, naming the host" "$(show)"; fi
    if [ "$AHEAD" = 1 ]; then
      case "$msg" in *"connection to $PWUSER@127.0.0.1 closed right after authentication"*) ok "... at connect: the connection closed right after authentication";;
        *) not_ok "... at connect: the connection closed right after authentication" "$msg";; esac
    else
      case "$msg" in *"on $PWUSER@127.0.0.1"*|*"connection to $PWUSER@127.0.0.1 lost"*) ok "... at the first command (libssh2 1.10: nothing opened ahead)";;
        *) not_ok "... at the first command (libssh2 1.10: nothing opened ahead)" "$msg";; esac
    fi
  else
    skip_checks 2 "the ChrootDirectory sshd did not start"
  fi
else
  skip_checks 2 "no throw-away user $PWUSER (not root?)"
fi

# --- partial success: AuthenticationMethods publickey,password --------------------------------------
# The key is accepted only as a first step (USERAUTH_FAILURE, partial success): the open behind it
# came before auth was done (sshd answers UNIMPLEMENTED), sshs forgets it, the password completes
# the login, and the commands open their own channels.
if id "$PWUSER" > /dev/null 2>&1 && [ -d "$TMP/akeys" ]; then
  if start_sshd "$TMP/partial" $'LogLevel DEBUG1\nAuthorizedKeysFile '"$TMP/akeys/keys"$'\nPasswordAuthentication yes\nAuthenticationMethods publickey,password'; then
    cp "$X_DIR/authorized_keys" "$TMP/akeys/keys"; chmod 644 "$TMP/akeys/keys"
    SSHS_TRACE=1 LIMIT=60 run_remote pw.sshs "$PWUSER" "$X_KEY" "$PW" "$X_PORT" "$X_KNOWN_HOSTS"
    if [ "$rc" = 0 ] && [ "$out" = "$PWUSER"$'\n'second ] && grep -q "Partial publickey for $PWUSER" "$X_DIR/sshd.log"; then
      ok "publickey,password: the key's partial success, then the password: two commands run"
    else not_ok "publickey,password: the key's partial success, then the password: two commands run" "$(show)"; fi
    if [ "$(grep -c 'channel opened ahead: forgotten' "$TMP/err")" = "$AHEAD" ] && grep -q "auth: password (one request): accepted" "$TMP/err"; then
      ok "SSHS_TRACE: the open behind the partly accepted key forgotten ($AHEAD), the password accepted"
    else not_ok "SSHS_TRACE: the open behind the partly accepted key forgotten ($AHEAD)" "$(grep 'trace: .*\(auth\|channel\)' "$TMP/err")"; fi
  else
    skip_checks 2 "the publickey,password sshd did not start"
  fi
else
  skip_checks 2 "no throw-away user $PWUSER (not root?)"
fi
