#!/usr/bin/env bash
# -H node sets on the command line (errors, @file with comments, user@ and :port carried
# through) and -f N bounding how many hosts run at once.
source "$TESTROOT/lib.sh"
source "$TESTROOT/fleet_lib.bash"
need_sshd
plan 21

# bad_spec SPEC WHAT PATTERN...: -H SPEC fails cleanly: exit 1 or 2 (no crash or signal), nothing
# on stdout, no traceback, no host contacted, and stderr matches every (grep -E) PATTERN.
bad_spec() {
  local spec=$1 what=$2; shift 2
  local missing=() p
  hs -H "$spec" -e '$ echo should-not-run'
  for p in "$@"; do grep -qiE -- "$p" "$TMP/err" || missing+=("$p"); done
  if [ "$rc" -ge 1 ] && [ "$rc" -le 2 ] && [ -z "$out" ] && [ ${#missing[@]} = 0 ] &&
     ! grep -qi 'traceback' "$TMP/err"; then
    ok "-H '$spec': $what"
  else
    fail "-H '$spec': $what" "stderr lacks: ${missing[*]:-(nothing)}" "$(detail)"
  fi
}
bad_spec 'web[5-1]' "a clear error naming the reversed range" 'revers' '5-1'
bad_spec 'web[1-3' "a clear error naming the unbalanced '['" "unbalanced|unclosed|missing" 'web\[1-3'
bad_spec 'web1-3]' "a clear error naming the unbalanced ']'" "unbalanced|unopened|unexpected" 'web1-3\]'
bad_spec 'web[a-c]' "a clear error naming the bad range" 'a-c'
bad_spec 'web[1-3]]' "a clear error about the stray ']'" "unbalanced|unexpected|stray" '\]'
bad_spec '' "an error saying there are no hosts" 'no hosts'
bad_spec ',' "an error saying there are no hosts" 'no hosts'
bad_spec "@$TMP/no-such-file" "an error naming the missing host file" 'no-such-file' 'no such file'

# @file: one host per line, '#' comments (whole line and trailing), blank lines, node sets,
# duplicates once; commented-out hosts are not contacted.
cat > "$TMP/hosts.txt" <<'EOF'
# web tier
127.0.0.1          # first
127.0.0.[2-3]

   # indented comment: 127.0.0.9
127.0.0.2
127.0.0.4,127.0.0.5	# two on one line
EOF
hs -H "@$TMP/hosts.txt" -e '$ echo hi'
check "-H @file: comments and blank lines skipped, duplicates once, exit 0" \
  [ "$rc" = 0 -a "$(sort "$TMP/out")" = "$(hostlines 1 5 hi)" ]
check "-H @file: summary counts 5 hosts" grep -qE '^sshs: 5 hosts in [0-9.]+s: 5 ok' "$TMP/err"
hs -H "127.0.0.[6-7],@$TMP/hosts.txt" -e '$ echo hi'
check "-H 'node set,@file' mixed" [ "$rc" = 0 -a "$(sort "$TMP/out")" = "$(hostlines 1 7 hi)" ]
printf '127.0.0.1\nweb[2-1]\n' > "$TMP/bad-hosts.txt"
bad_spec "@$TMP/bad-hosts.txt" "an error in a host file names the file and line" 'bad-hosts.txt:2' '2-1'

# user@ and :port are carried through to every host.
hs -H "$SSHS_TEST_USER@127.0.0.[1-2]:$SSHS_TEST_PORT" -e '$ echo hi'
check "-H 'user@127.0.0.[1-2]:port': both hosts reached, lines prefixed with the name as written" \
  [ "$rc" = 0 -a "$(sort "$TMP/out")" = "$(printf '%s\n' "$SSHS_TEST_USER@127.0.0.1:$SSHS_TEST_PORT: hi" "$SSHS_TEST_USER@127.0.0.2:$SSHS_TEST_PORT: hi" | sort)" ]
hs -H '127.0.0.[1-2]:1' -e '$ echo hi'
check "-H '127.0.0.[1-2]:1': the port applies to each host (both unreachable)" \
  grep -qE '^sshs: 2 hosts in [0-9.]+s: 0 ok, 0 failed, 2 unreachable' "$TMP/err"

# -f N: the per-host scripts share _G (each has its own globals), so a counter there measures
# how many hosts are inside the script at once.
PEAK='local G = _G; G.cur = (G.cur or 0) + 1; G.peak = math.max(G.peak or 0, G.cur); sleep(0.3); G.cur = G.cur - 1; print("peak " .. G.peak)'
max_peak() { sed -n 's/^.*: peak \([0-9]*\)$/\1/p' "$TMP/out" | sort -n | tail -n 1; }
t0=$EPOCHREALTIME
hs -H '127.0.0.[1-12]' -f 3 -e "$PEAK"
took=$(since "$t0"); peak=$(max_peak)
check "-f 3: exit 0, every host ran" [ "$rc" = 0 -a "$(grep -c ': peak ' "$TMP/out")" = 12 ]
checkv "-f 3: at most 3 hosts at once" "peak $peak" [ "${peak:-99}" -le 3 ]
checkv "-f 3: hosts do run in parallel" "peak $peak" [ "${peak:-0}" -gt 1 ]
checkv "-f 3: 12 hosts x 0.3 s take at least 1.2 s" "took $took s" lt 1.15 "$took"
hs -H '127.0.0.[1-4]' -f 1 -e "$PEAK"
checkv "-f 1: one host at a time" "peak $(max_peak)" [ "$rc" = 0 -a "$(max_peak)" = 1 ]
hs -H '127.0.0.[1-30]' -e "$PEAK"
checkv "no -f: the default (64) lets 30 hosts overlap" "peak $(max_peak)" [ "$rc" = 0 -a "$(max_peak)" -gt 3 ]
hs -H '127.0.0.1' -f 0 -e 'print(1)'
check "-f 0 is refused with a message naming -f, exit 2" [ "$rc" = 2 -a -n "$(grep -e '-f' "$TMP/err")" ]
