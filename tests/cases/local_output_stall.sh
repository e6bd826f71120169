#!/usr/bin/env bash
# stdout to a reader that does not read (`sshs s.sshs | (sleep 5; cat)`): the loop goes on
# (timeouts fire, SIGTERM ends sshs) while the output waits in a bounded queue, and the
# threads that write are the ones held back (issue 21, item 4). Every check waits for an
# event (a line in a file), with generous guards against hangs only, never a time bound.
source "$TESTROOT/lib.sh"
plan 8

# stalled NAME SCRIPT: runs sshs SCRIPT with stdout into a pipe whose reader reads nothing
# until $TMP/go exists (or 60 s passed: a guard), then everything into $TMP/NAME.out;
# sshs's stderr and exit status go to $TMP/NAME.err (rc=N last). The reader writes
# $TMP/NAME.read when it starts reading. sshs's pid is in $TMP/NAME.pid.
stalled() {
  local name=$1 script=$2
  rm -f "$TMP/go"
  ( "$SSHS" "$TMP/$script" 2> "$TMP/$name.err" < /dev/null & echo $! > "$TMP/$name.pid"; wait $!; echo "rc=$?" >> "$TMP/$name.err" ) |
    ( for _ in $(seq 600); do [ -e "$TMP/go" ] && break; sleep 0.1; done; : > "$TMP/$name.read"; cat > "$TMP/$name.out" ) &
  STALLED_JOB=$!
}
# wait_line FILE PATTERN: until FILE has a line matching PATTERN (guard: 60 s).
wait_line() { for _ in $(seq 600); do grep -q -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }

# 1. A timeout fires while a thread's echo fills the stalled pipe.
script timeout.sshs <<'EOF'
local t = thread(function() $ head -c 4000000 /dev/zero | tr '\0' x | fold -w 99 end)
local r = run("sleep 60", {timeout = 1, check = false})
io.stderr:write("timed out: ", tostring(r.timed_out), "\n")
print("after the timeout")
t:join()
EOF
stalled t timeout.sshs
if wait_line "$TMP/t.err" "timed out" && [ ! -e "$TMP/t.read" ]; then
  ok "a 1 s timeout fires while stdout is a stalled pipe"
else
  not_ok "a 1 s timeout fires while stdout is a stalled pipe" "stderr: $(cat "$TMP/t.err")" "reader started: $([ -e "$TMP/t.read" ] && echo yes || echo no)"
fi
grep -q "timed out: true" "$TMP/t.err" && ok "... and the command says timed_out" || not_ok "... and the command says timed_out" "$(cat "$TMP/t.err")"
touch "$TMP/go"; wait "$STALLED_JOB"
n=$(tr -cd x < "$TMP/t.out" | wc -c)
if [ "$n" = 4000000 ] && grep -q "^after the timeout$" "$TMP/t.out" && grep -q "rc=0" "$TMP/t.err"; then
  ok "once read, every byte arrives (and print's line whole), exit 0"
else
  not_ok "once read, every byte arrives (and print's line whole), exit 0" "x bytes: $n" "$(tail -n 3 "$TMP/t.err")"
fi

# 2. SIGTERM ends sshs while stdout is stalled (it does not wait for the reader).
script term.sshs <<'EOF'
local t = thread(function() $ head -c 4000000 /dev/zero | tr '\0' x | fold -w 99 end)
io.stderr:write("started\n")
sleep(100)
EOF
stalled s term.sshs
wait_line "$TMP/s.err" started
sleep 0.5                                   # let the echo fill the pipe (not a bound)
kill -TERM "$(cat "$TMP/s.pid")"
if wait_line "$TMP/s.err" "rc=" && [ ! -e "$TMP/s.read" ]; then
  ok "SIGTERM ends sshs while stdout is a stalled pipe"
else
  not_ok "SIGTERM ends sshs while stdout is a stalled pipe" "$(cat "$TMP/s.err")"
fi
grep -q "rc=143" "$TMP/s.err" && ok "... with status 143" || not_ok "... with status 143" "$(cat "$TMP/s.err")"
touch "$TMP/go"; wait "$STALLED_JOB"

# 3. Back-pressure goes to the command whose echo fills the queue: it is paused (its pipe
#    fills up) instead of its output piling up in memory. It writes 64 KiB lines and counts.
script pressure.sshs <<'EOF'
local count = arg[1]
local t = thread(function()
  $ i=0; while [ $i -lt 1000 ]; do head -c 65535 /dev/zero | tr '\0' x; echo; i=$((i+1)); echo $i > #{count}; done
end)
-- Wait until the command stops getting anywhere, then report how far it got.
local last, still = -1, 0
for _ = 1, 300 do
  sleep(0.2)
  local f = io.open(count); local n = f and tonumber(f:read("a")) or 0; if f then f:close() end
  if n == last then still = still + 1 else still = 0 end
  last = n
  if still >= 5 then break end
end
io.stderr:write("held at ", last, "\n")
t:join()
EOF
sed -i "s|arg\[1\]|\"$TMP/count\"|" "$TMP/pressure.sshs"
stalled p pressure.sshs
wait_line "$TMP/p.err" "held at"
held=$(sed -n 's/^held at \([0-9]*\)$/\1/p' "$TMP/p.err")
# 1 MiB queue + 4 MiB not yet taken + pipes: far below the 1000 lines (62 MiB) it would write.
if [ -n "$held" ] && [ "$held" -lt 200 ] && [ ! -e "$TMP/p.read" ]; then
  ok "a command echoing into the stalled queue is held back ($held of 1000 lines written)"
else
  not_ok "a command echoing into the stalled queue is held back" "held at: ${held:-?}" "$(cat "$TMP/p.err")"
fi
touch "$TMP/go"; wait "$STALLED_JOB"
n=$(grep -c . "$TMP/p.out")
[ "$n" = 1000 ] && grep -q "rc=0" "$TMP/p.err" && ok "... and runs to the end once read (1000 lines)" || not_ok "... and runs to the end once read" "lines: $n" "$(cat "$TMP/p.err")"

# 5. What Lua's finalizers print while the state closes at exit (after the queue was drained
#    once) still reaches a stalled reader, after everything printed before, in order.
script finalizers.sshs <<'EOF'
KEEP = setmetatable({}, {__gc = function() io.write("io.write from __gc\n") print("print from __gc") end})  -- finalized at exit
for i = 1, 20000 do print(("%05d "):format(i) .. ("y"):rep(94)) end
print("main done")
EOF
stalled f finalizers.sshs
sleep 0.5; touch "$TMP/go"; wait "$STALLED_JOB"
if [ "$(grep -c '^[0-9]\{5\} y' "$TMP/f.out")" = 20000 ] && [ "$(tail -n 3 "$TMP/f.out")" = "main done"$'\n'"io.write from __gc"$'\n'"print from __gc" ] && grep -q "rc=0" "$TMP/f.err"; then
  ok "output of __gc at exit reaches a pipe, after the rest (2 MB first through the queue)"
else
  not_ok "output of __gc at exit reaches a pipe, after the rest" "lines: $(wc -l < "$TMP/f.out")" "last: $(tail -n 3 "$TMP/f.out")" "$(cat "$TMP/f.err")"
fi
