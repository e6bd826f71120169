#!/usr/bin/env bash
# Output an operator can act on: --output-dir DIR (DIR/HOST.stdout, DIR/HOST.stderr), -b --diff
# (minority outputs as unified diffs against the majority's), --jsonl (start / line / end
# events), and --json keeping integers exact and every return value.
source "$TESTROOT/lib.sh"
source "$TESTROOT/fleet_lib.bash"
need_sshd
plan 21
export XDG_STATE_HOME=$TMP/state

cond() { eval "$1"; }
py() { python3 -c "$@"; }

# ---------------------------------------------------------------- --output-dir
script out.sshs <<'EOF'
local ip = $(set -- $SSH_CONNECTION; echo $3)
$ echo "out of $(set -- $SSH_CONNECTION; echo $3)"; echo "err of $(set -- $SSH_CONNECTION; echo $3)" >&2
print("printed " .. ip)
if ip == "127.0.0.2" then $ head -c 3000000 /dev/zero | tr '\0' 'x'
end
$ echo shown
print("result kept: " .. $.stdout:gsub("\n", ""))
if ip == "127.0.0.3" then $ exit 5
end
EOF
hs -H '127.0.0.[1-3],127.0.0.4:1' --output-dir "$TMP/o/deep" "$TMP/out.sshs"
check "--output-dir: a missing folder is made; one .stdout and one .stderr per host" \
  cond '[ "$(cd "$TMP/o/deep" && ls | tr "\n" " ")" = "127.0.0.1.stderr 127.0.0.1.stdout 127.0.0.2.stderr 127.0.0.2.stdout 127.0.0.3.stderr 127.0.0.3.stdout 127.0.0.4:1.stderr 127.0.0.4:1.stdout " ]'
check "--output-dir: HOST.stdout holds the host's command output and print()s, unprefixed, in order" \
  cond '[ "$(cat "$TMP/o/deep/127.0.0.1.stdout")" = "$(printf "out of 127.0.0.1\nprinted 127.0.0.1\nshown\nresult kept: shown")" ]'
check "--output-dir: HOST.stderr holds its stderr" \
  cond '[ "$(cat "$TMP/o/deep/127.0.0.1.stderr")" = "err of 127.0.0.1" ]'
check "--output-dir: 3 MB of output is in the file whole (not only the tail a shown command keeps)" \
  cond '[ "$(tr -d "\n" < "$TMP/o/deep/127.0.0.2.stdout" | tr -cd x | wc -c)" = 3000000 ]'
check "--output-dir: the live output is still shown, prefixed; \$.stdout of a shown command still set" \
  cond 'grep -qx "127.0.0.1: out of 127.0.0.1" "$TMP/out" && grep -qx "127.0.0.3: result kept: shown" "$TMP/out"'
check "--output-dir: an unreachable host gets empty files; exit 1 (a host failed)" \
  cond '[ ! -s "$TMP/o/deep/127.0.0.4:1.stdout" ] && [ "$rc" = 1 ]'
echo file > "$TMP/notdir"
hs -H '127.0.0.1' --output-dir "$TMP/notdir/x" -e '$ echo hi'
check "--output-dir under a file: an error naming the path, nothing runs" \
  cond '[ "$rc" != 0 ] && [ -z "$out" ] && grep -q "output-dir: cannot create $TMP/notdir/x" "$TMP/err"'

# ---------------------------------------------------------------- -b --diff
script diff.sshs <<'EOF'
local ip = $(set -- $SSH_CONNECTION; echo $3)
if ip == "127.0.0.6" then return end          -- no output
$ printf 'kernel 6.1\nsshd on\nntp on\nusers 3\nload low\ndisk ok\nswap off\n'
if ip == "127.0.0.5" then $ echo extra-line
end
EOF
hs -H '127.0.0.[1-6]' -b --diff "$TMP/diff.sshs"
check "-b --diff: the majority's output once, in full, under its hosts" \
  cond '[ "$rc" = 0 ] && grep -qx "127.0.0.\[1-4\] (4)" "$TMP/out" && [ "$(grep -c "^kernel 6.1$" "$TMP/out")" = 1 ]'
check "-b --diff: a minority output as a unified diff against the majority's" \
  cond 'grep -qx "127.0.0.5 (1): differs from 127.0.0.\[1-4\]" "$TMP/out" && grep -qx -- "--- 127.0.0.\[1-4\]" "$TMP/out" &&
        grep -qx "+++ 127.0.0.5" "$TMP/out" && grep -qx "@@ -5,3 +5,4 @@" "$TMP/out" && grep -qx "+extra-line" "$TMP/out"'
check "-b --diff: hosts with no output are a group of their own (every line removed)" \
  cond 'grep -qx "127.0.0.6 (1): differs from 127.0.0.\[1-4\]" "$TMP/out" && grep -qx "@@ -1,7 +0,0 @@" "$TMP/out" && grep -qx -- "-swap off" "$TMP/out"'
sed -n '/^--- /,$p' "$TMP/out" | sed -n '1,/^-swap off$/p' > "$TMP/ours"
printf 'kernel 6.1\nsshd on\nntp on\nusers 3\nload low\ndisk ok\nswap off\n' > "$TMP/a"
{ cat "$TMP/a"; echo extra-line; } > "$TMP/b"
diff -u --label '127.0.0.[1-4]' --label 127.0.0.5 "$TMP/a" "$TMP/b" > "$TMP/theirs"
check "-b --diff: the diff is the one diff -u gives" cond 'head -n "$(wc -l < "$TMP/theirs")" "$TMP/ours" | cmp -s - "$TMP/theirs"'
hs -H '127.0.0.1' --diff -e 'x = 1'
check "--diff without -b: usage error" cond '[ "$rc" = 2 ] && grep -q -- "--diff needs -b" "$TMP/err"'
hs -H '127.0.0.1' -b --diff --json -e 'x = 1'
check "--diff with --json: usage error" cond '[ "$rc" = 2 ] && grep -q -- "--diff cannot be combined with --json" "$TMP/err"'

# ---------------------------------------------------------------- --jsonl
script ev.sshs <<'EOF'
local ip = $(set -- $SSH_CONNECTION; echo $3)
print("printed")
$ printf 'one\ntwo\nno-newline'; echo oops >&2
if ip == "127.0.0.2" then $ exit 4
end
return 42
EOF
hs -H '127.0.0.[1-2],127.0.0.3:1' --jsonl "$TMP/ev.sshs"
cat > "$TMP/check_events.py" <<'EOF'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
by = {}
for e in evs: by.setdefault(e["host"], []).append(e)
want = sys.argv[2]
if want == "shape":
    ok = all(es[0]["event"] == "start" and es[-1]["event"] == "end" and
             all(e["event"] == "line" for e in es[1:-1]) for es in by.values()) and len(by) == 3
elif want == "lines":
    es = by["127.0.0.1"]
    got = [(e["stream"], e["text"]) for e in es if e["event"] == "line"]
    ok = ("stdout", "one") in got and ("stdout", "two") in got and ("stdout", "no-newline") in got \
        and ("stderr", "oops") in got and ("stdout", "printed") in got
elif want == "end":
    a, b, c = by["127.0.0.1"][-1], by["127.0.0.2"][-1], by["127.0.0.3:1"][-1]
    ok = a["ok"] is True and a["value"] == 42 and b["ok"] is False and b["exitcode"] == 4 \
        and c.get("unreachable") is True and len(by["127.0.0.3:1"]) == 2
print("yes" if ok else "no")
EOF
check "--jsonl: per host a start event, line events, an end event; only JSON on stdout" \
  cond '[ "$(python3 "$TMP/check_events.py" "$TMP/out" shape)" = yes ]'
check "--jsonl: each output line (stdout, stderr, print, a last line without newline) is an event" \
  cond '[ "$(python3 "$TMP/check_events.py" "$TMP/out" lines)" = yes ]'
check "--jsonl: end events carry the outcome (value, exit code, unreachable); exit 1" \
  cond '[ "$(python3 "$TMP/check_events.py" "$TMP/out" end)" = yes ] && [ "$rc" = 1 ]'
hs -H '127.0.0.[1-4]' --jsonl --max-fail 0 -f 1 -e '$ false'
check "--jsonl with a stopped rollout: end events with not_started for the hosts never started" \
  cond '[ "$rc" = 4 ] && [ "$(grep -c "\"not_started\":true" "$TMP/out")" = 3 ] && [ "$(grep -c "\"event\":\"start\"" "$TMP/out")" = 1 ]'
hs -H '127.0.0.1' --jsonl -b -e 'x = 1'
check "--jsonl with -b: usage error" cond '[ "$rc" = 2 ] && grep -q -- "--jsonl cannot be combined with -b" "$TMP/err"'

# ---------------------------------------------------------------- --json values
hs -H '127.0.0.1' --json -e 'return 123456789012345678'
check "--json: a large integer stays exact" cond 'grep -q "\"value\":123456789012345678[,}]" "$TMP/out"'
hs -H '127.0.0.1' --json -e 'return 1, nil, "three"'
check "--json: every return value is kept (values, nil as null)" \
  cond '[ "$(py "import json,sys; print(json.loads(open(sys.argv[1]).read())[\"values\"])" "$TMP/out")" = "[1, None, '\''three'\'']" ]'
hs -H '127.0.0.1' --json -e 'return {n = (1 << 53) + 1, f = 0.1, list = {1, 2}}'
check "--json: a table value with an integer past 2^53 and a float round-trips" \
  cond '[ "$(py "import json,sys; v=json.loads(open(sys.argv[1]).read())[\"value\"]; print(v[\"n\"] == 2**53+1 and v[\"f\"] == 0.1 and v[\"list\"] == [1,2])" "$TMP/out")" = True ]'
