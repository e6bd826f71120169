#!/usr/bin/env bash
# What -H shows: live "host: " lines, stderr kept apart, print() prefixed, a failing host's
# error and the summary, -b gathering, --json, progress only on a terminal, script arguments,
# and the exit status (0 only if every host succeeded).
source "$TESTROOT/lib.sh"
source "$TESTROOT/fleet_lib.bash"
need_sshd
plan 36

# The last octet of the address the remote sshd saw the connection on (remote, not from sshs).
OCTET='$(set -- $SSH_CONNECTION; echo ${3##*.})'

# ---------------------------------------------------------------- live lines
hs -H '127.0.0.[1-3]' -e '$ echo out; echo err >&2'
check "-H: exit 0 when every host succeeds" [ "$rc" = 0 ]
check "-H: remote stdout lines are 'host: line' on stdout, and only those" \
  [ "$(sort "$TMP/out")" = "$(hostlines 1 3 out)" ]
check "-H: remote stderr lines are 'host: line' on stderr, not on stdout" \
  [ "$(grep -v '^sshs: ' "$TMP/err" | sort)" = "$(hostlines 1 3 err)" ]
check "-H: no colour codes when stderr is not a terminal" bash -c '! grep -q $'"'\\e'"' "$1"' _ "$TMP/err"

hs -H '127.0.0.[1-2]' -e 'print("from", "lua")'
check "-H: print() in the script is prefixed by host" \
  [ "$(sort "$TMP/out")" = "$(printf '127.0.0.1: from\tlua\n127.0.0.2: from\tlua')" ]

# A script file (not -e) runs once per host, with its arguments.
script args.sshs <<'EOF'
$ echo "arg1=#{arg[1]} n=#{select('#', ...)} first=#{(...)}"
EOF
hs -H '127.0.0.[1-3]' "$TMP/args.sshs" v2.3.1
check "-H with a script file: runs once per host with its arguments" \
  [ "$(sort "$TMP/out")" = "$(hostlines 1 3 'arg1=v2.3.1 n=1 first=v2.3.1')" ]

# ---------------------------------------------------------------- failures and exit status
hs -H '127.0.0.[1-4]' -e "if $OCTET == '3' then error('boom on three') end"$'\n''$ echo fine'
check "-H, one host raises a Lua error: exit status 1" [ "$rc" = 1 ]
check "-H, one host raises a Lua error: the others still run" \
  [ "$(sort "$TMP/out")" = "$(printf '127.0.0.1: fine\n127.0.0.2: fine\n127.0.0.4: fine')" ]
check "-H, one host raises a Lua error: 'host: message' on stderr" \
  grep -qE '^127\.0\.0\.3: .*boom on three' "$TMP/err"
check "-H, one host raises a Lua error: summary counts 3 ok, 1 failed" \
  grep -qE '^sshs: 4 hosts in [0-9.]+s: 3 ok, 1 failed, 0 unreachable' "$TMP/err"

hs -H '127.0.0.[1-6]' -e "\$ test $OCTET -lt 5"
check "-H, a command fails on two hosts: exit status 1" [ "$rc" = 1 ]
check "-H, a command fails on two hosts: summary counts 4 ok, 2 failed" \
  grep -qE '^sshs: 6 hosts in [0-9.]+s: 4 ok, 2 failed, 0 unreachable' "$TMP/err"
check "-H, a command fails on two hosts: one summary line names them as a node set with the cause" \
  grep -qE '^ +failed +127\.0\.0\.\[5-6\] \(2\): .*exit 1' "$TMP/err"

hs -H '127.0.0.1,127.0.0.2:1' -e '$ true'
check "-H, one host unreachable, the other ok: exit status 3 (unreachable, none failed)" [ "$rc" = 3 ]

# ---------------------------------------------------------------- -b
# block_after HEADER: the first line after the header line that is not a rule of dashes.
block_after() { awk -v h="$1" 'found && !/^-+$/ { print; exit } $0 == h { found = 1 }' "$TMP/out"; }

hs -H '127.0.0.[1-10]' -b -e '$ echo same'
check "-b, identical output: exit 0" [ "$rc" = 0 ]
check "-b, identical output: one header naming the node set '127.0.0.[1-10] (10)'" \
  [ "$(grep -cxF '127.0.0.[1-10] (10)' "$TMP/out")" = 1 ]
check "-b, identical output: the output is printed once, under that header" \
  [ "$(grep -cx same "$TMP/out")" = 1 -a "$(block_after '127.0.0.[1-10] (10)')" = same ]
check "-b: no live 'host: ' lines" bash -c '! grep -q "^127\.0\.0\.[0-9]*: " "$1"' _ "$TMP/out"
check "-b: the summary is still on stderr" \
  grep -qE '^sshs: 10 hosts in [0-9.]+s: 10 ok' "$TMP/err"

hs -H '127.0.0.[1-10]' -b -e "\$ echo parity \$(( $OCTET % 2 ))"
check "-b, odd/even output: a group '127.0.0.[1,3,5,7,9] (5)' with 'parity 1'" \
  [ "$(block_after '127.0.0.[1,3,5,7,9] (5)')" = "parity 1" ]
check "-b, odd/even output: a group '127.0.0.[2,4,6,8,10] (5)' with 'parity 0'" \
  [ "$(block_after '127.0.0.[2,4,6,8,10] (5)')" = "parity 0" ]
check "-b, odd/even output: exactly two groups" [ "$(grep -c ' ([0-9]*)$' "$TMP/out")" = 2 ]

# Multi-line output, one host different: whole outputs are compared, and printed whole.
hs -H '127.0.0.[1-5]' -b -e "if $OCTET == '4' then print('odd one') else print('line one'); print('line two') end"
check "-b, multi-line output: '127.0.0.[1-3,5] (4)' then both lines" \
  [ "$(awk '$0 == "127.0.0.[1-3,5] (4)" { f = 1; next } f && !/^-+$/ { print; if (++n == 2) exit }' "$TMP/out")" \
    = "$(printf 'line one\nline two')" ]
check "-b, multi-line output: '127.0.0.4 (1)' with its own output" \
  [ "$(block_after '127.0.0.4 (1)')" = "odd one" ]

# ---------------------------------------------------------------- --json
script json.sshs <<'EOF'
local n = tonumber($(set -- $SSH_CONNECTION; echo ${3##*.}))
$ echo shown-#{n}
if n == 3 then $ exit 3
end
if n == 4 then return "four" end
return {n = n, tag = "v" .. n}
EOF
hs -H '127.0.0.[1-4],127.0.0.5:1' --json "$TMP/json.sshs"
check "--json: exit status 1 (one failed, one unreachable)" [ "$rc" = 1 ]
python3 - "$TMP/out" <<'EOF'
import json, sys
lines = open(sys.argv[1], encoding='utf-8').read().splitlines()
def report(name, good, *detail):
    print(("ok - " if good else "not ok - ") + "--json: " + name)
    if not good:
        for d in detail: print("#   " + str(d))
objs, bad = {}, []
for l in lines:
    try:
        o = json.loads(l)
        if not isinstance(o, dict) or "host" not in o: raise ValueError("not an object with a host")
        objs[o["host"]] = o
    except Exception as e:
        bad.append("%r: %s" % (l[:120], e))
report("every stdout line is one JSON object with a host, nothing else", not bad and len(lines) == 5,
       "%d lines" % len(lines), *bad[:5])
want = {"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5:1"}
report("one object per host", set(objs) == want and len(lines) == 5, sorted(objs))
o = objs.get("127.0.0.1", {})
report("ok host: ok true, the returned table as value", o.get("ok") is True and o.get("value") == {"n": 1, "tag": "v1"}, o)
o = objs.get("127.0.0.4", {})
report("ok host: a returned string as value", o.get("ok") is True and o.get("value") == "four", o)
o = objs.get("127.0.0.2", {})
report("ok host: its command output in output", o.get("output") == "shown-2\n", o)
report("ok host: a numeric duration, no error", isinstance(o.get("duration"), (int, float)) and not o.get("error"), o)
o = objs.get("127.0.0.3", {})
report("failed host: ok false, exitcode 3, an error message",
       o.get("ok") is False and o.get("exitcode") == 3 and "exit 3" in str(o.get("error")), o)
o = objs.get("127.0.0.5:1", {})
report("unreachable host: ok false, unreachable true, error says Connection refused",
       o.get("ok") is False and o.get("unreachable") is True and "Connection refused" in str(o.get("error")), o)
EOF
check "--json: the summary is on stderr" grep -qE '^sshs: 5 hosts in [0-9.]+s: 3 ok, 1 failed, 1 unreachable' "$TMP/err"

# ---------------------------------------------------------------- progress
hs -H '127.0.0.[1-3]' -e '$ sleep 1.5'
check "progress: nothing of it when stderr is not a terminal (run > 1 s)" \
  bash -c '! grep -q "done," "$1" && ! grep -q $'"'\\r'"' "$1"' _ "$TMP/err"
if command -v script > /dev/null; then
  SHELL=/bin/bash HOME=$SSHS_TEST_HOME timeout 90 script -qec "$(printf '%q ' "$SSHS" -H '127.0.0.[1-3]' -e '$ sleep 1.8')" /dev/null \
    > "$TMP/tty" 2>&1 < /dev/null
  if grep -qE '\[[0-9]+/3 done, [0-9]+ failed\]' "$TMP/tty"; then
    ok "progress: '[n/3 done, f failed]' on a terminal for a run longer than a second"
  else
    fail "progress: '[n/3 done, f failed]' on a terminal for a run longer than a second" "$(head -c 600 "$TMP/tty" | od -c | head -n 12)"
  fi
else
  skip "progress on a terminal" "no script(1) to make a terminal"
fi
