# Helpers for tests/cases/fleet_*.sh (many hosts at once: each(), -H, node sets).
# Sourced after lib.sh. The runner's test sshd listens on every 127.0.0.X, so 127.0.0.[1-200]
# are 200 distinct "hosts"; 127.0.0.X:1 is a closed port (connection refused).

# Stops the file (one failure) when the runner's sshd is not there.
need_sshd() {
  if [ -z "${SSHS_TEST_PORT:-}" ] || [ -z "${SSHS_TEST_HOME:-}" ]; then
    echo "not ok - test sshd available"
    echo "#   SSHS_TEST_PORT/SSHS_TEST_HOME are not set: run through tests/run.sh"
    exit 0
  fi
}
NHOSTS=${SSHS_TEST_NHOSTS:-200}

# hs ARGS...: runs sshs against the test sshd (its HOME has the ssh config and known_hosts).
# stdout goes to $TMP/out and stderr to $TMP/err; sets rc, and $out/$err unless QUIET is set.
hs() {
  HOME=$SSHS_TEST_HOME timeout -k 5 "${HS_TIMEOUT:-60}" "$SSHS" "$@" > "$TMP/out" 2> "$TMP/err" < /dev/null
  rc=$?
  if [ -z "${QUIET:-}" ]; then out=$(cat "$TMP/out"); err=$(cat "$TMP/err"); else out=; err=; fi
}

# The last run, shortened for a failure report.
detail() {
  printf 'rc=%s\n' "$rc"
  echo "stdout ($(wc -l < "$TMP/out") lines), first lines:"
  head -n 10 "$TMP/out" | cut -c1-220
  echo "stderr ($(wc -l < "$TMP/err") lines), first lines:"
  head -n 14 "$TMP/err" | cut -c1-220
}

# fail NAME LINES...: a "not ok" with every line of every argument as a "#" comment.
fail() { echo "not ok - $1"; shift; printf '%s\n' "$@" | sed 's/^/#   /'; }

# check NAME CMD...: "ok" when CMD succeeds, else "not ok" with the last run's details.
check() {
  local name=$1; shift
  if "$@"; then ok "$name"; else fail "$name" "$(detail)"; fi
}

# checkv NAME NOTE CMD...: like check, with NOTE (a measured value) added to a failure report.
checkv() { local name=$1 note=$2; shift 2; if "$@"; then ok "$name"; else fail "$name" "$note" "$(detail)"; fi; }

skip() { echo "ok - $1 # SKIP $2"; }

# Wall-clock seconds since $1 (a value of $EPOCHREALTIME).
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }
# lt A B: true when the number A < B; ge A B: A >= B.
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
ge() { ! lt "$1" "$2"; }

# hostlines FROM TO SUFFIX: the sorted lines "127.0.0.N: SUFFIX" for N in FROM..TO.
hostlines() {
  local i
  for i in $(seq "$1" "$2"); do echo "127.0.0.$i: $3"; done | sort
}

# summary_line: the "sshs: N hosts in ...: ..." line of the last run's stderr.
summary_line() { grep -E '^sshs: [0-9]+ hosts? in ' "$TMP/err" | tail -n 1; }

# Two-step Ctrl-C tests: remote commands `sleep $DUR` (a duration nobody else uses, set by the
# test before these are called), found with pgrep and killed at exit.
remote_sleeps() { pgrep -f "^sleep $DUR\$"; }
cleanup_remote() { local p; for p in $(remote_sleeps); do kill "$p" 2>/dev/null; done; }
# wait_sleeps N: waits (at most 60 s, a hang guard) until N of them run; prints how many do.
wait_sleeps() {
  for _ in $(seq 1 600); do [ "$(remote_sleeps | wc -l)" -ge "$1" ] && break; sleep 0.1; done
  remote_sleeps | wc -l
}
# gone_sleeps: waits (at most 30 s: sshd ends them once their channels close) until none of
# them runs; prints how many still do.
gone_sleeps() {
  for _ in $(seq 1 300); do [ -z "$(remote_sleeps)" ] && break; sleep 0.1; done
  remote_sleeps | wc -l
}
# first_sigint PID: SIGINT; once sshs has said what is still running on stderr ($TMP/err; at
# most 60 s), 1.5 s more; rc is "running", or PID's exit status if it ended.
first_sigint() {
  kill -INT "$1"
  for _ in $(seq 1 600); do grep -q 'still running' "$TMP/err" && break; kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  sleep 1.5
  rc=running; kill -0 "$1" 2>/dev/null || { wait "$1"; rc=$?; }
}
# second_sigint PID NAME: two more SIGINTs 0.2 s apart; the check NAME passes when PID ends
# (a hang guard kills it after 60 s); rc is its exit status (or "killed").
second_sigint() {
  kill -INT "$1"; sleep 0.2; kill -INT "$1"
  local t0=$EPOCHREALTIME
  for _ in $(seq 1 600); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$1" 2>/dev/null; then
    fail "$2" "still running after $(since "$t0")s"
    kill -KILL "$1"; wait "$1"; rc=killed
  else
    wait "$1"; rc=$?
    ok "$2"
  fi
}
