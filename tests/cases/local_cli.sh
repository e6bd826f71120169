# The command line (SPEC §7, issue 2): scripts and their arg table, -e, stdin, --emit-lua,
# --check, usage errors, -v, --version/--help, and -i / the REPL's entry.
source "$TESTROOT/lib.sh"
plan 49

# --- a script and its arguments
script args.sshs <<'EOF'
#!/usr/bin/env sshs
print(arg[0], arg[1], arg[2], #arg, ...)
print(select("#", ...))
EOF
run_sshs "$TMP/args.sshs" one "two words"
expect_rc 0 "script with a #! line runs"
expect_out "$TMP/args.sshs	one	two words	2	one	two words
2" "arg[0] is the script, arg[1..] its arguments, also passed as ..."
run_sshs -v "$TMP/args.sshs" x
expect_out_has "$TMP/args.sshs	x	nil	1	x" "arg after options"
printf 'print(arg[-1], arg[-2] ~= nil, arg[0])\n' > "$TMP/neg.sshs"
run_sshs -v "$TMP/neg.sshs"
expect_out "-v	true	$TMP/neg.sshs" "arg[-1], arg[-2]: the interpreter and its options, as in lua.c"

# --- -e
run_sshs -e 'print("sum", 1 + 2)'
expect_out "sum	3" "-e runs a chunk"
run_sshs -e 'print($?(true), $?(false), $?(exit 3), $.exitcode)'
expect_out "true	false	false	3" "-e with \$?( ) and \$.exitcode"
run_sshs -e 'print(#{1}, $(echo #{"a b"}))'
expect_out "1	a b" "-e with \$( ) and #{ }"
run_sshs -e 'print(...)' a b
expect_out "a	b" "-e: extra arguments are passed as ..."
run_sshs -e 'os.exit($?(false) and 0 or 5)'
expect_rc 5 "-e: os.exit sets the exit status"
run_sshs -e '$ echo live'
expect_out "live" "-e: statement form shows output"

# --- script from stdin
printf 'print("from stdin", $(echo piped))\n' | "$SSHS" > "$TMP/out" 2> "$TMP/err"; rc=$?
out=$(cat "$TMP/out"); err=$(cat "$TMP/err")
expect_rc 0 "script from stdin: exit 0"
expect_out "from stdin	piped" "script from stdin (not a terminal), with sugar"
printf 'print(...)\n' | "$SSHS" - x y > "$TMP/out" 2> "$TMP/err"; rc=$?
out=$(cat "$TMP/out"); err=$(cat "$TMP/err")
expect_out "x	y" "'-' reads the script from stdin, with arguments"
printf 'print(1\n' | "$SSHS" > "$TMP/out" 2> "$TMP/err"; rc=$?
out=$(cat "$TMP/out"); err=$(cat "$TMP/err")
expect_rc 1 "script from stdin with a syntax error: exit 1"
expect_err_has "stdin:" "script from stdin: errors name stdin"

# --- commands do not read sshs's stdin
echo "should-not-be-read" | "$SSHS" -e 'print("[" .. $(cat) .. "]")' > "$TMP/out" 2> "$TMP/err"; rc=$?
out=$(cat "$TMP/out")
expect_out "[]" "a command's stdin is /dev/null, not sshs's stdin"

# --- .lua scripts have no sugar
printf 'print("plain lua")\n$ echo x\n' > "$TMP/plain.lua"
run_sshs "$TMP/plain.lua"
expect_rc 1 ".lua script: sugar is a syntax error"
expect_err_has "plain.lua:2:" ".lua script: reported at its line"
printf '#!/usr/bin/env sshs\nprint("lua ok", _SSHS ~= nil)\nprint(debug.getinfo(1, "l").currentline)\n' > "$TMP/ok.lua"
run_sshs "$TMP/ok.lua"
expect_out "lua ok	true
3" ".lua script with #! runs, line numbers kept"

# --- --emit-lua
script emit.sshs <<'EOF'
local x = "v"
$ echo #{x} \
  more
local r = $[[
  echo block
]]
print($(echo sub), $?(true))
EOF
run_sshs --emit-lua "$TMP/emit.sshs"
expect_rc 0 "--emit-lua: exit 0"
if [ "$(printf '%s\n' "$out" | wc -l)" = "$(wc -l < "$TMP/emit.sshs")" ]; then ok "--emit-lua keeps the number of lines"
else not_ok "--emit-lua keeps the number of lines" "$(show)"; fi
printf '%s\n' "$out" > "$TMP/emitted.lua"
if luac5.4 -p "$TMP/emitted.lua" 2> "$TMP/luac.err"; then ok "--emit-lua prints valid Lua"
else not_ok "--emit-lua prints valid Lua" "$(cat "$TMP/luac.err")" "$(show)"; fi
case "$out" in *'$['*|*'$('*|*'#{'*) not_ok "--emit-lua: no sugar left" "$(show)";; *) ok "--emit-lua: no sugar left";; esac
case "$out" in *"echo block"*) ok "--emit-lua: the command text is in the output";;
  *) not_ok "--emit-lua: the command text is in the output" "$(show)";; esac
run_sshs --emit-lua -e '$ echo hi'
expect_out_has "echo hi" "--emit-lua with -e"
printf 'x = 1\n$(echo\n' > "$TMP/emitbad.sshs"
run_sshs --emit-lua "$TMP/emitbad.sshs"
expect_rc 1 "--emit-lua on a sugar error: exit 1"
expect_err_has "$TMP/emitbad.sshs:2:" "--emit-lua on a sugar error: FILE:LINE"

# --- --check
printf '$ touch %s/ran\nprint("ran")\n' "$TMP" > "$TMP/good.sshs"
run_sshs --check "$TMP/good.sshs"
expect_rc 0 "--check: a good file exits 0"
expect_out "" "--check: prints nothing for a good file"
if [ -e "$TMP/ran" ]; then not_ok "--check does not run the script"; else ok "--check does not run the script"; fi
printf 'print(1)\nprint(2\nprint(3)\n' > "$TMP/bad.sshs"
run_sshs --check "$TMP/bad.sshs"
expect_rc 1 "--check: a bad file exits 1"
expect_err_has "$TMP/bad.sshs:3:" "--check: FILE:LINE: message"

# --- usage errors
run_sshs --no-such-option
expect_rc 2 "unknown option: exit 2"
expect_err_has "no-such-option" "unknown option: named"
expect_err_has "Try 'sshs --help' for more information." "unknown option: a hint to --help (not the whole help)"
run_sshs -e
expect_rc 2 "-e without its argument: exit 2"
run_sshs -f zero "$TMP/good.sshs"
expect_rc 2 "-f with a bad number: exit 2"
run_sshs -i "$TMP/good.sshs"
expect_rc 2 "-i without a terminal on stdin: exit 2"
expect_err_has "needs a terminal" "-i without a terminal: says why"
run_sshs --version
expect_rc 0 "--version: exit 0"
expect_out_has "sshs" "--version names sshs"
run_sshs --help
expect_rc 0 "--help: exit 0"
expect_out_has "usage" "--help prints usage on stdout"

# --- no script, stdin a terminal: the REPL (tests/cases/interactive_repl.sh drives it)
if command -v script > /dev/null; then
  # Until the prompt shows (60 s at most), then stopped: whether script(1) passes on the EOF
  # of its stdin to a REPL in raw mode depends on timing.
  timeout 60 script -qec "HOME='$TMP' '$SSHS'; echo RC=\$?" /dev/null < /dev/null > "$TMP/tty" 2>&1 &
  spid=$!
  for _ in $(seq 1 600); do grep -q 'sshs> ' "$TMP/tty" && break; kill -0 $spid 2>/dev/null || break; sleep 0.1; done
  kill $spid 2>/dev/null; wait $spid 2>/dev/null
  tty_out=$(tr -d '\r' < "$TMP/tty")
  case "$tty_out" in *"sshs> "*) ok "no script on a terminal: the REPL prompt";;
    *) not_ok "no script on a terminal: the REPL prompt" "$tty_out";; esac
fi

# --- -v and the live / quiet forms
script verbose.sshs <<'EOF'
local r = $ echo value-form
local s = $(echo sub-form)
run("echo run-form")
$ echo statement-form
run("echo shown-run", {show = true})
$[[
echo block-statement
]]
local b = $[[
echo block-value
]]
EOF
run_sshs "$TMP/verbose.sshs"
expect_out "statement-form
shown-run
block-statement" "without -v: only statement forms (and run with show=true) show output"
if [ -z "$err" ]; then ok "without -v: stderr is empty"; else not_ok "without -v: stderr is empty" "$(show)"; fi
run_sshs -v "$TMP/verbose.sshs"
expect_out "value-form
sub-form
run-form
statement-form
shown-run
block-statement
block-value" "-v: every command's output is shown"
expect_err_has "\$ echo value-form" "-v: commands are echoed on stderr"
expect_err_has "\$ echo statement-form" "-v: statement commands are echoed too"
