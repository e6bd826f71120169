# Output and scale on the local session: big outputs on both pipes at once, bytes kept as
# bytes, live line-by-line display, lines of concurrent threads kept whole, 200 concurrent
# commands at ~0 CPU, no file descriptors leaked to children or over time.
source "$TESTROOT/lib.sh"
plan 19

now() { date +%s.%N; }
less_than() { [ "$(echo "$1 < $2" | bc)" = 1 ]; }

# --- 100 MB on stdout and 100 MB on stderr at the same time: no deadlock, every byte
timeout 60 "$SSHS" -e 'local r = run("head -c 100000000 /dev/zero & head -c 100000000 /dev/zero >&2; wait")
print(#r.stdout, #r.stderr, r.stdout:find("[^\0]") == nil, r.exitcode)' > "$TMP/out" 2> "$TMP/err"; rc=$?
out=$(cat "$TMP/out"); err=$(cat "$TMP/err")
expect_rc 0 "100 MB stdout + 100 MB stderr at once: completes"
expect_out "100000000	100000000	true	0" "100 MB stdout + 100 MB stderr at once: byte counts"

# the same through the statement form, whose output is shown live (and only its last 1 MiB kept)
timeout 60 "$SSHS" -e '$ head -c 30000000 /dev/urandom | tee /dev/stderr | md5sum >&2
print(#$.stdout, #$.stderr, $.truncated)' > "$TMP/out" 2> "$TMP/err"; rc=$?
shown_err=$(head -c 30000000 "$TMP/err" | md5sum | cut -d' ' -f1)
told=$(tail -c +30000001 "$TMP/err" | head -n 1 | cut -d' ' -f1)
if [ "$rc" = 0 ] && [ "$(cat "$TMP/out")" = "0	1048576	true" ] && [ "$shown_err" = "$told" ]; then
  ok "statement form: 30 MB of random bytes shown on stderr unchanged, the last 1 MiB kept (truncated)"
else not_ok "statement form: 30 MB of random bytes shown on stderr unchanged, the last 1 MiB kept (truncated)" \
  "rc=$rc out=$(cat "$TMP/out") shown=$shown_err told=$told"; fi

# --- bytes are bytes: binary output of a statement command passes through unchanged
printf 'a\000b\377\001\r\nlast' > "$TMP/bin.expected"
"$SSHS" -e "\$ cat '$TMP/bin.expected'" > "$TMP/bin.got" 2> "$TMP/err" < /dev/null
if cmp -s "$TMP/bin.expected" "$TMP/bin.got"; then ok "statement form shows binary output byte for byte"
else not_ok "statement form shows binary output byte for byte" "$(od -c "$TMP/bin.got" | head -3)"; fi
head -c 1000000 /dev/urandom > "$TMP/random.bin"
run_sshs -e "local f = assert(io.open('$TMP/random.bin', 'rb')) local want = f:read('a') f:close()
local r = run('cat $TMP/random.bin')
local back = run('cat', {stdin = want})
print(r.stdout == want, back.stdout == want, #r.stdout)"
expect_out "true	true	1000000" "1 MB of random bytes round-trips through r.stdout and stdin"

# --- live display: a statement command's lines appear as they are written. The command
# writes its second line only once the reader has seen the first (a file; it gives up after
# 60 s): shown at the end instead, the second line would say it gave up.
live() { # FD: runs the command; its output on FD (1 or 2) becomes this function's stdout
  local cmd="\$ echo first >&$1; i=0; until [ -e '$TMP/seen' ] || [ \$i -gt 600 ]; do sleep 0.1; i=\$((i+1)); done; if [ -e '$TMP/seen' ]; then echo second >&$1; else echo gave-up >&$1; fi"
  if [ "$1" = 1 ]; then "$SSHS" -e "$cmd" 2> /dev/null < /dev/null; else "$SSHS" -e "$cmd" 2>&1 > /dev/null < /dev/null; fi
}
for fd in 1 2; do
  what=stdout; [ $fd = 2 ] && what=stderr
  rm -f "$TMP/seen"
  live $fd | while IFS= read -r l; do [ "$l" = first ] && touch "$TMP/seen"; echo "$l"; done > "$TMP/live"
  if [ "$(cat "$TMP/live")" = "$(printf 'first\nsecond')" ]; then
    ok "statement form shows $what live, line by line"
  else not_ok "statement form shows $what live, line by line" "$(cat "$TMP/live")"; fi
done

# --- output of Lua and of commands stays in order
run_sshs -e 'print("a")
$ echo b
io.write("c\n")
$ echo d
print("e")'
expect_out "a
b
c
d
e" "print() and command output keep their order on stdout"
"$SSHS" -e 'io.write("one\n")
$ echo two >&2
io.write("three\n")
$ echo four
io.stderr:write("five\n")
$ echo six >&2' > "$TMP/merged" 2>&1 < /dev/null
if [ "$(cat "$TMP/merged")" = "$(printf '%s\n' one two three four five six)" ]; then
  ok "stdout and stderr merged (2>&1): Lua output and command stderr keep their order"
else not_ok "stdout and stderr merged (2>&1): Lua output and command stderr keep their order" "$(cat "$TMP/merged")"; fi

# --- io.write, file:write and warn, stdout a pipe: what they write, what they return, their
# errors, and their order with print are those of Lua's io library (l_stdio.c wraps them for
# a question on the terminal only). Merged (2>&1), stderr overtakes what stdio still buffers
# for the pipe (io.stdout:write), as in lua5.4; print writes that buffer out first.
script luaio.lua <<'EOF2'
warn("@on")
io.write("a", 1, " ", 2.5, " ", 3.0, "\n")
print("b")
io.write("c-")
print("d")
io.stdout:write("e\n")
io.output():write("f\n")
io.stderr:write("g", 7, "\n")
warn("h", "i")
io.write("j\n")
io.stderr:write("k\n")
print(io.write("") == io.stdout, io.stdout:write("") == io.stdout, io.stderr:write("") == io.stderr)
print(pcall(function() io.stdout:write({}) end))
print(pcall(function() warn("l", {}) end))
local f = io.open(os.getenv("TMP") .. "/luaio.file", "w")
print(f:write("m", 8) == f, f:close())
EOF2
tail_lines="true	true	true
false	$TMP/luaio.lua:13: bad argument #1 to 'write' (string expected, got table)
false	$TMP/luaio.lua:14: bad argument #2 to 'warn' (string expected, got table)
true	true"
TMP=$TMP "$SSHS" "$TMP/luaio.lua" 2> "$TMP/luaio.err" < /dev/null | cat > "$TMP/luaio.out"
if [ "$(cat "$TMP/luaio.out")" = "a1 2.5 3
b
c-d
e
f
j
$tail_lines" ] && [ "$(cat "$TMP/luaio.err")" = "g7
Lua warning: hi
k" ] && [ "$(cat "$TMP/luaio.file")" = m8 ]; then
  ok "io.write, io.stdout:write, io.stderr:write, warn to a pipe: text, results, errors and order with print unchanged"
else not_ok "io.write, io.stdout:write, io.stderr:write, warn to a pipe: text, results, errors and order with print unchanged" \
  "stdout: $(cat "$TMP/luaio.out")" "stderr: $(cat "$TMP/luaio.err")"; fi
TMP=$TMP "$SSHS" "$TMP/luaio.lua" 2>&1 < /dev/null | cat > "$TMP/luaio.merged"
if [ "$(cat "$TMP/luaio.merged")" = "a1 2.5 3
b
c-d
g7
Lua warning: hi
k
e
f
j
$tail_lines" ]; then
  ok "... and merged into one pipe (2>&1): the same order as before"
else not_ok "... and merged into one pipe (2>&1): the same order as before" "$(cat "$TMP/luaio.merged")"; fi

# --- concurrent threads never interleave inside a line
run_sshs -e 'local hs = {}
for i = 1, 4 do
  hs[i] = thread(function()
    $ for j in 1 2 3; do printf "T#{i}-part1-"; sleep 0.0#{i}; printf "T#{i}-part2-line$j\n"; done
  end)
end
for i = 1, 4 do hs[i]:join() end'
bad=$(printf '%s\n' "$out" | grep -vE '^T([1-4])-part1-T\1-part2-line[123]$')
n=$(printf '%s\n' "$out" | grep -c part2)
if [ -z "$bad" ] && [ "$n" = 12 ]; then ok "lines of concurrent threads are never mixed"
else not_ok "lines of concurrent threads are never mixed" "$(show)"; fi

# --- 200 threads each running `$ sleep 1`: concurrent (all 200 are in their command at once,
# counted in Lua: one after another, at most one would be), ~0 CPU while waiting
if [ -x /usr/bin/time ]; then
  /usr/bin/time -f '%e %U %S' -o "$TMP/time" "$SSHS" -e 'local hs, now, peak = {}, 0, 0
for i = 1, 200 do hs[i] = thread(function() now = now + 1; peak = math.max(peak, now); $ sleep 1
now = now - 1 end) end
for i = 1, 200 do hs[i]:join() end
print("all done", peak)' > "$TMP/out" 2> "$TMP/err" < /dev/null; rc=$?
  read -r wall usr sys < "$TMP/time"
  out=$(cat "$TMP/out"); err=$(cat "$TMP/err")
  expect_rc 0 "200 threads x sleep 1: exit 0"
  expect_out_has "all done" "200 threads x sleep 1: all joined"
  if [ "$out" = "all done	200" ]; then ok "200 threads x sleep 1: run concurrently (all 200 at once; wall ${wall}s)"
  else not_ok "200 threads x sleep 1: run concurrently" "$(show)"; fi
  # CPU time, not wall time: a busy loop would burn it however busy the machine is
  if less_than "$(echo "$usr + $sys" | bc)" 1.5; then ok "200 threads x sleep 1: little CPU (user+sys $usr+$sys s)"
  else not_ok "200 threads x sleep 1: little CPU" "user $usr s, sys $sys s"; fi
  # waiting on a timer only: no busy loop
  /usr/bin/time -f '%e %U %S' -o "$TMP/time" "$SSHS" -e 'local now, peak = 0, 0
for i = 1, 200 do thread(function() now = now + 1; peak = math.max(peak, now); sleep(1); now = now - 1 end) end
sleep(0.5) print(peak)' > "$TMP/out" 2>&1 < /dev/null
  read -r wall usr sys < "$TMP/time"
  if [ "$(cat "$TMP/out")" = 200 ] && less_than "$(echo "$usr + $sys" | bc)" 0.5; then
    ok "200 threads x sleep(1): concurrent, ~0 CPU"
  else not_ok "200 threads x sleep(1): concurrent, ~0 CPU" "peak $(cat "$TMP/out") wall $wall user $usr sys $sys"; fi
fi

# --- file descriptors: none leak into children, none leak over many commands
run_sshs -e 'print($(sh -c "ls /proc/\$\$/fd" | sort -n | tr "\n" " "))
local function nfd() return tonumber($(sleep 0.1; ls /proc/$PPID/fd | wc -l)) end  -- after sshs set up this command
local before = nfd()
for i = 1, 300 do local _ = $?(true) end
for i = 1, 50 do pcall(run, "false") end
for i = 1, 20 do pcall(run, "sleep 5", {timeout = 0.01}) end
local hs = {}
for i = 1, 50 do hs[i] = thread(function() return run("cat", {stdin = "x"}).stdout end) end
for i = 1, 50 do hs[i]:join() end
print(before, nfd())'
child_fds=$(printf '%s\n' "$out" | head -n 1)
# what sshs itself inherited (from the test runner) may legitimately pass on
own=$(ls /proc/$$/fd | sort -n | tr '\n' ' ')
extra=""
for fd in $child_fds; do case " $own " in *" $fd "*) ;; *) extra="$extra $fd";; esac; done
if [ -n "$child_fds" ] && [ -z "$extra" ]; then ok "children inherit no sshs-internal file descriptors"
else not_ok "children inherit no sshs-internal file descriptors" "child has: $child_fds; extra:$extra" "$(show)"; fi
read -r before after <<< "$(printf '%s\n' "$out" | tail -n 1)"
if [ -n "$before" ] && [ "$before" = "$after" ]; then ok "no file descriptors leak over 400 commands"
else not_ok "no file descriptors leak over 400 commands" "$(show)"; fi
