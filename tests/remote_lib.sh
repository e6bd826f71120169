# Helpers shared by tests/cases/remote_*.sh (sourced after lib.sh; not a test file itself).
#
# The runner has started one private sshd and exported SSHS_TEST_* (see scripts/test-sshd.sh).
# Scripts run with HOME=$SSHS_TEST_HOME, whose ~/.ssh/config points every host at that server;
# the machine's own ~/.ssh is never read.
#
#   script NAME.sshs <<'EOF' ... EOF     write a script into $TMP (lib.sh)
#   lua_checks NAME.sshs [ARGS]          run it; its "ok - …" lines are the checks; a non-zero
#                                        exit (or a time-out) is one more "not ok"
#   run_remote NAME.sshs [ARGS]          run it; sets $out $err $rc $secs for expect_* checks
#   start_sshd DIR [EXTRA]               a private sshd of this file's own (stopped at exit)
#
# Scripts can `local T = require "t"` for check helpers (T.ok, T.eq, T.has, T.like, T.fails …).
source "$TESTROOT/lib.sh"

if [ -z "${SSHS_TEST_PORT:-}" ] || [ -z "${SSHS_TEST_HOME:-}" ]; then
  echo "not ok - remote tests need the test sshd started by tests/run.sh (SSHS_TEST_PORT unset)"
  exit 1
fi
export SSHS_TEST_DIR SSHS_TEST_PORT SSHS_TEST_HOME SSHS_TEST_KEY SSHS_TEST_WRONG_KEY \
  SSHS_TEST_KNOWN_HOSTS SSHS_TEST_USER SSHS_TEST_SSH_CONFIG SSHS_TEST_HOSTKEY_FP SSHS_TEST_NHOSTS
P=$SSHS_TEST_PORT
export SSHS_CASE_TMP=$TMP      # this file's temp folder, for the scripts' T.tmp
REPO=$(cd "$TESTROOT/.." && pwd)

# The body of a "Host *" block that points a client at the runner's test server.
test_server_defaults() {
  printf '  Port %s\n  User %s\n  IdentityFile %s\n  UserKnownHostsFile %s\n' \
    "$P" "$SSHS_TEST_USER" "$SSHS_TEST_KEY" "$SSHS_TEST_KNOWN_HOSTS"
}
unset SSH_AUTH_SOCK            # agent tests set their own

# The libssh2 this sshs links (from --version), and LIBSSH2_OLD=1 when it is older than 1.11
# (no rsa-sha2, GCM, EtM, strict kex or signal requests: checks expect the 1.10 behaviour).
LIBSSH2_VER=$("$SSHS" --version | sed -n 's/.*libssh2 \([0-9.]*\).*/\1/p')
case "$LIBSSH2_VER" in 1.10.*|1.[0-9].*|"") LIBSSH2_OLD=1;; *) LIBSSH2_OLD=0;; esac

# Every private sshd started by start_sshd, stopped on exit (before lib.sh removes $TMP).
OWN_SSHDS=()
CLEANUP=()
remote_cleanup() {
  local d c
  for c in "${CLEANUP[@]}"; do eval "$c" >/dev/null 2>&1; done
  for d in "${OWN_SSHDS[@]}"; do bash "$REPO/scripts/test-sshd.sh" stop "$d" >/dev/null 2>&1; done
  rm -rf "$TMP"
}
trap remote_cleanup EXIT

# start_sshd DIR [SSHD_EXTRA lines]: starts a private sshd in DIR and loads its variables with
# the prefix X_ (X_PORT, X_HOME, X_DIR, X_KEY, X_KNOWN_HOSTS …). Returns 1 (after a "not ok")
# if it does not start.
start_sshd() {
  local dir=$1 extra=${2:-}
  OWN_SSHDS+=("$dir")
  # Up to 3 tries: on a loaded machine sshd can miss test-sshd.sh's 1 s readiness probe.
  local try
  for try in 1 2 3; do
    SSHD_EXTRA=$extra bash "$REPO/scripts/test-sshd.sh" start "$dir" > "$dir.env" 2> "$dir.err" && break
    bash "$REPO/scripts/test-sshd.sh" stop "$dir" > /dev/null 2>&1
    if [ "$try" = 3 ]; then
      not_ok "private sshd starts (extra: ${extra//$'\n'/; })" "$(cat "$dir.err")"
      return 1
    fi
    rm -rf "$dir"; sleep 1
  done
  eval "$(sed 's/^SSHS_TEST_/X_/' "$dir.env")"
  return 0
}

# run_remote NAME [ARGS…]: runs $TMP/NAME under HOME=${RHOME:-$SSHS_TEST_HOME}, killed after
# ${LIMIT:-120} s; sets out, err, rc and secs (wall time, in seconds with decimals).
run_remote() {
  local name=$1; shift
  local t0 t1
  t0=$(date +%s.%N)
  HOME=${RHOME:-$SSHS_TEST_HOME} timeout -k 3 "${LIMIT:-120}" "$SSHS" "$TMP/$name" "$@" \
    > "$TMP/out" 2> "$TMP/err" < /dev/null
  rc=$?
  t1=$(date +%s.%N)
  secs=$(echo "$t1 - $t0" | bc)
  out=$(cat "$TMP/out"); err=$(cat "$TMP/err")
}

# lua_checks NAME [ARGS…]: the script prints its own checks; a bad exit is reported too.
lua_checks() {
  local name=$1
  run_remote "$@"
  # Non-TAP lines are shown as comments so a stray "ok" in command output cannot count.
  sed -e '/^ok - /b' -e '/^not ok - /b' -e '/^#/b' -e 's/^/# out: /' "$TMP/out"
  if [ "$rc" != "${WANT_RC:-0}" ]; then
    local why="exit $rc"
    [ "$rc" = 124 ] || [ "$rc" = 137 ] && why="killed after ${LIMIT:-120}s (hung?)"
    not_ok "$name runs to the end ($why)" "stderr:" "$(tail -n 15 "$TMP/err")"
  fi
}

# A private sshd's debug log (start_sshd DIR 'LogLevel DEBUG1'; then LOG=$X_DIR/sshd.log), read
# from a line on: log_lines is its length now, log_since N what came after line N, and settle N
# waits until sshd has written the connection's last lines (it does after the client has gone).
log_lines() { wc -l < "$LOG"; }
log_since() { tail -n +"$(($1 + 1))" "$LOG"; }
settle() { local i; for i in $(seq 50); do grep -q "Close session\|Disconnected from\|Connection closed" <(log_since "$1") && break; sleep 0.1; done; sleep 0.2; }

# two_keys_home DIR: a home whose ssh config (the private sshd's, X_HOME) offers X_WRONG_KEY,
# then the right key.
two_keys_home() {
  mkdir -p "$1/.ssh"
  sed "s|^\(  IdentityFile \).*|\1$X_WRONG_KEY\n\1$X_HOME/.ssh/id_ed25519|" "$X_HOME/.ssh/config" > "$1/.ssh/config"
}

# password_user NAME PASSWORD: a throw-away user of this run (removed at exit) who logs in with
# PASSWORD. Fails when it cannot be made (not root?).
password_user() {
  if ! id "$1" > /dev/null 2>&1 && useradd -M -d /tmp -s /bin/sh "$1" 2>/dev/null; then CLEANUP+=("userdel $1"); fi
  id "$1" > /dev/null 2>&1 && printf '%s:%s\n' "$1" "$2" | chpasswd 2>/dev/null
}

# agent_two_keys DIR: a private agent (SSH_AUTH_SOCK set; agent_stop, or the end of the file,
# stops it) holding X_WRONG_KEY, then the right key, and a home DIR whose ssh config names no key
# file. 0; 1 when ssh-add failed; 2 when ssh-agent did not start (AGENT_ERR says why).
agent_two_keys() {
  local started
  if ! started=$(ssh-agent -s -a "$TMP/agent.sock" 2>&1); then AGENT_ERR=$started; return 2; fi
  eval "$started" > /dev/null
  CLEANUP+=("kill $SSH_AGENT_PID")
  mkdir -p "$1/.ssh"
  grep -v IdentityFile "$X_HOME/.ssh/config" > "$1/.ssh/config"
  ssh-add -q "$X_WRONG_KEY" 2>/dev/null && ssh-add -q "$X_HOME/.ssh/id_ed25519" 2>/dev/null && return 0
  AGENT_ERR="ssh-add could not load the keys"
  return 1
}
agent_stop() { unset SSH_AUTH_SOCK; kill "$SSH_AGENT_PID" 2>/dev/null; }

# is_between X LO HI: LO <= X <= HI for decimal numbers (not an upper bound on wall time).
is_between() { [ "$(echo "$1 >= $2 && $1 <= $3" | bc)" = 1 ]; }

# A Lua module for the scripts: checks that print TAP lines, timing, local helpers.
cat > "$TMP/t.lua" <<'EOF'
local T = {}

local function show(v)
  if type(v) == "string" then
    if #v > 400 then v = v:sub(1, 400) .. "…(" .. #v .. " bytes)" end
    return string.format("%q", v)
  end
  return tostring(v)
end
T.show = show

local function emit(s) io.stdout:write(s, "\n"); io.stdout:flush() end

-- Prints "ok - name" when cond holds, else "not ok - name" and the details as comments.
function T.ok(name, cond, ...)
  if cond then emit("ok - " .. name)
  else
    emit("not ok - " .. name)
    for i = 1, select("#", ...) do
      for line in tostring((select(i, ...))):gmatch("[^\n]+") do emit("#   " .. line) end
    end
  end
  return cond
end
function T.eq(name, got, want) return T.ok(name, got == want, "got:  " .. show(got), "want: " .. show(want)) end
function T.has(name, s, sub)
  return T.ok(name, type(s) == "string" and s:find(sub, 1, true) ~= nil, "text: " .. show(s), "lacks: " .. show(sub))
end
function T.lacks(name, s, sub)
  return T.ok(name, type(s) == "string" and s:find(sub, 1, true) == nil, "text: " .. show(s), "has: " .. show(sub))
end
function T.like(name, s, pat)
  return T.ok(name, type(s) == "string" and s:find(pat) ~= nil, "text: " .. show(s), "pattern: " .. show(pat))
end
-- For values, not for wall-clock time: a test asserts behaviour, never speed
-- (docs/reference/tests.md).
function T.between(name, x, lo, hi)
  return T.ok(name, type(x) == "number" and x >= lo and x <= hi, "value: " .. show(x), "want in [" .. lo .. ", " .. hi .. "]")
end

-- The text of an error value (sshs errors are tables with .message).
function T.msg(e)
  if type(e) == "table" and e.message then return tostring(e.message) end
  return tostring(e)
end

-- Joins every thread of hs; returns how many gave want[i] (want is a list, or a function
-- of i), and one line per thread that did not: "i: what it gave or raised".
function T.join_all(hs, want)
  local good, bad = 0, {}
  for i, h in ipairs(hs) do
    local expected = type(want) == "function" and want(i) or want[i]
    local ok, v = pcall(h.join, h)
    if ok and v == expected then good = good + 1 else bad[#bad + 1] = i .. ": " .. T.show(T.msg(v)) end
  end
  return good, table.concat(bad, "\n")
end

-- Runs fn(...) and returns its error's text and the error itself, or nil when it did not raise.
function T.fails(fn, ...)
  local ok, e = pcall(fn, ...)
  if ok then return nil end
  return T.msg(e), e
end

-- T.check(name, fn): fn returns cond, details…; an error inside fn is a failure.
function T.check(name, fn)
  local r = table.pack(pcall(fn))
  if not r[1] then return T.ok(name, false, "raised: " .. T.msg(r[2])) end
  return T.ok(name, r[2], table.unpack(r, 3, r.n))
end

-- Monotonic-enough wall clock with 10 ms resolution.
function T.now()
  local f = io.open("/proc/uptime")
  local v = f:read("n")
  f:close()
  return v
end

T.port = tonumber(os.getenv("SSHS_TEST_PORT"))
T.user = os.getenv("SSHS_TEST_USER")
T.env = os.getenv

-- A local command, run blocking (only for quick test plumbing: ss, ps, kill, files).
function T.sh(cmd)
  local p = io.popen(cmd)
  local s = p:read("a")
  p:close()
  return s
end

function T.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

function T.write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

T.pid = io.open("/proc/self/stat"):read("l"):match("^%d+")

-- Established TCP connections this process has open to port (default: the test sshd).
function T.conns(port)
  port = port or T.port
  local n = 0
  for line in T.sh("ss -Htnp state established '( dport = :" .. port .. " )'"):gmatch("[^\n]+") do
    if line:find("pid=" .. T.pid .. ",", 1, true) then n = n + 1 end
  end
  return n
end

-- The pid of the process that owns the local TCP endpoint 127.0.0.1:lport, or nil. With the
-- other end (raddr, rport) given, only that connection counts: Linux hands the same local
-- port to connections to different addresses, such as another test file's.
function T.owner(lport, raddr, rport)
  local filter = "sport = :" .. lport
  if rport then filter = filter .. " and dport = :" .. rport end
  if raddr then filter = filter .. " and dst " .. raddr end
  local s = T.sh("ss -Htnp state established '( " .. filter .. " )'")
  return s:match("pid=(%d+),"), s
end

-- For an sshd process pid: the local address it serves ("127.0.0.X") and its peer port.
function T.served(pid, port)
  port = port or T.port
  for line in T.sh("ss -Htnp state established '( sport = :" .. port .. " )'"):gmatch("[^\n]+") do
    if line:find("pid=" .. pid .. ",", 1, true) then
      local addr, peer = line:match("(%d+%.%d+%.%d+%.%d+)%S*:" .. port .. "%s+%d+%.%d+%.%d+%.%d+%S*:(%d+)")
      if addr then return addr, peer end
    end
  end
end

-- Polls cond() every 50 ms (yielding to other threads) until it holds or `secs` pass.
function T.wait_for(cond, secs)
  local t0 = T.now()
  while T.now() - t0 < secs do
    if cond() then return true end
    sleep(0.05)
  end
  return cond()
end

-- T.barrier(n): proves that n parties (commands, local or remote on this machine, and Lua
-- threads) all run at the same moment, without timing anything. Returns a shell snippet and
-- a function for a Lua thread: each party arrives (a file in a fresh folder) and waits until
-- all n have; one that waits 60 s in vain gives up (the snippet exits 1, the function
-- returns false). Run one after another, the first party would wait in vain.
local barriers = 0
function T.barrier(n)
  barriers = barriers + 1
  local dir = T.tmp .. "/barrier." .. barriers
  assert(os.execute("mkdir " .. dir))
  local sh = string.format('touch %s/$$; i=0; while [ "$(ls %s | wc -l)" -lt %d ]; do ' ..
    'i=$((i+1)); [ $i -gt 1200 ] && exit 1; sleep 0.05; done', dir, dir, n)
  local function arrive()
    T.write(dir .. "/lua." .. tostring({}):match("%x+$"), "")
    for _ = 1, 1200 do
      if tonumber(T.sh("ls " .. dir .. " | wc -l")) >= n then return true end
      sleep(0.05)
    end
    return false
  end
  return sh, arrive
end
T.tmp = os.getenv("SSHS_CASE_TMP")

return T
EOF
