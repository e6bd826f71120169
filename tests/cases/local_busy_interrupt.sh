# Ctrl-C, SIGTERM and SIGHUP reach Lua code that never waits (a busy loop): a hook stops it
# where it runs, as lua.c does. Also in a thread, in a plain coroutine, under a pcall that
# swallows the error, and on a real terminal. Every run is bounded: a hang is a failure.
source "$TESTROOT/lib.sh"
plan 35

MARK=8$$$RANDOM
# busy NAME SIGNAL SCRIPT: runs SCRIPT (it prints "go" once it is about to spin), sends SIGNAL
# once "go" is out, and sets rc, out, err; a run still alive 60 s after the signal (a hang
# guard) is killed and reported as hung (rc=hung).
busy() {
  local name=$1 sig=$2
  printf '%s\n' "$3" > "$TMP/busy.sshs"
  "$SSHS" "$TMP/busy.sshs" > "$TMP/out" 2> "$TMP/err" < /dev/null &
  local pid=$! i
  for i in $(seq 1 1200); do grep -q go "$TMP/out" 2>/dev/null && break; sleep 0.05; done
  sleep 0.2                       # into the loop
  kill -"$sig" "$pid"
  for i in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; wait "$pid"; rc=hung
  else wait "$pid"; rc=$?; fi
  out=$(cat "$TMP/out"); err=$(cat "$TMP/err")
}

busy "INT" INT 'print("go") while true do end'
expect_rc 130 "Ctrl-C stops a busy loop: exit status 130"
expect_err_has "sshs: interrupted" "Ctrl-C on a busy loop: 'sshs: interrupted'"

busy "TERM" TERM 'print("go") while true do end'
expect_rc 143 "SIGTERM stops a busy loop: exit status 143"
busy "HUP" HUP 'print("go") while true do end'
expect_rc 129 "SIGHUP stops a busy loop: exit status 129"

# Before the event loop is made (interp/uv_lazy.c: a run that has waited on nothing has not
# loaded libuv), the handler has no loop to wake: the hook alone stops the code; a thread
# that then sleeps makes the loop, and a signal to it still wakes that loop.
busy "no event loop yet" INT 'print(io.open("/proc/self/maps"):read("a"):find("libuv", 1, true) and "loop" or "no loop") print("go") while true do end'
expect_rc 130 "Ctrl-C stops a busy loop before the event loop exists: exit status 130"
expect_out_has "no loop" "... (libuv was not loaded yet)"
busy "loop made after a busy part" TERM 'local t0 = os.clock() while os.clock() - t0 < 0.2 do end print("go") sleep(100)'
expect_rc 143 "a run that made its loop after running busy: SIGTERM while it sleeps, exit status 143"

busy "thread, joined" INT 'local h = thread(function() print("go") while true do end end) h:join()'
expect_rc 130 "a busy loop in a thread (main joins it): exit status 130"
busy "thread, main sleeps" INT 'thread(function() print("go") while true do end end) sleep(100)'
expect_rc 130 "a busy loop in a thread while main sleeps: exit status 130"
busy "thread, main waits for its error" INT '
local h = thread(function() print("go") while true do end end)
local ok, e = pcall(h.join, h)
print("joined", ok, e)'
expect_rc 130 "a busy thread stopped by Ctrl-C: exit status 130"
expect_out_has "joined	false	interrupted" "... its joiner gets the error 'interrupted'"

# lua.c's behaviour: the error can be caught; the script is still interrupted at its next wait.
busy "caught" INT '
local ok, e = pcall(function() print("go") while true do end end)
print("caught", e)
sleep(30)
print("not reached")'
expect_rc 130 "pcall catches 'interrupted'; the next wait raises it again: exit status 130"
expect_out "go
caught	interrupted" "pcall sees the error 'interrupted' and the script stops at its next wait"

# A script that swallows every error still stops (past a budget of instructions).
busy "swallowed" INT 'print("go") while true do pcall(function() while true do end end) end'
expect_rc 130 "a loop that swallows 'interrupted' with pcall still stops: exit status 130"
busy "swallowed, TERM" TERM 'print("go") while true do pcall(function() while true do end end) end'
expect_rc 143 "... with SIGTERM: exit status 143"
busy "swallowed, xpcall" INT '
print("go")
while true do xpcall(function() while true do end end, debug.traceback) end'
expect_rc 130 "a loop that swallows it with xpcall and a handler: exit status 130"
busy "swallowed in a thread" INT '
local h = thread(function() print("go") while true do pcall(function() while true do end end) end end)
local ok, e = pcall(h.join, h)
print("joined", ok, e)'
expect_rc 130 "a thread that swallows it still ends: exit status 130"
expect_out_has "joined	false	interrupted" "... and its joiner gets 'interrupted'"
busy "closing" INT '
local x <close> = setmetatable({}, {__close = function() io.stderr:write("closed-'$MARK'\n") end})
print("go")
while true do pcall(function() while true do end end) end'
expect_rc 130 "a to-be-closed variable of a stopped script: exit status 130"
expect_err_has "closed-$MARK" "... its __close still runs"
busy "with block" INT '
with cd("/") do print("go") while true do pcall(function() while true do end end) end end'
expect_rc 130 "a busy loop in a with block: exit status 130"

# Plain coroutines inside a thread.
busy "coroutine.wrap" INT 'local g = coroutine.wrap(function() print("go") while true do end end) g()'
expect_rc 130 "a busy loop inside coroutine.wrap: exit status 130"
busy "coroutine.resume" INT '
local co = coroutine.create(function() print("go") while true do end end)
print(coroutine.resume(co))
sleep(30)'
expect_rc 130 "a busy loop inside coroutine.resume: exit status 130"
expect_out_has "false	interrupted" "... resume returns false, 'interrupted'"
busy "coroutine swallowing" INT '
local g = coroutine.wrap(function() print("go") while true do pcall(function() while true do end end) end end)
while true do pcall(g) end'
expect_rc 130 "a coroutine and its caller both swallowing it: exit status 130"
busy "generator loop" INT '
local gen = coroutine.wrap(function() while true do coroutine.yield(1) end end)
print("go")
while true do pcall(gen) end'
expect_rc 130 "a loop over a generator, swallowing errors: exit status 130"

# Commands still running elsewhere are stopped too, and nothing is left behind.
busy "command in a thread" INT "
thread(function() \$ sleep 9$MARK.1
 end)
sleep(0.3) print('go') while true do end"
expect_rc 130 "a busy main while a thread runs a command: exit status 130"
no_leftover "sleep 9$MARK.1" "... the thread's command is killed"
busy "command, TERM" TERM "
thread(function() \$ sleep 9$MARK.2
 end)
sleep(0.3) print('go') while true do end"
expect_rc 143 "... with SIGTERM: exit status 143"
no_leftover "sleep 9$MARK.2" "... and the command is killed"

# Code after the interrupt that is short (closing blocks, reports) is not cut short.
busy "short cleanup" INT '
local ok, e = pcall(function() print("go") while true do end end)
local n = 0
for i = 1, 100000 do n = n + i end
io.stderr:write("sum " .. n .. "\n")'
expect_rc 130 "after a caught interrupt, short code still runs: exit status 130"
expect_err_has "sum 5000050000" "... and finishes (100000 iterations)"

# A normal run is untouched: hooks are only set by a signal.
run_sshs -e 'local n = 0 for i = 1, 3000000 do n = n + 1 end print(n)
local g = coroutine.wrap(function(a) local b = coroutine.yield(a + 1) return b * 2 end)
print(g(1), g(5))
print(coroutine.resume(coroutine.create(function(...) return select("#", ...) end), 1, nil, 3))
print(pcall(coroutine.wrap(function() error("boom") end)))'
expect_out "3000000
2	10
true	3
false	(command line):5: boom" "without a signal: long loops, coroutine.wrap/resume behave as in Lua"

# On a real terminal: Ctrl-C typed on the pty reaches sshs through the terminal driver.
cat > "$TMP/ttydrive.py" <<'EOF'
import os, pty, sys, time, select
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
buf, end, sent = b"", time.time() + 60, False      # a hang guard
while time.time() < end:
    r, _, _ = select.select([fd], [], [], 0.1)
    if fd in r:
        try: d = os.read(fd, 4096)
        except OSError: break
        if not d: break
        buf += d
    if not sent and b"go" in buf:
        time.sleep(0.2); os.write(fd, b"\x03"); sent = True
    done, st = os.waitpid(pid, os.WNOHANG)
    if done: break
else:
    os.kill(pid, 9); os.waitpid(pid, 0); print("hung"); sys.exit(0)
if not done: _, st = os.waitpid(pid, 0)
# What it wrote just before it exited may still be unread (a loaded machine runs this reader
# late): read to the end (EIO once the terminal has no writer left).
while select.select([fd], [], [], 5)[0]:
    try: d = os.read(fd, 4096)
    except OSError: break
    if not d: break
    buf += d
print("exit", os.WEXITSTATUS(st) if os.WIFEXITED(st) else "signal %d" % os.WTERMSIG(st))
sys.stdout.write(buf.decode(errors="replace").replace("\r", ""))
EOF
printf '%s\n' 'print("go") while true do end' > "$TMP/tty.sshs"
out=$(timeout 90 python3 "$TMP/ttydrive.py" "$SSHS" "$TMP/tty.sshs" 2>&1); rc=$?
expect_out_has "exit 130" "on a terminal, Ctrl-C stops a busy loop: exit status 130"
expect_out_has "sshs: interrupted" "... and says 'sshs: interrupted'"
