#!/usr/bin/env bash
# Agent forwarding (issue 19): with connect{forward_agent = true} or ForwardAgent yes (never by
# default), the remote host reaches the local agent: `ssh-add -l` there lists the local key, a
# second hop to the same sshd authenticates with the forwarded agent alone (BatchMode, no key
# file), several agent clients at once all get answers, console() and pty commands have it
# too, and a session closed while a remote process holds the agent open closes (the remote
# client sees its agent connection end). Without the option the remote host has no agent.
# Errors and warnings: no SSH_AUTH_SOCK (the script's option: an error; ForwardAgent yes: a
# warning), an unreachable local agent (a warning naming the socket; the remote client finds
# no agent), a server with AllowAgentForwarding no (a warning once, naming the host; commands
# run on). With libssh2 1.10 (make LIBSSH2=system on Debian 12) both options are an error
# saying the bundled libssh2 is needed; the other checks are skipped with that reason.
source "$TESTROOT/remote_lib.sh"
plan 20

# A private agent holding the test key (which the runner's sshd accepts), stopped at exit.
export SSH_AUTH_SOCK=$TMP/agent.sock
eval "$(ssh-agent -a "$SSH_AUTH_SOCK" -s)" > /dev/null
CLEANUP+=("kill $SSH_AGENT_PID")
ssh-add -q "$SSHS_TEST_KEY" 2> /dev/null
FP=$(ssh-keygen -lf "$SSHS_TEST_KEY" | cut -d' ' -f2)
export FP

# ssh_config files: ForwardAgent yes for one alias, no for another.
cat > "$TMP/fa_config" <<EOF
Host fa-yes
  HostName 127.0.0.1
  ForwardAgent yes
Host fa-no
  HostName 127.0.0.1
  ForwardAgent no
Host *
$(test_server_defaults)
EOF

if [ "$LIBSSH2_OLD" = 1 ]; then
  HOME=$SSHS_TEST_HOME run_sshs -e 'connect("127.0.0.1", {forward_agent = true})'
  case "$rc:$err" in 1:*"forward_agent: agent forwarding needs libssh2 1.11"*"bundled libssh2"*) ok "libssh2 $LIBSSH2_VER: forward_agent = true is an error saying the bundled libssh2 is needed";;
    *) not_ok "libssh2 $LIBSSH2_VER: forward_agent = true is an error saying the bundled libssh2 is needed" "$(show)";; esac
  HOME=$SSHS_TEST_HOME "$SSHS" -F "$TMP/fa_config" -e 'connect("fa-yes")' > "$TMP/out" 2> "$TMP/err" < /dev/null; rc=$?
  out=$(cat "$TMP/out"); err=$(cat "$TMP/err")
  case "$rc:$err" in 1:*"ForwardAgent yes (${TMP}/fa_config:3): agent forwarding needs libssh2 1.11"*) ok "libssh2 $LIBSSH2_VER: ForwardAgent yes is an error naming file:line";;
    *) not_ok "libssh2 $LIBSSH2_VER: ForwardAgent yes is an error naming file:line" "$(show)";; esac
  HOME=$SSHS_TEST_HOME "$SSHS" -F "$TMP/fa_config" -e 'connect("fa-no"); print($(echo fine))' > "$TMP/out" 2> "$TMP/err" < /dev/null; rc=$?
  out=$(cat "$TMP/out"); err=$(cat "$TMP/err")
  expect_out "fine" "libssh2 $LIBSSH2_VER: ForwardAgent no connects as before"
  skip_checks 17 "libssh2 $LIBSSH2_VER cannot accept the auth-agent channels a server opens (only 1.11 has the callback): the bundled 1.11 can"
  exit 0
fi

# --- forward_agent = true ------------------------------------------------------------------------
script fwd.sshs <<'EOF'
local T = require "t"
local port, kh, fp = os.getenv("SSHS_TEST_PORT"), os.getenv("SSHS_TEST_KNOWN_HOSTS"), os.getenv("FP")
-- A second hop to the same sshd that can only authenticate with an agent's key.
local hop = "ssh -F /dev/null -o BatchMode=yes -o IdentityFile=/dev/null -o GlobalKnownHostsFile=/dev/null " ..
  "-o UserKnownHostsFile=" .. kh .. " -o StrictHostKeyChecking=yes -o LogLevel=ERROR -p " .. port ..
  " " .. T.user .. "@127.0.0.1 echo second-hop-ok"
with connect("127.0.0.1", {forward_agent = true}) do
  T.like("forward_agent: the remote command has SSH_AUTH_SOCK", $(echo "$SSH_AUTH_SOCK"), "^/")
  T.has("forward_agent: remote ssh-add -l lists the local agent's key", $(ssh-add -l), fp)
  local r = run(hop .. " 2>&1", {check = false})
  T.ok("forward_agent: a second hop authenticates with the forwarded agent (BatchMode, no key file)",
    r.ok and r.stdout:find("second-hop-ok", 1, true), r.stdout)
  r = run("unset SSH_AUTH_SOCK; " .. hop .. " 2>&1", {check = false})
  T.ok("... and the same hop without the agent is refused (it was the agent's key)", not r.ok, r.stdout)
  local many = $[[
    d=$(mktemp -d)
    for i in 1 2 3 4 5; do ssh-add -l > "$d/$i" 2>&1 & done
    wait
    cat "$d"/*; rm -rf "$d"
  ]]
  local n = select(2, tostring(many):gsub(fp:gsub("%p", "%%%0"), ""))
  T.eq("5 agent clients at once: every one lists the key", n, 5)
  T.has("a command with pty = true has the agent", run("ssh-add -l", {pty = true}).stdout, fp)
  with console() as c do
    T.has("console(): ssh-add -l in the console lists the key", $(ssh-add -l), fp)
  end
end
local out = each({"127.0.0.1", "127.0.0.2"}, function() return $(ssh-add -l) end, {forward_agent = true})
T.ok("each{forward_agent = true}: every host has the agent",
  (out["127.0.0.1"].value or ""):find(fp, 1, true) and (out["127.0.0.2"].value or ""):find(fp, 1, true),
  T.show(out["127.0.0.1"].value or out["127.0.0.1"].error), T.show(out["127.0.0.2"].value or out["127.0.0.2"].error))
with connect("127.0.0.1") do
  local r = run('echo "[$SSH_AUTH_SOCK]"; ssh-add -l', {check = false})
  T.ok("without forward_agent: no SSH_AUTH_SOCK there, ssh-add -l fails",
    r.stdout:find("[]", 1, true) == 1 and r.exitcode == 2, r.stdout, r.stderr, r.exitcode)
end

-- A background process asks the agent while nothing runs on the session (only Lua sleeps).
local bg = T.tmp .. "/bg." .. T.pid
with connect("127.0.0.1", {forward_agent = true}) do
  $ (sleep 1; timeout 30 ssh-add -l > #{bg}.tmp 2>&1; mv #{bg}.tmp #{bg}) > /dev/null 2>&1 < /dev/null &
  T.ok("an agent client a background process starts while the session is idle is answered",
    T.wait_for(function() return T.read(bg) end, 40) and T.read(bg):find(fp, 1, true), T.read(bg))
end

-- A remote process holds an agent connection open (an agent channel) when the session closes.
local flag = T.tmp .. "/holder." .. T.pid
do
  local s = connect("127.0.0.1", {forward_agent = true})
  run([[perl -MIO::Socket::UNIX -e '
      alarm 60;
      my $s = IO::Socket::UNIX->new(Peer => $ENV{SSH_AUTH_SOCK}) or die "connect: $!";
      open(my $f, ">", "$ARGV[0].open"); close $f;
      1 while sysread($s, my $b, 1);
      open($f, ">", "$ARGV[0].eof"); close $f;' ]] .. flag .. " > /dev/null 2>&1 < /dev/null &")
  T.wait_for(function() return T.read(flag .. ".open") end, 60)
  s:close()
end
T.ok("a session closed while an agent channel is open: the script goes on", T.read(flag .. ".open") ~= nil)
T.ok("... and the remote agent client sees its connection end",
  T.wait_for(function() return T.read(flag .. ".eof") end, 60))
EOF
lua_checks fwd.sshs

# --- ForwardAgent in ssh_config --------------------------------------------------------------------
script cfg.sshs <<'EOF'
local T = require "t"
with connect("fa-yes") do T.has("ForwardAgent yes: remote ssh-add -l lists the key", $(ssh-add -l), os.getenv("FP")) end
with connect("fa-no") do T.eq("ForwardAgent no: no agent there", $(echo "[$SSH_AUTH_SOCK]"), "[]") end
EOF
HOME=$SSHS_TEST_HOME timeout 120 "$SSHS" -F "$TMP/fa_config" "$TMP/cfg.sshs" > "$TMP/out" 2> "$TMP/err" < /dev/null; rc=$?
cat "$TMP/out"
[ "$rc" = 0 ] || not_ok "cfg.sshs runs to the end (exit $rc)" "$(cat "$TMP/err")"

# --- no agent, an unreachable one, SSHS_TRACE ------------------------------------------------------
script noagent.sshs <<'EOF'
with connect("127.0.0.1", {forward_agent = true}) do print($(echo ran)) end
EOF
SSH_AUTH_SOCK= run_remote noagent.sshs
case "$rc:$err" in 1:*"forward_agent: SSH_AUTH_SOCK is not set, so there is no local agent to forward"*) ok "forward_agent = true without SSH_AUTH_SOCK: an error naming it";;
  *) not_ok "forward_agent = true without SSH_AUTH_SOCK: an error naming it" "$(show)";; esac
HOME=$SSHS_TEST_HOME SSH_AUTH_SOCK= timeout 60 "$SSHS" -F "$TMP/fa_config" -e 'with connect("fa-yes") do print($(echo ran)) end' \
  > "$TMP/out" 2> "$TMP/err" < /dev/null; rc=$?; out=$(cat "$TMP/out"); err=$(cat "$TMP/err")
case "$rc:$out:$err" in "0:ran:"*"ForwardAgent yes ($TMP/fa_config:3): SSH_AUTH_SOCK is not set"*"connecting without it"*) ok "ForwardAgent yes without SSH_AUTH_SOCK: a warning naming it, the command runs";;
  *) not_ok "ForwardAgent yes without SSH_AUTH_SOCK: a warning naming it, the command runs" "$(show)";; esac

script gone.sshs <<'EOF'
with connect("127.0.0.1", {forward_agent = true}) do
  local r = run("ssh-add -l", {check = false})
  print(r.exitcode)
  r = run("ssh-add -l", {check = false})
  print(r.exitcode)
end
EOF
SSH_AUTH_SOCK=$TMP/no-agent-here.sock run_remote gone.sshs
warns=$(grep -c "cannot reach the local agent at $TMP/no-agent-here.sock (SSH_AUTH_SOCK)" "$TMP/err")
# ssh-add -l fails (1, or SIGPIPE: 141, as its agent connection is closed unanswered)
if [ "$rc" = 0 ] && [[ "$out" =~ ^[1-9][0-9]*$'\n'[1-9][0-9]*$ ]] && [ "$warns" = 1 ]; then ok "an unreachable local agent: one warning naming the socket, the remote clients find no agent, exit 0"
else not_ok "an unreachable local agent: one warning naming the socket, the remote clients find no agent, exit 0" "warnings: $warns" "$(show)"; fi

script trace.sshs <<'EOF'
with connect("127.0.0.1", {forward_agent = true}) do print($(ssh-add -l >/dev/null && echo listed)) end
EOF
SSHS_TRACE=1 run_remote trace.sshs
if [ "$rc" = 0 ] && [ "$out" = listed ] && grep -q "exec#[0-9]*: open -> agent" <<< "$err" && grep -q "agent#[0-9]*: pump -> close" <<< "$err" \
   && grep -q "agentfwd#[0-9]*: accept -> done" <<< "$err"; then ok "SSHS_TRACE shows the agent request, the agent channel's bridge and the agentfwd op"
else not_ok "SSHS_TRACE shows the agent request, the agent channel's bridge and the agentfwd op" "$(show)"; fi

# --- a server that refuses ----------------------------------------------------------------------
start_sshd "$TMP/nosshd" $'AllowAgentForwarding no' || exit 1
export X_PORT X_KNOWN_HOSTS
script refused.sshs <<'EOF'
local port, kh = tonumber(os.getenv("X_PORT")), os.getenv("X_KNOWN_HOSTS")
with connect("127.0.0.1", {forward_agent = true, port = port, known_hosts = kh}) do
  print(run("ssh-add -l", {check = false}).exitcode)
  print(run("ssh-add -l", {check = false}).exitcode)
end
EOF
RHOME=$X_HOME run_remote refused.sshs
warns=$(grep -c "@127.0.0.1[:0-9]* refused agent forwarding" "$TMP/err")
if [ "$rc" = 0 ] && [ "$warns" = 1 ]; then ok "AllowAgentForwarding no: one warning naming the host, the commands run"
else not_ok "AllowAgentForwarding no: one warning naming the host, the commands run" "warnings: $warns" "$(show)"; fi
expect_out $'2\n2' "... and they find no agent there"
