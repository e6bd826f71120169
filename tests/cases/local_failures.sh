# Failures: the command error (message, fields), uncaught errors (exit 1, one clean message,
# tracebacks only when asked), thread failures nobody joined, the end of the run.
source "$TESTROOT/lib.sh"
plan 41

MARK=9$$$RANDOM
line() { printf '%s\n' "$err" | sed -n "${1}p"; }

# --- an uncaught command failure
script fail.sshs <<'EOF'
print("before")
local x = 1
local r = $ sh -c 'echo out-text; for i in 1 2 3 4 5 6 7; do echo e$i >&2; done; exit 3'
print("not reached")
EOF
run_sshs "$TMP/fail.sshs"
expect_rc 1 "uncaught command failure: exit status 1"
expect_out "before" "uncaught command failure: the script stops there"
want="$TMP/fail.sshs:3: command failed on local (exit 3): sh -c 'echo out-text; for i in 1 2 3 4 5 6 7; do echo e\$i >&2; done; exit 3'"
if [ "$(line 1)" = "$want" ]; then ok "failure message: FILE:LINE: command failed on local (exit N): CMD"
else not_ok "failure message: FILE:LINE: command failed on local (exit N): CMD" "want: $want" "$(show)"; fi
if [ "$(printf '%s\n' "$err" | sed -n '2,6p')" = "$(printf '  e%s\n' 1 2 3 4 5)" ]; then
  ok "failure message: the first 5 stderr lines, indented by two spaces"
else not_ok "failure message: the first 5 stderr lines, indented by two spaces" "$(show)"; fi
case "$err" in *e6*|*e7*) not_ok "failure message: no more than 5 stderr lines" "$(show)";;
  *) ok "failure message: no more than 5 stderr lines";; esac
case "$err" in *traceback*|*prelude*|*sshs/_*) not_ok "uncaught error: no traceback or runtime frames by default" "$(show)";;
  *) ok "uncaught error: no traceback or runtime frames by default";; esac

SSHS_TRACEBACK=1 run_sshs "$TMP/fail.sshs"
expect_rc 1 "SSHS_TRACEBACK=1: still exit 1"
expect_err_has "stack traceback" "SSHS_TRACEBACK=1 adds a traceback"
run_sshs -v "$TMP/fail.sshs"
expect_err_has "stack traceback" "-v adds a traceback"

# --- the error object
script fields.sshs <<'EOF'
local ok, e = pcall(function()
  local r = $ sh -c 'printf out; printf err >&2; exit 4'
end)
print("ok=" .. tostring(ok))
print("type=" .. type(e))
print("fields=" .. table.concat({tostring(e.stdout), tostring(e.stderr), tostring(e.exitcode), tostring(e.signal),
  tostring(e.ok), tostring(e.cmd), tostring(e.host), type(e.duration)}, "|"))
print("tostring=" .. tostring(e))
print("message-same=" .. tostring(tostring(e) == e.message))
local ok2, e2 = pcall(function()
  local r = $ kill -TERM $$
end)
print("signal=" .. tostring(e2))
local ok3, e3 = pcall(function()
  with timeout(0.2) do
    local r = $ sleep 60
  end
end)
print("timeout=" .. tostring(e3))
local ok4, e4 = pcall(function()
  with timeout(1.5) do
    local r = $ sleep 60
  end
end)
print("timeout-frac=" .. tostring(e4))
EOF
run_sshs "$TMP/fields.sshs"
expect_rc 0 "pcall catches a command failure"
expect_out_has "type=table" "the error is a table"
expect_out_has "fields=out|err|4|nil|false|sh -c 'printf out; printf err >&2; exit 4'|local|number" \
  "the error carries stdout, stderr, exitcode, signal, ok, cmd, host, duration"
expect_out_has "tostring=$TMP/fields.sshs:2: command failed on local (exit 4): sh -c 'printf out; printf err >&2; exit 4'
  err" "tostring(err) is the message, with the stderr head"
expect_out_has "message-same=true" "tostring(err) == err.message"
expect_out_has "signal=$TMP/fields.sshs:11: command failed on local (killed by signal TERM): kill -TERM \$\$" \
  "killed command: (killed by signal TERM)"
expect_out_has "timeout=$TMP/fields.sshs:16: command failed on local (timed out after 0.2s): sleep 60" \
  "timed-out command: (timed out after Ns)"
expect_out_has "timeout-frac=$TMP/fields.sshs:22: command failed on local (timed out after 1.5s): sleep 60" \
  "timed-out command: fractional seconds as given"

# --- Lua errors
script luaerr.sshs <<'EOF'
$[[
true
]]
local t = nil
local v = t.field
EOF
run_sshs "$TMP/luaerr.sshs"
expect_rc 1 "uncaught Lua error: exit 1"
expect_err_has "$TMP/luaerr.sshs:5: attempt to index a nil value" "uncaught Lua error: FILE:LINE after a multi-line block"
run_sshs -e 'error("from -e")'
expect_rc 1 "-e: uncaught error exit 1"
expect_err_has "(command line):1: from -e" "-e: the error names (command line):LINE"
run_sshs -e 'error({code = 1})'
expect_rc 1 "uncaught table error without message: exit 1"
run_sshs -e 'error()'
expect_rc 1 "uncaught nil error: exit 1"
case "$err" in *"table index"*) not_ok "uncaught nil error: no internal error text" "$(show)";;
  *) ok "uncaught nil error: no internal error text";; esac

# --- a thread's error that reaches nobody
run_sshs -e 'thread(function() error("lost-error") end)
print("main-done")'
expect_rc 1 "unjoined failed thread: exit status 1"
expect_out "main-done" "unjoined failed thread: main ran to its end"
expect_err_has "a thread failed and nobody joined it" "unjoined failed thread: reported at exit"
expect_err_has "(command line):1: lost-error" "unjoined failed thread: with its error"

run_sshs -e 'local h = thread(function() error("seen") end)
pcall(h.join, h)
print("joined")'
expect_rc 0 "a failed thread that was joined is not reported at exit"
case "$err" in *"nobody joined"*) not_ok "no 'nobody joined' report after a join" "$(show)";;
  *) ok "no 'nobody joined' report after a join";; esac

# --- the process waits for threads; a failing main chunk ends the run
run_sshs -e 'thread(function() sleep(0.2); print("late-thread") end)
print("main-end")'
expect_rc 0 "main returns: threads still finish, exit 0"
expect_out "main-end
late-thread" "main returns: the process waits for every thread"

run_sshs -e "thread(function()
  \$ sleep 9$MARK.1
  print('thread-finished')
end)
thread(function() sleep(0.5); print('late-print') end)
sleep(0.2)
error('main-fails')"
expect_rc 1 "main fails while threads run: exit 1"
case "$out" in *late-print*|*thread-finished*) not_ok "main fails: the run ends (other threads stop)" "$(show)";;
  *) ok "main fails: the run ends (other threads stop)";; esac
expect_err_has "(command line):7: main-fails" "main fails: its message is shown"
no_leftover "sleep 9$MARK.1" "main fails: other threads' commands are killed"

# --- a thread that raises nil or NaN: the joiner gets it, the interpreter goes on
run_sshs -e 'local h = thread(function() error() end)
local ok, e = pcall(h.join, h)
print("after", ok, e)
local h2 = thread(function() error(0/0) end)
local ok2, e2 = pcall(h2.join, h2)
print("after2", ok2, e2 ~= e2)'
expect_rc 0 "a thread raising nil / NaN: the joiner catches it, exit 0"
expect_out "after	false	nil
after2	false	true" "a thread raising nil / NaN: joiner gets the value"

# --- join on a thread that errored, uncaught
run_sshs -e 'local h = thread(function() error("th-err") end)
sleep(0.05)
h:join()
print("unreached")'
expect_rc 1 "join re-raises a thread's error: uncaught, exit 1"
expect_err_has "(command line):1: th-err" "join re-raises a thread's error: its message"
case "$out$err" in *unreached*|*"nobody joined"*) not_ok "join re-raises: nothing after, not double-reported" "$(show)";;
  *) ok "join re-raises: nothing after, not double-reported";; esac
