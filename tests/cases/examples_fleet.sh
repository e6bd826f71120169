#!/usr/bin/env bash
# The examples in examples/ run against the test sshd and print what they promise:
# single_host.sshs (paramiko style), fanout.sshs (parallel-ssh style, per-host arguments and
# output), threads.sshs (SSHScript style), rolling_deploy.sshs (batches; stops on a failure).
source "$TESTROOT/lib.sh"
source "$TESTROOT/fleet_lib.bash"
need_sshd
plan 14
EX=$TESTROOT/../examples
cond() { eval "$1"; }

hs "$EX/single_host.sshs" 127.0.0.2
check "single_host: exit 0" [ "$rc" = 0 ]
check "single_host: runs a command and reads its exit status" grep -qx 'system: Linux, exit status 0' "$TMP/out"
check "single_host: stdin fed to sort" cond '[ "$(sed -n 2,4p "$TMP/out")" = "$(printf "apple\nfig\npear")" ]'
check "single_host: a failing command's status and stderr without raising" \
  cond 'grep -qx "ls exit status: 2 (failed)" "$TMP/out" && grep -q "^ls said: .*No such file" "$TMP/out"'
check "single_host: \$? and a raised failure with its exit code" \
  cond 'grep -qx "test -d exit status: 1" "$TMP/out" && grep -qx "raised: true, exit 3" "$TMP/out"'

hs "$EX/fanout.sshs" '127.0.0.[1-5]'
want=$(for i in 1 2 3 5; do printf '127.0.0.%d | job%d squared is %d\n127.0.0.%d | Linux\n' "$i" "$i" $((i * i)) "$i"; done)
got=$(grep ' | ' "$TMP/out")
check "fanout: per-host arguments, per-host output in host order" [ "$got" = "$want" ]
check "fanout: the failing host with its exit code and stderr" grep -qx '127.0.0.4 ! exit 4: job 4 refuses' "$TMP/out"
check "fanout: the count line, exit 0 (the script decides)" cond 'grep -qx "5 hosts, 1 failed" "$TMP/out" && [ "$rc" = 0 ]'

hs "$EX/threads.sshs" 127.0.0.1 127.0.0.2 127.0.0.3
check "threads: four commands at once on one connection, joined in order" \
  [ "$(head -n 4 "$TMP/out")" = "$(printf 'job %d done\n' 1 2 3 4)" ]
check "threads: one connection per thread, one line per host" \
  cond '[ "$rc" = 0 ] && [ "$(grep -c "^127.0.0.[1-3]: Linux, [0-9]* users logged in$" "$TMP/out")" = 3 ]'

D=$TMP/deploy; mkdir -p "$D"
hs "$EX/rolling_deploy.sshs" '127.0.0.[1-6]' 2 "touch $D/\$TARGET" 'test "$TARGET" != 127.0.0.4'
check "rolling_deploy: a failing batch stops the rollout, exit 1" [ "$rc" = 1 ]
check "rolling_deploy: batches of 2 up to the failing one, none after" \
  grep -qx "rollout stopped: 127.0.0.4 failed; done: 127.0.0.\[1-3\]; not started: 127.0.0.\[5-6\]" "$TMP/err"
check "rolling_deploy: hosts after the failing batch are never touched" \
  cond '[ "$(ls "$D" | sort | tr "\n" " ")" = "127.0.0.1 127.0.0.2 127.0.0.3 127.0.0.4 " ]'
hs "$EX/rolling_deploy.sshs" '127.0.0.[1-5]' 2 "true"
check "rolling_deploy: all batches when nothing fails (the last batch is short)" \
  cond '[ "$rc" = 0 ] && grep -qx "rolled out to 5 hosts: 127.0.0.\[1-5\]" "$TMP/out"'
