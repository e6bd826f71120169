# Helpers for tests/cases/fault_*.sh (sourced after lib.sh and fleet_lib.bash).
#
#   start_listener MODE ADDR...   a misbehaving server (tests/fault/listener.c): "silent" never
#                                 completes a TCP connect (full accept queue: a firewalled host),
#                                 "mute" accepts and never speaks (a hung server). Sets LPORT;
#                                 stopped when the test file exits.
#   fault_home NAME LINES         a HOME whose ssh config has LINES first, then the test server's
#                                 defaults (known_hosts, key, port). Prints its path.
#   peak_mem FILE CMD...          runs CMD in a memory cgroup of its own (v1 or v2); writes its
#                                 peak memory in MB to FILE, stdout/stderr to $TMP/out, err.
#                                 Without cgroups: one "ok # SKIP" line and returns 1.
#   bounded SECS NAME CMD...      runs CMD (sshs) killed after SECS; sets rc, secs; a kill is a
#                                 "not ok - NAME: hung" (the fault suite fails, it never hangs).
FAULT_LISTENER=${FAULT_LISTENER:-$(dirname "$SSHS")/fault_listener}
LISTENER_PIDS=()
stop_listeners() { local p; for p in "${LISTENER_PIDS[@]}"; do kill "$p" 2>/dev/null; done; }

start_listener() {
  local mode=$1; shift
  if [ ! -x "$FAULT_LISTENER" ]; then
    echo "not ok - fault listener built ($FAULT_LISTENER missing: make all builds it)"; exit 0
  fi
  "$FAULT_LISTENER" "$mode" 900 "$@" > "$TMP/listener.$mode" 2> "$TMP/listener.err" &
  LISTENER_PIDS+=($!)
  local i
  for i in $(seq 1 50); do [ -s "$TMP/listener.$mode" ] && break; sleep 0.05; done
  LPORT=$(head -n1 "$TMP/listener.$mode")
  if [ -z "$LPORT" ]; then
    echo "not ok - $mode listener starts"; sed 's/^/#   /' "$TMP/listener.err"; exit 0
  fi
}

fault_home() {
  local h=$TMP/home.$1
  mkdir -p "$h/.ssh"
  { printf '%s\n' "$2"; cat "$SSHS_TEST_HOME/.ssh/config"; } > "$h/.ssh/config"
  chmod 600 "$h/.ssh/config"
  echo "$h"
}

bounded() {
  local limit=$1 name=$2; shift 2
  local t0=$EPOCHREALTIME
  timeout -k 3 "$limit" "$@" > "$TMP/out" 2> "$TMP/err" < /dev/null
  rc=$?
  secs=$(since "$t0")
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    fail "$name: hung (killed after ${limit}s)" "$(detail)"
    return 1
  fi
  return 0
}

peak_mem() {
  local file=$1; shift
  local cg="" peak="" name="sshs-fault-$$-$RANDOM"
  if [ -w /sys/fs/cgroup/memory ] && mkdir "/sys/fs/cgroup/memory/$name" 2>/dev/null; then
    cg=/sys/fs/cgroup/memory/$name peak=memory.max_usage_in_bytes
  elif [ -f /sys/fs/cgroup/cgroup.controllers ] && grep -qw memory /sys/fs/cgroup/cgroup.controllers &&
       mkdir "/sys/fs/cgroup/$name" 2>/dev/null && [ -f "/sys/fs/cgroup/$name/memory.peak" ]; then
    cg=/sys/fs/cgroup/$name peak=memory.peak
  else
    rmdir "/sys/fs/cgroup/$name" 2>/dev/null
    echo "ok - peak memory # SKIP no writable memory cgroup"
    return 1
  fi
  timeout -k 3 200 bash -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' _ "$cg" "$@" \
    > "$TMP/out" 2> "$TMP/err" < /dev/null
  rc=$?
  echo $(( $(cat "$cg/$peak") / 1048576 )) > "$file"
  rmdir "$cg" 2>/dev/null
  return 0
}
