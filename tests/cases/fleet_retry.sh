#!/usr/bin/env bash
# Re-running what failed and exit codes that mean something: after each -H run the groups
# @last:failed / @last:unreachable / @last:ok / @last:skipped name its hosts (kept in
# $XDG_STATE_HOME/sshs/last, replaced atomically); --list-hosts prints the hosts a run would
# touch; exit 0 / 1 (a host failed) / 2 (usage) / 3 (unreachable, none failed) / 4 (budget);
# a usage error is one line and a hint.
source "$TESTROOT/lib.sh"
source "$TESTROOT/fleet_lib.bash"
need_sshd
plan 26
export XDG_STATE_HOME=$TMP/state

cond() { eval "$1"; }
words() { echo $out; }

# .3 and .5 fail, .4:1 and .6:1 are unreachable.
FAIL='local ip = $(set -- $SSH_CONNECTION; echo $3)
if ip == "127.0.0.3" or ip == "127.0.0.5" then $ exit 7
end
print("fine")'
hs -H '127.0.0.[1-3],127.0.0.4:1,127.0.0.5,127.0.0.6:1,127.0.0.7' -e "$FAIL"
check "some failed and some unreachable: exit 1" [ "$rc" = 1 ]
check "the run is recorded in \$XDG_STATE_HOME/sshs/last, with no temporary left beside it" \
  cond '[ "$(ls -A "$XDG_STATE_HOME/sshs")" = last ] && grep -qx "failed 127.0.0.3" "$XDG_STATE_HOME/sshs/last"'
hs -H @last:failed --list-hosts
check "--list-hosts -H @last:failed: the failed hosts, in order" cond '[ "$rc" = 0 ] && [ "$(words)" = "127.0.0.3 127.0.0.5" ]'
hs -H @last:unreachable --list-hosts
check "@last:unreachable" cond '[ "$(words)" = "127.0.0.4:1 127.0.0.6:1" ]'
hs -H @last:ok --list-hosts
check "@last:ok" cond '[ "$(words)" = "127.0.0.1 127.0.0.2 127.0.0.7" ]'
hs -H '@last:failed,@last:unreachable!127.0.0.6:1' --list-hosts
check "@last groups combine with node-set operators" cond '[ "$(words)" = "127.0.0.3 127.0.0.5 127.0.0.4:1" ]'
hs -H @last:all -x @last:ok --list-hosts
check "@last:all with -x @last:ok" cond '[ "$(words)" = "127.0.0.3 127.0.0.4:1 127.0.0.5 127.0.0.6:1" ]'

# The retry: only the failed hosts run; the record becomes this run's.
hs -H @last:failed -e 'print("retried")'
check "sshs -H @last:failed runs on exactly the failed hosts, exit 0 when they now succeed" \
  cond '[ "$rc" = 0 ] && [ "$(sort "$TMP/out" | tr "\n" " ")" = "127.0.0.3: retried 127.0.0.5: retried " ]'
hs -H @last:ok --list-hosts
check "after the retry, @last is the retry's hosts" cond '[ "$(words)" = "127.0.0.3 127.0.0.5" ]'
hs -H @last:failed -e 'x = 1'
check "@last:failed with no failed host: an error saying there are none (usage, exit 2)" \
  cond '[ "$rc" = 2 ] && grep -q "no hosts in .@last:failed" "$TMP/err"'

hs -H '127.0.0.1,127.0.0.2:1' -e 'x = 1'
check "only unreachable hosts (none failed): exit 3" [ "$rc" = 3 ]
hs -H '127.0.0.[1-2]' -e 'x = 1'
check "all ok: exit 0" [ "$rc" = 0 ]
hs -H '127.0.0.[1-4]' --max-fail 0 -f 1 -e '$ false'
check "stopped by the failure budget: exit 4, the rest skipped; @last:skipped names them" \
  cond '[ "$rc" = 4 ] && hs -H @last:skipped --list-hosts && [ "$(words)" = "127.0.0.2 127.0.0.3 127.0.0.4" ]'

XDG_STATE_HOME=$TMP/empty hs -H @last:failed -e 'x = 1'
check "@last with no previous run: exit 2, says so and where it looked" \
  cond '[ "$rc" = 2 ] && grep -q "no previous run recorded in $TMP/empty/sshs" "$TMP/err"'
hs -H @last:broken --list-hosts
check "@last:KIND with an unknown kind: exit 2 naming the kinds" \
  cond '[ "$rc" = 2 ] && grep -q "@last:failed, @last:unreachable, @last:ok" "$TMP/err"'
env -u XDG_STATE_HOME HOME=$TMP/home "$SSHS" -H 127.0.0.1:1 -e 'x = 1' > /dev/null 2>&1
check "without XDG_STATE_HOME the record is in ~/.local/state/sshs" [ -f "$TMP/home/.local/state/sshs/last" ]
echo "not a folder" > "$TMP/plainfile"
XDG_STATE_HOME=$TMP/plainfile hs -H '127.0.0.1' -e 'x = 1'
check "a state folder that cannot be made: a warning, the run's status kept" \
  cond '[ "$rc" = 0 ] && grep -q "warning: cannot record the run for @last in $TMP/plainfile/sshs" "$TMP/err"'

# --list-hosts: after node sets, -x and --shard; no connection, no script needed.
hs -H 'web[1-6]!web3' -x web5 --list-hosts
check "--list-hosts: node set, '!' and -x applied, one host a line" \
  cond '[ "$rc" = 0 ] && [ "$(words)" = "web1 web2 web4 web6" ]'
hs -H 'web[1-6]' --shard 2/2 --list-hosts
check "--list-hosts with --shard: that slice" cond '[ "$rc" = 0 ] && [ "$(words)" = "web2 web4 web6" ]'
hs --list-hosts
check "--list-hosts without -H: usage error" cond '[ "$rc" = 2 ] && grep -q -- "--list-hosts needs -H" "$TMP/err"'

# Usage errors: exit 2, the message and a hint, not the help.
usage_case() {
  want=$1; shift
  hs "$@"
  check "usage error, $*: exit 2, one line naming it and a hint" \
    cond '[ "$rc" = 2 ] && [ "$(wc -l < "$TMP/err")" = 2 ] && head -n 1 "$TMP/err" | grep -qF -- "$want" &&
          [ "$(tail -n 1 "$TMP/err")" = "Try '\''sshs --help'\'' for more information." ] && [ -z "$out" ]'
}
usage_case "unknown option '--bogus'" --bogus -e 'x = 1'
usage_case "--shard 4/3: expected I/N" -H 'web[1-3]' --shard 4/3 -e 'x = 1'
usage_case "reversed range 5-1" -H 'web[5-1]' -e 'x = 1'
usage_case "-o 'Foo=bar'" -o Foo=bar -e 'x = 1'
usage_case "-f needs a number" -f 0 -e 'x = 1'

# Interrupted (two Ctrl-C): the hosts that did not finish are @last:failed, ready for the retry.
DUR="32.$$"
trap 'cleanup_remote; rm -rf "$TMP"' EXIT
HOME=$SSHS_TEST_HOME "$SSHS" -H '127.0.0.[1-3]' -e "\$ sleep $DUR" > "$TMP/out" 2> "$TMP/err" < /dev/null &
pid=$!
started=$(wait_sleeps 3)
kill -INT "$pid"; sleep 0.3; kill -INT "$pid"
for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done   # a hang guard
kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
wait "$pid"; irc=$?
hs -H @last:failed --list-hosts
check "an interrupted run (exit 130, $started started): its unfinished hosts are @last:failed" \
  cond '[ "$irc" = 130 ] && [ "$(words)" = "127.0.0.1 127.0.0.2 127.0.0.3" ]'
