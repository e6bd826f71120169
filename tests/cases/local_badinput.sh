# Bad input (issue 2): each is reported cleanly (FILE:LINE, exit 1), never crashes the
# interpreter (no exit status from a signal) and leaves no child process behind.
source "$TESTROOT/lib.sh"
plan 58

MARK=8$$$RANDOM
n=0
# clean NAME: exit 1 (not a crash), the expected text on stderr, and nothing left running.
clean() { # $1 name, $2 stderr text
  expect_rc 1 "$1: exit status 1"
  expect_err_has "$2" "$1: reported as '$2'"
  case "$err" in *AddressSanitizer*|*"runtime error:"*|*Segmentation*|*Aborted*)
    not_ok "$1: no crash" "$(show)";; *) ;; esac
}
# A thread with a running command the bad input must not leave behind.
bg() { n=$((n + 1)); echo "thread(function() \$ sleep 9$MARK.$n
end) sleep(0.1)"; }

# --- preprocessor and Lua syntax errors (reported before anything runs)
script syntax.sshs <<'EOF'
$[[
echo a
echo b
]]
local s = "$(not sugar"
$ echo x \
  y
local t = $(echo (a))
if then
EOF
run_sshs "$TMP/syntax.sshs"
clean "Lua syntax error" "$TMP/syntax.sshs:9: unexpected symbol near 'then'"
expect_out "" "Lua syntax error: nothing runs"
run_sshs --check "$TMP/syntax.sshs"
clean "--check: Lua syntax error" "$TMP/syntax.sshs:9:"

printf 'print(1)\n\n$[[\necho a\n' > "$TMP/u1.sshs"
run_sshs "$TMP/u1.sshs"
clean "unterminated \$[[" "$TMP/u1.sshs:3: unterminated \$[[ block"
run_sshs --check "$TMP/u1.sshs"
clean "--check: unterminated \$[[" "$TMP/u1.sshs:3:"

printf 'local a = 1\nlocal b = $[==[\necho ]]\n' > "$TMP/u1b.sshs"
run_sshs "$TMP/u1b.sshs"
clean "unterminated \$[==[" "$TMP/u1b.sshs:2: unterminated \$[==[ block"

printf 'x = 1\n-- $( in a comment\nprint($(echo a\nb\n' > "$TMP/u2.sshs"
run_sshs "$TMP/u2.sshs"
clean "\$( without )" "$TMP/u2.sshs:3: unterminated \$( ... )"

printf 'print($(echo ")"))\nif $?(test -f "x)" then end\n' > "$TMP/u2b.sshs"
run_sshs "$TMP/u2b.sshs"
clean "\$?( without ) (quote inside)" "$TMP/u2b.sshs:2: unterminated \$?( ... )"

printf '\n\n\n$ echo #{x\nprint(2)\n' > "$TMP/u3.sshs"
run_sshs "$TMP/u3.sshs"
clean "#{ without }" "$TMP/u3.sshs:4: unterminated #{ interpolation"
run_sshs --check "$TMP/u3.sshs"
clean "--check: #{ without }" "$TMP/u3.sshs:4:"

run_sshs -e 'print(1)
$(echo'
clean "-e: \$( without )" "(command line):2: unterminated \$( ... )"

# --- a missing script
run_sshs "$TMP/does-not-exist.sshs"
clean "missing script" "does-not-exist.sshs"
run_sshs --check "$TMP/does-not-exist.sshs"
expect_rc 1 "--check on a missing script: exit 1"

# --- a command that is not found / not executable
{ bg; echo '$ no_such_command_sshs_x arg'; } > "$TMP/notfound.sshs"
run_sshs "$TMP/notfound.sshs"
clean "command not found" "$TMP/notfound.sshs:3: command failed on local (exit 127): no_such_command_sshs_x arg"
expect_err_has "no_such_command_sshs_x: not found" "command not found: the shell's message is in the error"
no_leftover "sleep 9$MARK.$n" "command not found: no child left behind"

run_sshs -e 'local r = run("no_such_command_sshs_y", {check = false})
print(r.exitcode, (r.stderr:gsub("\n", "")))
local r2 = run("no_such_command_sshs_y | cat", {check = false})
print(r2.exitcode)'
expect_out "127	sh: 1: no_such_command_sshs_y: not found
0" "command not found: exit 127 and the shell's stderr (simple and piped)"

printf 'echo hi\n' > "$TMP/noexec.sh"; chmod 644 "$TMP/noexec.sh"
run_sshs -e "local r = run('$TMP/noexec.sh', {check = false}); print(r.exitcode, r.stderr ~= '')
local r2 = run('$TMP', {check = false}); print(r2.exitcode)"
expect_out "126	true
126" "not executable / a folder: exit 126 with a message"

# --- interpolation of nil and NUL
{ bg; echo 'local host'; echo '$ echo #{host}'; } > "$TMP/nil.sshs"
run_sshs "$TMP/nil.sshs"
clean "nil interpolation" "$TMP/nil.sshs:4: #{host} is nil"
no_leftover "sleep 9$MARK.$n" "nil interpolation: no child left behind"
case "$out$err" in *"command failed"*) not_ok "nil interpolation: the command does not run" "$(show)";;
  *) ok "nil interpolation: the command does not run";; esac

printf 'local t = {}\nlocal x = $[[\necho a\necho #{t.missing}\n]]\n' > "$TMP/nil2.sshs"
run_sshs "$TMP/nil2.sshs"
clean "nil interpolation in a block" "$TMP/nil2.sshs:4: #{t.missing} is nil"

{ bg; echo 'local s = "a\0b"'; echo '$ echo #{s}'; } > "$TMP/nul.sshs"
run_sshs "$TMP/nul.sshs"
clean "NUL interpolation" "$TMP/nul.sshs:4: #{s}"
expect_err_has "NUL" "NUL interpolation: the message mentions NUL"
no_leftover "sleep 9$MARK.$n" "NUL interpolation: no child left behind"

run_sshs -e 'local t = {"ok", "b\0d"}
print(pcall(function() return $(echo #{t}) end))'
expect_rc 0 "NUL in an array element: catchable"
expect_out_has "NUL" "NUL in an array element: error mentions NUL"

# --- join on a thread that errored
{ bg; echo 'local h = thread(function() error("worker broke") end)'; echo 'h:join()'; } > "$TMP/join.sshs"
run_sshs "$TMP/join.sshs"
clean "join on a thread that errored" "$TMP/join.sshs:3: worker broke"
no_leftover "sleep 9$MARK.$n" "join on a thread that errored: no child left behind"

# --- sleep with a bad argument
{ bg; echo 'sleep(-1)'; } > "$TMP/sleepneg.sshs"
run_sshs "$TMP/sleepneg.sshs"
clean "sleep(-1)" "$TMP/sleepneg.sshs:3: sleep"
no_leftover "sleep 9$MARK.$n" "sleep(-1): no child left behind"
{ bg; echo 'sleep("later")'; } > "$TMP/sleepstr.sshs"
run_sshs "$TMP/sleepstr.sshs"
clean "sleep(\"later\")" "$TMP/sleepstr.sshs:3: sleep"
no_leftover "sleep 9$MARK.$n" "sleep(\"later\"): no child left behind"
{ bg; echo 'sleep({})'; } > "$TMP/sleeptbl.sshs"
run_sshs "$TMP/sleeptbl.sshs"
clean "sleep({})" "$TMP/sleeptbl.sshs:3: sleep"

# --- cd into a folder that does not exist (under setsid: a bad kill must not reach this test)
cat > "$TMP/nocd.sshs" <<EOF
local ok, e = pcall(function()
  with cd("$TMP/no-such-dir") do
    local r = \$ ls
  end
end)
print("caught", ok)
print("message", tostring(e))
with cd("$TMP/no-such-dir") do
  \$ ls
end
EOF
setsid -w "$SSHS" "$TMP/nocd.sshs" > "$TMP/out" 2> "$TMP/err" < /dev/null; rc=$?
out=$(cat "$TMP/out"); err=$(cat "$TMP/err")
expect_rc 1 "cd into a missing folder: exit 1 (not killed)"
expect_out_has "caught	false" "cd into a missing folder: pcall catches it"
expect_out_has "message	$TMP/nocd.sshs:3:" "cd into a missing folder: error at the script's FILE:LINE"
expect_err_has "$TMP/nocd.sshs:9:" "cd into a missing folder: uncaught, reported at FILE:LINE"
expect_err_has "no-such-dir" "cd into a missing folder: the message names the folder"
