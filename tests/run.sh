#!/usr/bin/env bash
# The test runner: every unit binary, golden file and case script prints TAP lines
# "ok - name" / "not ok - name" ("ok - name # SKIP why" for a check that could not run) and a
# plan "1..N" (first or last line) saying how many checks it runs. This counts them and ends
# with "N passed, N failed, N skipped". A file fails (one more failure) when it has no plan,
# when it ran a different number of checks than planned (it stopped early), or when it exits
# non-zero (or times out) without saying why. "1..0 # SKIP why" skips a whole file, counted
# as one skip.
#
# Files run in parallel, SSHS_TEST_JOBS at once (default: 2 x cores + 2; most files wait on
# timeouts, sleeps and the network more than they compute: on 2 cores, 4 at once left the
# cores idle for much of a run whose files' times add up to over 1,000 s). Each file's report is printed
# whole when it ends, with its wall time and the CPU time its processes used; the slowest
# files are listed again at the end. Files start longest first, by the durations of the last
# run (kept in $UNITDIR/../test-times), else by tests/durations (one run's times, so a
# fresh clone starts them first too); a file timed by neither starts first. Tests assert behaviour, never
# speed: a file must pass however busy the machine is, so a file that fails is a failure
# even if it would pass on a second try (a flaky file is a bug to fix). It is run once more
# (after the others; SSHS_TEST_RETRY=0: never) only to say whether the fault repeats.
set -u
cd "$(dirname "$0")/.."
export SSHS=${SSHS:-build/sshs} UNITDIR=${UNITDIR:-build/unit}
export SSHS=$(realpath "$SSHS") UNITDIR=$(realpath "$UNITDIR")
export TESTROOT=$PWD/tests
filter=${1:-}
jobs=${SSHS_TEST_JOBS:-$(( 2 * $(nproc 2>/dev/null || echo 2) + 2 ))}
times_file=${SSHS_TEST_TIMES:-$(dirname "$UNITDIR")/test-times}
passed=0 failed=0 skipped=0
failures=()
log=$(mktemp -d /tmp/sshs-test.XXXXXX)
trap 'bash scripts/test-sshd.sh stop "$log/sshd" >/dev/null 2>&1; rm -rf "$log"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
start=$EPOCHREALTIME

# One private sshd for the whole run (tests may start more of their own). Files share it at
# once, so it takes many handshakes in parallel: with the stock MaxStartups (10:30:100) one
# file's fan-out would make sshd drop another file's connections (fleet_scale.sh starts an
# sshd of its own to test fan-out against the stock limit).
if [ -x scripts/test-sshd.sh ] && [ -z "${SSHS_NO_SSHD:-}" ]; then
  if SSHD_EXTRA="MaxStartups 1000" bash scripts/test-sshd.sh start "$log/sshd" > "$log/sshd.env" 2> "$log/sshd.err"; then
    set -a; . "$log/sshd.env"; set +a
  else
    echo "not ok - test sshd failed to start:"; sed 's/^/#   /' "$log/sshd.err"
    failed=$((failed+1)); failures+=("test-sshd")
  fi
fi

# run_file OUT LABEL COMMAND...: runs one test file with its output in OUT, parses its TAP and
# prints the report; the last line is "R p f s rc" (passed, failed, skipped, exit status).
run_file() {
  local out=$1 label=$2 rc; shift 2
  timeout -k 5 "${SSHS_TEST_TIMEOUT:-600}" "$@" > "$out" 2>&1 < /dev/null; rc=$?
  # The CPU time of the file's processes (those it waited for): "times" (a builtin, so no
  # fork resets the counts) prints the shell's own line, then its children's "user system".
  local cpu
  times > "$out.cpu"
  cpu=$(awk 'NR == 2 { n = 0; for (i = 1; i <= 2; i++) { split($i, a, "m"); n += a[1] * 60 + a[2] } printf "%.1f", n }' "$out.cpu")
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
  [ "$rc" = 124 ] || [ "$rc" = 137 ] && echo "# $label: killed after ${SSHS_TEST_TIMEOUT:-600} s (hung?)"
  grep '^not ok ' "$out" | while read -r l; do echo "$label: $l"; done
  grep -iE '^ok .*# *skip' "$out" | while read -r l; do echo "$label: $l"; done
  if [ "$f" -gt 0 ] || [ -n "${VERBOSE:-}" ]; then sed 's/^/    /' "$out" | tail -n 60; fi
  echo "R $p $f $s $rc $cpu"
}

# The files to run (unit binaries, then case files), filtered: a label, the program that runs
# it (none for a binary) and the file.
labels=() runners=() files=()
for t in "$UNITDIR"/*_test; do
  [ -x "$t" ] || continue
  case "$t" in *"$filter"*) ;; *) continue;; esac
  labels+=("unit/$(basename "$t")"); runners+=(""); files+=("$t")
done
for t in tests/cases/*.sh tests/cases/*.sshs tests/cases/*.lua; do
  [ -f "$t" ] || continue
  case "$t" in *"$filter"*) ;; *) continue;; esac
  labels+=("${t#tests/}"); files+=("$t")
  case "$t" in *.sh) runners+=(bash) ;; *) runners+=("$SSHS") ;; esac
done
# cmd_of I: the command line of file I, as words in the array cmd.
cmd_of() { cmd=(${runners[$1]:+"${runners[$1]}"} "${files[$1]}"); }

# Order: longest first by the last run's durations ("seconds label" lines); untimed first.
declare -A took_before=() took_seed=()
for f in tests/durations "$times_file"; do
  [ -f "$f" ] || continue
  while read -r secs label; do
    case "$secs" in [0-9]*) ;; *) continue;; esac
    took_before[$label]=$secs
    if [ "$f" = tests/durations ]; then took_seed[$label]=1; else unset "took_seed[$label]"; fi
  done < "$f"
done
order=$(for i in "${!labels[@]}"; do echo "${took_before[${labels[$i]}]:-99999} $i"; done |
  sort -k1,1nr -k2,2n | cut -d' ' -f2)

# Runs file $1 (an index) in the background; its report goes to $log/$1.report.
declare -A started=()
launch() {
  local i=$1
  started[$i]=$EPOCHREALTIME
  cmd_of "$i"
  run_file "$log/$i.out" "${labels[$i]}" "${cmd[@]}" > "$log/$i.report" 2>&1 &
  pids[$i]=$!
}
# Prints the report of file $1 once it has ended and adds up its counts.
declare -A took_now=() pids=()
cpu_of=()
collect() {
  local i=$1 label=${labels[$1]} r p f s rc secs cpu
  wait "${pids[$i]}" 2>/dev/null
  unset "pids[$i]"
  secs=$(awk -v a="${started[$i]}" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
  took_now[$label]=$secs
  r=$(tail -n 1 "$log/$i.report")
  read -r _ p f s rc cpu <<< "$r"
  if [ -z "${rc:-}" ]; then p=0 f=1 s=0 rc=? cpu=0; echo "not ok - $label: the runner lost its report"; fi
  cpu_of[$i]=${cpu:-0}
  sed '$d' "$log/$i.report"
  [ "$f" -gt 0 ] && failures+=("$label (exit $rc)") && retry+=("$i")
  passed=$((passed+p)); failed=$((failed+f)); skipped=$((skipped+s))
  printf '%-40s %4d passed %4d failed %4d skipped %6ss (CPU %ss)\n' "$label" "$p" "$f" "$s" "$secs" "${cpu:-0}"
}
retry=()
running=0
for i in $order; do
  while [ "$running" -ge "$jobs" ]; do
    wait -n 2>/dev/null
    for j in "${!pids[@]}"; do kill -0 "${pids[$j]}" 2>/dev/null || { collect "$j"; running=$((running-1)); }; done
  done
  launch "$i"; running=$((running+1))
done
while [ "${#pids[@]}" -gt 0 ]; do
  wait -n 2>/dev/null
  for j in "${!pids[@]}"; do kill -0 "${pids[$j]}" 2>/dev/null || collect "$j"; done
done

# The slowest files of this run: wall time (what a parallel run waits for) and CPU time (what
# it costs a busy machine).
if [ "${#took_now[@]}" -gt 1 ]; then
  echo
  echo "# slowest files (wall s, CPU s):"
  for i in "${!cpu_of[@]}"; do echo "${took_now[${labels[$i]}]} ${cpu_of[$i]} ${labels[$i]}"; done |
    sort -k1,1nr | head -n 8 | while read -r w c l; do printf '#   %6s %6s  %s\n' "$w" "$c" "$l"; done
fi

# Durations for the next run's order (merged: a filtered run keeps the other files' times;
# tests/durations' figures are not copied, so an edit there takes effect).
if [ "${#took_now[@]}" -gt 0 ] && [ -d "$(dirname "$times_file")" ]; then
  for l in "${!took_before[@]}"; do
    [ -n "${took_now[$l]:-}" ] || [ -n "${took_seed[$l]:-}" ] || took_now[$l]=${took_before[$l]}
  done
  for l in "${!took_now[@]}"; do echo "${took_now[$l]} $l"; done | sort -k1,1nr > "$times_file.$$" &&
    mv "$times_file.$$" "$times_file"
fi

# A second run of each failed file (in parallel too), as a diagnosis only: it is counted as
# failed anyway.
if [ "${#retry[@]}" -gt 0 ] && [ "${SSHS_TEST_RETRY:-1}" != 0 ]; then
  echo
  running=0
  for i in "${retry[@]}"; do
    [ "$running" -ge "$jobs" ] && { wait -n; running=$((running-1)); }
    cmd_of "$i"
    run_file "$log/$i.again" "${labels[$i]}" "${cmd[@]}" > "$log/$i.again.report" 2>&1 &
    running=$((running+1))
  done
  wait
  for i in "${retry[@]}"; do
    r=$(tail -n 1 "$log/$i.again.report")
    f=1; read -r _ p f s rc _ <<< "$r"
    if [ "$f" -eq 0 ]; then
      echo "# ${labels[$i]} passed on a second run: an intermittent failure (flaky), still a failure"
    else
      echo "# ${labels[$i]} failed again on a second run ($f failed)"
    fi
  done
fi
echo
[ ${#failures[@]} -gt 0 ] && printf 'failed: %s\n' "${failures[@]}"
echo "# ${#labels[@]} files, $jobs at once, in $(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }') s"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
