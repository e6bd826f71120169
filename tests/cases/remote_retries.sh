#!/usr/bin/env bash
# Retries for flaky hosts: a connection refused or reset is tried again when connect{retries=N},
# each{retries=N} or ConnectionAttempts ask for it (a growing, jittered pause between tries),
# and the outcome says how many connects it took; without them one refusal fails at once.
# The flaky server is a front that resets its first connections, then relays to the test sshd.
source "$TESTROOT/remote_lib.sh"
plan 17

# front.py LOG RESETS TARGET_PORT: prints its port; resets the first RESETS connections (RST),
# relays later ones to 127.0.0.1:TARGET_PORT; appends "reset" or "relay" to LOG per connection.
cat > "$TMP/front.py" <<'EOF'
import os, socket, struct, sys, threading
log, resets, target = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(64)
print(ls.getsockname()[1], flush=True)
def pump(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d: break
            b.sendall(d)
    except OSError: pass
    try: b.shutdown(socket.SHUT_WR)
    except OSError: pass
n = 0
while True:
    c, _ = ls.accept()
    n += 1
    with open(log, "a") as f: f.write(("reset" if n <= resets else "relay") + "\n")
    if n <= resets:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
        continue
    s = socket.create_connection(("127.0.0.1", target))
    threading.Thread(target=pump, args=(c, s), daemon=True).start()
    threading.Thread(target=pump, args=(s, c), daemon=True).start()
EOF
start_front() { # $1 name $2 resets: sets FRONT_PORT, logs to $TMP/$1.log
  python3 "$TMP/front.py" "$TMP/$1.log" "$2" "$P" > "$TMP/$1.port" &
  CLEANUP+=("kill $!")
  local i
  for i in $(seq 1 100); do [ -s "$TMP/$1.port" ] && break; sleep 0.1; done
  FRONT_PORT=$(cat "$TMP/$1.port")
}
start_front a 2; export FRONT_A=$FRONT_PORT
start_front b 2; export FRONT_B=$FRONT_PORT
start_front c 3; export FRONT_C=$FRONT_PORT
start_front d 2; export FRONT_D=$FRONT_PORT
start_front e 1; export FRONT_E=$FRONT_PORT
CLOSED=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
export CLOSED TMP

mkdir -p "$TMP/home/.ssh"
cat > "$TMP/home/.ssh/config" <<EOF
Host flaky
  HostName 127.0.0.1
  Port $FRONT_B
  ConnectionAttempts 3
  StrictHostKeyChecking no
Host deadcfg
  HostName 127.0.0.1
  Port $CLOSED
  ConnectionAttempts 2
Host *
$(test_server_defaults)
EOF
export RHOME=$TMP/home

script r.sshs <<'EOF'
local T = require "t"
local tmp = os.getenv("TMP")
local function lines(name) return T.read(tmp .. "/" .. name .. ".log") or "" end
local nohk = {host_key_check = "no"}

-- connect{retries}: two resets, then the relay.
with connect("127.0.0.1", {port = tonumber(os.getenv("FRONT_A")), retries = 3, host_key_check = "no"}) as s do
  T.eq("retries = 3: connected after two resets", $(echo ok), "ok")
  T.eq("... the session says it took 3 connects", s.attempts, 3)
end
T.eq("... the server saw reset, reset, relay", lines("a"), "reset\nreset\nrelay\n")

-- ConnectionAttempts from the config.
with connect("flaky") as s do
  T.eq("ConnectionAttempts 3: connected after two resets", s.attempts, 3)
end

-- Too few tries: the error says why and how many.
local m = T.fails(connect, "127.0.0.1", {port = tonumber(os.getenv("FRONT_C")), retries = 1, host_key_check = "no"})
T.has("retries = 1 against three resets: fails with the reset", m, "Connection reset by peer")
T.has("... and says how many connects were made", m, "(2 attempts)")
m = T.fails(connect, "127.0.0.1", {port = tonumber(os.getenv("CLOSED")), retries = 2})
T.has("a refused connection is retried too", m, "Connection refused (3 attempts)")
m = T.fails(connect, "deadcfg")
T.has("ConnectionAttempts 2 against a refusing port", m, "Connection refused (2 attempts)")
m = T.fails(connect, "127.0.0.1", {port = tonumber(os.getenv("CLOSED"))})
T.ok("no retries: one refusal fails at once", m and m:find("Connection refused", 1, true) and not m:find("attempts", 1, true), m)

-- each{retries}: the outcome reports the connects.
local hosts = {"127.0.0.1:" .. os.getenv("FRONT_D"), "127.0.0.1:" .. os.getenv("CLOSED")}
local out = each(hosts, function() return $(echo fine) end, {retries = 2, host_key_check = "no"})
local good, dead = out[hosts[1]], out[hosts[2]]
T.eq("each{retries = 2}: the flaky host succeeds", good.value, "fine")
T.eq("... its outcome says 3 connects", good.attempts, 3)
T.eq("... the dead host is unreachable", dead.unreachable, true)
T.eq("... after 3 connects", dead.attempts, 3)
T.has("... its error says so", dead.error, "Connection refused (3 attempts)")
out = each({hosts[2]}, function() end)
T.eq("each without retries: a refused host is tried once", out[hosts[2]].attempts, nil)
EOF
lua_checks r.sshs
out=$(HOME=$RHOME "$SSHS" -G flaky | sed -n 's/^connectionattempts //p')
[ "$out" = 3 ] && ok "-G shows connectionattempts" || not_ok "-G shows connectionattempts" "$out"

# A reset that reaches sshs before it has sent its banner (a loaded machine: the front resets
# at accept, sshs gets to run only later) fails the send, not a read: it is a reset all the
# same, and retried. A preloaded send() holds the first banner back until the reset is in.
cat > "$TMP/late_banner.c" <<'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    static ssize_t (*real)(int, const void *, size_t, int);
    static int held;
    if (!real) real = (ssize_t (*)(int, const void *, size_t, int))dlsym(RTLD_NEXT, "send");
    if (!held && len >= 8 && memcmp(buf, "SSH-2.0-", 8) == 0) { held = 1; usleep(500000); }
    return real(fd, buf, len, flags);
}
EOF
if cc -shared -fPIC -o "$TMP/late_banner.so" "$TMP/late_banner.c" -ldl 2> "$TMP/cc.err"; then
  script late.sshs <<'EOF'
local T = require "t"
local ok, s = pcall(connect, "127.0.0.1", {port = tonumber(os.getenv("FRONT_E")), retries = 2, host_key_check = "no"})
T.ok("a reset before sshs sent its banner is retried: connected at the 2nd connect",
     ok and s.attempts == 2 and T.read(os.getenv("TMP") .. "/e.log") == "reset\nrelay\n", T.msg(s))
if ok then s:close() end
EOF
  # (ASan must come first among the libraries; the preloaded send() only has to come before libc's.)
  LD_PRELOAD=$TMP/late_banner.so ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 lua_checks late.sshs
else
  not_ok "a reset before sshs sent its banner is retried" "cc: $(cat "$TMP/cc.err")"
fi
