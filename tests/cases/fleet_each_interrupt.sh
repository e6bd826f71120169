#!/usr/bin/env bash
# Ctrl-C in a script while each() runs: the same two steps as -H. The first SIGINT says which
# hosts are still running and the run goes on; a second within a second stops them, each()
# returns the partial outcomes (interrupted = true), and the script's next wait raises
# 'interrupted' (exit 130).
source "$TESTROOT/lib.sh"
source "$TESTROOT/fleet_lib.bash"
need_sshd
plan 9

DUR="32.$$"
trap 'cleanup_remote; rm -rf "$TMP"' EXIT

script each.sshs <<EOS
local out = each("127.0.0.[1-5]", function() \$ sleep $DUR
end)
local n = 0
for _, o in pairs(out) do if o.interrupted and o.ok == false then n = n + 1 end end
print("interrupted outcomes: " .. n)
\$ echo after-each
EOS
HOME=$SSHS_TEST_HOME "$SSHS" "$TMP/each.sshs" > "$TMP/out" 2> "$TMP/err" < /dev/null &
pid=$!
started=$(wait_sleeps 5)
checkv "each(): the five remote commands run before the first SIGINT" "found $started" [ "$started" -ge 5 ]

first_sigint "$pid"
check "first Ctrl-C in each(): stderr says which hosts are still running" \
  grep -qE 'still running on 127\.0\.0\.\[1-5\] \(5\)' "$TMP/err"
check "first Ctrl-C in each(): the script goes on" [ "$rc" = running ]

if [ "$rc" = running ]; then
  second_sigint "$pid" "second Ctrl-C within a second: the script ends"
  check "second Ctrl-C: exit status 130" [ "$rc" = 130 ]
  check "second Ctrl-C: each() returned the partial outcomes, all 5 interrupted" \
    grep -qx 'interrupted outcomes: 5' "$TMP/out"
  check "second Ctrl-C: the script's next command does not run" bash -c "! grep -q after-each '$TMP/out'"
  left=$(gone_sleeps)
  checkv "second Ctrl-C: no remote sleep left running" "found $left" [ "$left" = 0 ]
else
  for n in 1 2 3 4 5; do fail "second Ctrl-C: not tried" "sshs ended after the first SIGINT (rc=$rc)" "$(detail)"; done
  rc=done
fi

# Outside each() a single Ctrl-C still stops a script at once (the two steps are each()'s).
HOME=$SSHS_TEST_HOME "$SSHS" -e "\$ sleep $DUR" > "$TMP/out" 2> "$TMP/err" < /dev/null &
pid=$!
for _ in $(seq 1 600); do [ -n "$(pgrep -f "^sleep $DUR\$")" ] && break; sleep 0.1; done
kill -INT "$pid"
for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done   # a hang guard
if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; rc=hung; else wait "$pid"; rc=$?; fi
check "outside each(): one Ctrl-C ends the script (exit 130)" [ "$rc" = 130 ]
