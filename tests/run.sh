#!/usr/bin/env bash
# The test runner: every unit binary, golden file and case script prints TAP lines
# "ok - name" / "not ok - name" ("ok - name # SKIP why" for a check that could not run) and a
# plan "1..N" (first or last line) saying how many checks it runs. This counts them and ends
# with "N passed, N failed, N skipped". A file fails (one more failure) when it has no plan,
# when it ran a different number of checks than planned (it stopped early), or when it exits
# non-zero (or times out) without saying why. "1..0 # SKIP why" skips a whole file, counted
# as one skip.
set -u
cd "$(dirname "$0")/.."
export SSHS=${SSHS:-build/sshs} UNITDIR=${UNITDIR:-build/unit}
export SSHS=$(realpath "$SSHS") UNITDIR=$(realpath "$UNITDIR")
export TESTROOT=$PWD/tests
filter=${1:-}
passed=0 failed=0 skipped=0
failures=()
log=$(mktemp -d /tmp/sshs-test.XXXXXX)
trap 'bash scripts/test-sshd.sh stop "$log/sshd" >/dev/null 2>&1; rm -rf "$log"' EXIT

# One private sshd for the whole run (tests may start more of their own).
if [ -x scripts/test-sshd.sh ] && [ -z "${SSHS_NO_SSHD:-}" ]; then
  if bash scripts/test-sshd.sh start "$log/sshd" > "$log/sshd.env" 2> "$log/sshd.err"; then
    set -a; . "$log/sshd.env"; set +a
  else
    echo "not ok - test sshd failed to start:"; sed 's/^/#   /' "$log/sshd.err"
    failed=$((failed+1)); failures+=("test-sshd")
  fi
fi

# Runs one test file and parses its TAP: sets R_P, R_F, R_S (passed, failed, skipped) and R_RC.
run_file() { # $1 label, rest: command
  local label=$1; shift
  local out=$log/out rc
  timeout -k 5 "${SSHS_TEST_TIMEOUT:-600}" "$@" > "$out" 2>&1; rc=$?
  local p f s plans plan why=
  s=$(grep -ciE '^ok .*# *skip' "$out")
  p=$(($(grep -c '^ok ' "$out") - s)); f=$(grep -c '^not ok ' "$out")
  plans=$(grep -cE '^1\.\.[0-9]+' "$out")
  plan=$(grep -m1 -oE '^1\.\.[0-9]+' "$out" | cut -c4-)
  if [ "$plans" -eq 0 ]; then why="no plan line (print 1..N, the number of checks, first or last)"
  elif [ "$plans" -gt 1 ]; then why="$plans plan lines"
  elif [ "$plan" -eq 0 ] && [ $((p + f + s)) -eq 0 ] && grep -qiE '^1\.\.0 *# *skip' "$out"; then
    s=1; echo "$label: $(grep -m1 -iE '^1\.\.0' "$out")"
  elif [ "$plan" -ne $((p + f + s)) ]; then why="planned $plan checks, ran $((p + f + s))"
  fi
  if [ -n "$why" ]; then echo "not ok - $label: $why"; f=$((f+1))
  elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then echo "not ok - $label exited $rc"; f=1
  fi
  grep '^not ok ' "$out" | while read -r l; do echo "$label: $l"; done
  grep -iE '^ok .*# *skip' "$out" | while read -r l; do echo "$label: $l"; done
  if [ "$f" -gt 0 ] || [ -n "${VERBOSE:-}" ]; then sed 's/^/    /' "$out" | tail -n 60; fi
  R_P=$p R_F=$f R_S=$s R_RC=$rc
}
# A file that fails is run once more (SSHS_TEST_RETRY=0: never). If it then passes it is
# counted as passed but listed as flaky, with its first failure printed above: an
# intermittent fault stays visible; a fault that repeats fails the run.
flaky=()
run_one() { # $1 label, rest: command
  local label=$1
  run_file "$@"
  if [ "$R_F" -gt 0 ] && [ "${SSHS_TEST_RETRY:-1}" != 0 ]; then
    echo "# $label failed: running it once more to tell an intermittent fault from a real one"
    run_file "$@"
    [ "$R_F" -eq 0 ] && flaky+=("$label")
  fi
  [ "$R_F" -gt 0 ] && failures+=("$label (exit $R_RC)")
  passed=$((passed+R_P)); failed=$((failed+R_F)); skipped=$((skipped+R_S))
  printf '%-40s %4d passed %4d failed %4d skipped\n' "$label" "$R_P" "$R_F" "$R_S"
}

for t in "$UNITDIR"/*_test; do
  [ -x "$t" ] || continue
  case "$t" in *"$filter"*) ;; *) continue;; esac
  run_one "unit/$(basename "$t")" "$t"
done
for t in tests/cases/*.sh tests/cases/*.sshs tests/cases/*.lua; do
  [ -f "$t" ] || continue
  case "$t" in *"$filter"*) ;; *) continue;; esac
  case "$t" in
    *.sh) run_one "${t#tests/}" bash "$t" ;;
    *)    run_one "${t#tests/}" "$SSHS" "$t" ;;
  esac
done
echo
[ ${#failures[@]} -gt 0 ] && printf 'failed: %s\n' "${failures[@]}"
[ ${#flaky[@]} -gt 0 ] && printf 'flaky (failed, then passed on its second run; its first failure is printed above): %s\n' "${flaky[@]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
