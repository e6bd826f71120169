#!/usr/bin/env bash
# ProxyCommand (ssh_config and -o): a local process carries the SSH stream. Through a small
# TCP relay and through `ssh -W %h:%p` via a jump host; the traffic is shown to go through the
# command (the target's HostName does not resolve; the client end of the TCP connection the
# server sees is owned by the command, not by sshs). Tokens, none, first-of ProxyJump and
# ProxyCommand, a command that exits early, the command stopped when the connection ends,
# and keywords sshs refuses (file:line).
source "$TESTROOT/remote_lib.sh"
plan 32

# relay.py LOG HOST PORT [WORDS…]: logs "pid WORDS…" to LOG, then carries stdin/stdout to HOST:PORT.
cat > "$TMP/relay.py" <<'EOF'
import os, socket, sys, select
log, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(log, "a") as f: f.write("%d %s\n" % (os.getpid(), " ".join(sys.argv[4:])))
s = socket.create_connection((host, port))
fds = [0, s.fileno()]
while fds:
    r, _, _ = select.select(fds, [], [])
    for fd in r:
        data = os.read(fd, 65536)
        if not data:
            if fd == 0: s.shutdown(socket.SHUT_WR)
            else: sys.exit(0)
            fds.remove(fd)
        elif fd == 0: s.sendall(data)
        else: os.write(1, data)
EOF
export LOG=$TMP/relay.log
export PC_SLEEP=7777$$                  # a sleep of this run's own (another run may be going on)
SSHCFG=$TMP/ssh_client_config        # for the OpenSSH client run as ProxyCommand
printf 'Host *\n  BatchMode yes\n%s\n' "$(test_server_defaults)" > "$SSHCFG"

mkdir -p "$TMP/home/.ssh"
cat > "$TMP/home/.ssh/config" <<EOF
Host viarelay
  HostName nowhere.invalid
  ProxyCommand python3 $TMP/relay.py $LOG 127.0.0.5 %p %h %p %r %n 100%%
  HostKeyAlias 127.0.0.5
Host viassh
  HostName 127.0.0.8
  ProxyCommand ssh -F $SSHCFG -W %h:%p 127.0.0.2
Host early
  ProxyCommand sh -c 'echo relay-says-no >&2; exit 3'
Host missing
  ProxyCommand /nonexistent/proxy-%h
Host badtoken
  ProxyCommand nc %z %p
Host pjfirst
  HostName 127.0.0.4
  ProxyJump 127.0.0.2
  ProxyCommand false
Host pcnone
  ProxyCommand none
Host pcnone viarelay2
  HostName 127.0.0.6
  ProxyCommand python3 $TMP/relay.py $LOG 127.0.0.6 %p two
Host hangs
  ProxyCommand sleep $PC_SLEEP
  ConnectTimeout 2
Host withforward
  LocalForward 8080 127.0.0.1:80
Host *
$(test_server_defaults)
EOF
export RHOME=$TMP/home
printf 'Host *\n  User nobody\nMatch exec "true"\n  User nobody\n' > "$TMP/matchexec_config"
export MATCHCFG=$TMP/matchexec_config

script pc.sshs <<'EOF'
local T = require "t"
local log = os.getenv("LOG")
local function relay_pids()
  local pids = {}
  for line in (T.read(log) or ""):gmatch("[^\n]+") do pids[#pids + 1] = line end
  return pids
end
local function alive(pid) return T.sh("kill -0 " .. pid .. " 2>/dev/null && echo yes") == "yes\n" end

-- A relay: the host name does not resolve, so only the command can have reached the server.
local before = #relay_pids()
with connect("viarelay") as s do
  local sc = $(echo "$SSH_CONNECTION")
  T.eq("through the relay: the server is the one the relay dialled", sc:match("^%S+ %S+ (%S+)"), "127.0.0.5")
  local entries = relay_pids()
  T.eq("the relay ran once", #entries, before + 1)
  local pid, words = entries[#entries]:match("^(%d+) (.*)$")
  T.eq("tokens %h %p %r %n %% expanded", words, "nowhere.invalid " .. T.port .. " " .. T.user .. " viarelay 100%")
  T.eq("the client end of the server's TCP connection is the relay's", T.owner(sc:match("^%S+ (%d+) (%S+) (%d+)")), pid)
  T.eq("commands and files work through it", $(printf 'a%.0s' $(seq 1 3000) | wc -c), "3000")
  _G.relay_pid = pid
end
T.ok("the relay is stopped when the connection ends", T.wait_for(function() return not alive(relay_pid) end, 60))

-- ssh -W through a jump host: the target's connection comes from the jump sshd.
with connect("viassh") do
  local sc = $(echo "$SSH_CONNECTION")
  T.eq("ssh -W %h:%p: reached the target 127.0.0.8", sc:match("^%S+ %S+ (%S+)"), "127.0.0.8")
  local owner = T.owner(sc:match("^%S+ (%d+) (%S+) (%d+)"))
  local served = owner and T.served(owner)
  T.eq("... over a connection the jump host's sshd opened", served, "127.0.0.2")
end

local m = T.fails(connect, "early")
T.has("a command that exits early: the error names it", m, "ProxyCommand 'sh -c 'echo relay-says-no >&2; exit 3''")
T.ok("... and says it ended", m and (m:find("exited with status 3", 1, true) or m:find("closed the connection", 1, true)), m)
T.has("... and the host", m, "early")
m = T.fails(connect, "hangs")
T.has("a command that never answers: the connect timeout ends it", m, "timed out after 2s")
T.ok("... and the command is stopped", T.wait_for(function() return T.sh("pgrep -f 'slee[p] " .. os.getenv("PC_SLEEP") .. "$'") == "" end, 60))
m = T.fails(connect, "missing")
T.has("a command that is not there: the error names it", m, "/nonexistent/proxy-missing")
m = T.fails(connect, "badtoken")
T.like("an unknown token: the error names it and the file:line", m, "config:13: unknown token %%z")
with connect("pjfirst") do
  T.eq("ProxyJump before ProxyCommand: the jump wins (the first)", $(echo "$SSH_CONNECTION"):match("^%S+ %S+ (%S+)"), "127.0.0.4")
end
with connect("pcnone") do
  T.eq("ProxyCommand none: a direct connection", T.owner($(echo "$SSH_CONNECTION"):match("^%S+ (%d+) (%S+) (%d+)")), T.pid)
end
m = T.fails(connect, "withforward")
T.has("LocalForward is refused, naming the file:line", m, "config:27: LocalForward 8080 is not supported by sshs")
m = T.fails(connect, "anyhost", {ssh_config = os.getenv("MATCHCFG")})
T.has("Match exec is refused, naming the file:line", m, "matchexec_config:3: Match exec is not supported")
-- An explicit via wins over the config's ProxyCommand; a ProxyCommand inside a session is an error.
with connect("viassh", {via = "127.0.0.3"}) do
  local owner = T.owner($(echo "$SSH_CONNECTION"):match("^%S+ (%d+) (%S+) (%d+)"))
  T.eq("opts.via wins over the config's ProxyCommand", owner and T.served(owner), "127.0.0.3")
end
with connect("127.0.0.2") do
  m = T.fails(connect, "viarelay")
  T.has("a ProxyCommand inside a remote session is an error saying why", m, "has a ProxyCommand, which runs locally")
end
EOF
lua_checks pc.sshs

# Without a pidfd (old kernels, valgrind; SSHS_NO_PIDFD=1 makes it so) the command is watched
# by asking waitpid on a loop timer: never killed for want of a pidfd (no connection could
# start then), seen when it exits early, reaped when the connection ends.
script nopidfd.sshs <<'EOF'
local T = require "t"
local log = os.getenv("LOG")
local function alive(pid) return T.sh("kill -0 " .. pid .. " 2>/dev/null && echo yes") == "yes\n" end
local ok, m = pcall(function()
  with connect("viarelay2") do
    T.eq("no pidfd: a connection through a ProxyCommand works", $(echo through), "through")
  end
end)
if not ok then T.ok("no pidfd: a connection through a ProxyCommand works", false, m) end
local pid = (T.read(log) or ""):match("(%d+) two\n$")
T.ok("no pidfd: the command is stopped and reaped when the connection ends",
     pid and T.wait_for(function() return not alive(pid) end, 60), pid)
m = T.fails(connect, "early")
T.ok("no pidfd: a command that exits early: the error says so",
     m and (m:find("exited with status 3", 1, true) or m:find("closed the connection", 1, true)), m)
m = T.fails(connect, "hangs")
T.has("no pidfd: a command that never answers: the connect timeout ends it", m, "timed out after 2s")
EOF
SSHS_NO_PIDFD=1 lua_checks nopidfd.sshs

# -o ProxyCommand on the command line, and -o ProxyCommand=none over the file's.
script o.sshs <<'EOF'
with connect(arg[1]) do print($(echo "$SSH_CONNECTION")) end
EOF
: > "$LOG"
HOME=$RHOME timeout 60 "$SSHS" -o "ProxyCommand=python3 $TMP/relay.py $LOG 127.0.0.7 %p %p from-o" -o HostKeyAlias=127.0.0.7 "$TMP/o.sshs" elsewhere.invalid > "$TMP/out" 2> "$TMP/err" < /dev/null
rc=$?; out=$(cat "$TMP/out"); err=$(cat "$TMP/err")
expect_rc 0 "-o ProxyCommand=…: connects"
case "$out" in *" 127.0.0.7 "*) ok "-o ProxyCommand: through the command";; *) not_ok "-o ProxyCommand: through the command" "$(show)";; esac
grep -q " $P from-o" "$LOG" && ok "-o ProxyCommand: tokens expanded" || not_ok "-o ProxyCommand: tokens expanded" "$(cat "$LOG")"
HOME=$RHOME timeout 60 "$SSHS" "$TMP/o.sshs" viarelay2 > "$TMP/out" 2> "$TMP/err" < /dev/null
rc=$?; out=$(cat "$TMP/out"); err=$(cat "$TMP/err")
expect_rc 0 "viarelay2 through its relay"
grep -q " two$" "$LOG" && ok "... the relay ran" || not_ok "... the relay ran" "$(cat "$LOG")"
: > "$LOG"
HOME=$RHOME timeout 60 "$SSHS" -o "ProxyCommand=none" "$TMP/o.sshs" viarelay2 > "$TMP/out" 2> "$TMP/err" < /dev/null
rc=$?; out=$(cat "$TMP/out"); err=$(cat "$TMP/err")
expect_rc 0 "-o ProxyCommand=none: connects"
[ ! -s "$LOG" ] && ok "-o ProxyCommand=none wins over the file's: no relay ran" || not_ok "-o ProxyCommand=none wins over the file's: no relay ran" "$(cat "$LOG")"
