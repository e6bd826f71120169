#!/usr/bin/env bash
# Ctrl-C during a fan-out (-H): the first SIGINT says which hosts are still running and the run
# goes on; a second within a second stops the remote commands, prints the partial outcomes and
# the summary, and exits 130.
source "$TESTROOT/lib.sh"
source "$TESTROOT/fleet_lib.bash"
need_sshd
plan 9

# A duration nobody else uses, so pgrep finds only this test's remote commands.
DUR="31.$$"
trap 'cleanup_remote; rm -rf "$TMP"' EXIT

HOME=$SSHS_TEST_HOME "$SSHS" -H '127.0.0.[1-5]' -e "\$ sleep $DUR" > "$TMP/out" 2> "$TMP/err" < /dev/null &
pid=$!

started=$(wait_sleeps 5)
checkv "Ctrl-C: the five remote commands are running before the first SIGINT" "found $started" [ "$started" -ge 5 ]

first_sigint "$pid"
check "first Ctrl-C: stderr says which hosts are still running" \
  grep -qE 'still running.*127\.0\.0\.\[1-5\]' "$TMP/err"
check "first Ctrl-C: the run goes on" [ "$rc" = running ]

if [ "$rc" = running ]; then
  second_sigint "$pid" "second Ctrl-C within a second: sshs exits"
  check "second Ctrl-C: exit status 130" [ "$rc" = 130 ]
  check "second Ctrl-C: the summary is printed" grep -qE '^sshs: 5 hosts in [0-9.]+s: 0 ok' "$TMP/err"
  check "second Ctrl-C: the summary names the 5 interrupted hosts" \
    grep -qE '^ +[a-z]+ +127\.0\.0\.\[1-5\] \(5\): .*interrupted' "$TMP/err"
  check "second Ctrl-C: the summary counts them as interrupted, not as failed" \
    grep -qE '^sshs: 5 hosts in [0-9.]+s: 0 ok, 0 failed, 0 unreachable, 5 interrupted' "$TMP/err"
  left=$(gone_sleeps)
  checkv "second Ctrl-C: no remote sleep left running" "found $left 'sleep $DUR' processes" [ "$left" = 0 ]
else
  fail "second Ctrl-C: not tried" "sshs already ended after the first SIGINT (rc=$rc)" "$(detail)"
fi
