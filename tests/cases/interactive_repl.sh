# The REPL through a real terminal (tmux): expressions, continuation, errors, history, Tab,
# Ctrl-C at the prompt and on local and remote commands, the prompt after connect, -i,
# Ctrl-D, and the fleet REPL on 5 addresses of the test server.
source "$TESTROOT/remote_lib.sh"
source "$TESTROOT/tmux_lib.sh"
# single_ctrl_c: a Ctrl-C that must count as a first one: more than a second after the one
# before (a second within a second interrupts everything). A lower bound, not a wait.
single_ctrl_c() { sleep 1.2; tm_send C-c; }
plan 57
CLEANUP+=("tm_stop")

# A private HOME (history file) that reaches the test server like $SSHS_TEST_HOME does.
H=$TMP/home
mkdir -p "$H" "$TMP/local" "$TMP/rdir"
cp -r "$SSHS_TEST_HOME/.ssh" "$H/.ssh"
touch "$TMP/rdir/uniquefile_abc" "$TMP/local/localonly_file"
mkdir -p "$TMP/rdir/my dir" && touch "$TMP/rdir/my dir/spaced file_x"
mkdir -p "$TMP/rdir/c++dir" && touch "$TMP/rdir/c++dir/inner_file"
# A local folder named like the remote file: completion must not look at the local disk.
mkdir -p "$TMP/local/uniquefile_abc"
run_repl() { tm_start "cd '$TMP/local' && HOME='$H' '$SSHS' $*; echo EXIT=\$?"; }

run_repl ""
tm_expect "REPL starts on a terminal with the prompt 'sshs> '" '^sshs>$'
tm_type 'x = 6 * 7'
tm_type 'x'
tm_expect "an expression line prints its value" '^42$'
tm_type '{1, "a", {k = true}, n = 2}'
tm_expect "tables are pretty-printed" '^\{1, "a", \{k = true\}, n = 2\}$'
tm_type 'for i = 1, 2 do'
tm_expect "an unfinished statement gets the continuation prompt" '^>>$'
tm_type 'print("it" .. i) end'
tm_expect "the whole statement runs once complete" '^it2$'
tm_type 'error("boom")'
tm_expect "an error prints with its location" '^stdin:1: boom$'
tm_type 'x + 1'
tm_expect "the REPL goes on after an error" '^43$'
tm_type 'y = = 1'
tm_expect "a syntax error is reported" "unexpected symbol near '='"
tm_type '$ echo live output'
tm_expect '$ cmd at the prompt shows its output' '^live output$'
tm_type '$(echo substituted)'
tm_expect '$(cmd) prints its value' '^substituted$'
tm_settle
tm_send 'string.up' Tab
tm_expect "Tab completes a library function (string.up -> string.upper)" 'sshs> string\.upper$'
tm_send C-u
tm_send 'abc'
tm_wait_last 'sshs> abc$'
tm_send C-c
tm_wait_last '^sshs>$'
tm_type '2 + 2'
tm_expect "Ctrl-C at the prompt clears the line" '^4$'
if tm_screen | grep -q 'abc2'; then not_ok "the cleared text is gone" "$(tm_screen | tail -5)"; else ok "the cleared text is gone"; fi
tm_type 'for i = 1, 2 do'
tm_wait_last '^>>$'
tm_send C-c
tm_wait_last '^sshs>$'
tm_type '3 + 3'
tm_expect "Ctrl-C at the continuation prompt drops the unfinished chunk" '^6$'
tm_type "\$ sleep 4711$$; echo late"
wait_proc "^sleep 4711$$\$"
single_ctrl_c
tm_expect "Ctrl-C stops a local command and says so" '^interrupted$'
tm_type '"still here"'
tm_expect "and returns to the prompt" '^still here$'
wait_gone "sleep 4711$$\b"
no_leftover "sleep 4711$$\b" "the local command's process is gone after Ctrl-C"
tm_screen | grep -q '^late$' && not_ok "the command after the sleep never ran" || ok "the command after the sleep never ran"

# A thread started at the prompt runs on while you type and survives a Ctrl-C on a command.
tm_type 'bg = thread(function() sleep(2.5); print("bg-done") end)'
tm_type "\$ sleep 4718$$"
wait_proc "^sleep 4718$$\$"
single_ctrl_c
tm_expect "Ctrl-C on a command..." '^interrupted$'
tm_expect "... leaves a thread started earlier running (it finishes later)" '^bg-done$'
# A chunk busy in Lua never waits: two Ctrl-Cs in a row interrupt it.
tm_type 'print("busy-" .. "start") while true do end'
tm_wait '^busy-start$'
# The second Ctrl-C counts only within a second of the first; on a loaded machine tmux can
# deliver two further apart (each then counts as a first), so Ctrl-C goes every 0.2 s until
# the prompt is back (one that reaches the prompt only starts a new line).
for ((n = 0; n < 100; n++)); do
  tm_send C-c
  sleep 0.2
  tm_screen | grep -v '^$' | tail -n 1 | grep -Eq '^sshs>$' && break
done
tm_wait_last '^sshs>$'
tm_type '"after-busy"'
tm_expect "two Ctrl-Cs stop a chunk busy in Lua and the REPL goes on" '^after-busy$'

# Sessions: the prompt, remote commands, remote path completion, Ctrl-C on a remote command.
tm_type 's = connect("127.0.0.2")'
tm_expect "connect() at the prompt shows the session in the prompt" '^sshs 127\.0\.0\.2>$'
tm_type '$ echo "conn=$SSH_CONNECTION"'
tm_expect "commands then run on that session" '^conn=.* 127\.0\.0\.2 [0-9]+$'
tm_type "cd \"$TMP/rdir\""
tm_expect "cd at the prompt stays and shows in the prompt" "^sshs 127\\.0\\.0\\.2:$TMP/rdir>\$"
tm_settle
tm_send '$ ls uniq' Tab
tm_expect "Tab completes a path on the remote session (in its cd)" 'ls uniquefile_abc$'
tm_send C-u
tm_settle
tm_send '$ ls c++' Tab
tm_expect "a shell word goes on past + (c++dir/)" 'ls c\+\+dir/$'
tm_send 'inn' Tab
tm_expect "... and completes inside it" 'ls c\+\+dir/inner_file$'
tm_send C-u
tm_settle
tm_send '$ ls my' Tab
tm_expect "Tab inserts a remote folder with a space quoted (my\\ dir/)" 'ls my\\ dir/$'
tm_send 'spa' Tab
tm_expect "... and completes inside it (the escaped space does not end the word)" 'ls my\\ dir/spaced\\ file_x$'
tm_send C-u
tm_settle
tm_send '$ ls localo' Tab
sleep 1.5
tm_send Tab
sleep 0.5
if tm_screen | grep -q 'localonly_file'; then not_ok "local files are not offered on a remote session" "$(tm_screen | tail -5)"
else ok "local files are not offered on a remote session"; fi
tm_send C-u
tm_settle
tm_send 's:al' Tab
tm_expect "Tab completes methods of a session (s:al -> s:alive)" 's:alive$'
tm_send C-u
tm_settle
# Inside "$(" a word is a shell word and a remote path; after its ")", Lua again.
tm_send 'x = $(ls c++' Tab
tm_expect "Tab inside \$( completes a remote path (one shell word past +)" 'x = \$\(ls c\+\+dir/$'
tm_send C-u
tm_settle
tm_send 'x = $(ls c++dir) .. s:al' Tab
tm_expect "... and after its ), Lua names again" 'x = \$\(ls c\+\+dir\) \.\. s:alive$'
tm_send C-u
tm_type "\$ sleep 4712$$; echo late2"
wait_proc "^sleep 4712$$\$"
single_ctrl_c
tm_expect "Ctrl-C stops a remote command" '^interrupted$' 
tm_type '$ echo after-remote-stop'
tm_expect "the session still works after Ctrl-C" '^after-remote-stop$'
wait_gone "sleep 4712$$\b"
no_leftover "sleep 4712$$\b" "the remote command is gone after Ctrl-C"
tm_type 'close()'
tm_expect "close() pops the session: the prompt is local again" '^sshs>$'
# A connection that dies under the prompt: said so, and the session is popped.
tm_type 'connect("127.0.0.5")'
tm_wait_last '^sshs 127\.0\.0\.5>$'
# The server's side of this connection: the sshd process that runs its commands (their
# parent) holds the connection; killing it drops the connection.
tm_type '$ echo "sshd-pid=$PPID"'
tm_wait '^sshd-pid=[0-9]+$'
spid=$(tm_screen | grep -o '^sshd-pid=[0-9]*' | tail -n 1 | cut -d= -f2)
case "$(ps -o args= -p "$spid" 2>/dev/null)" in "sshd: "*@*) kill "$spid";; esac
sleep 1
tm_type '$ echo on-a-dead-connection'
tm_expect "a dead connection at the prompt says so and pops the session" 'connection to .*127\.0\.0\.5 is gone.*session closed'
tm_wait_last '^sshs>$'
tm_type '"popped"'
tm_expect "... and the prompt is local again" '^popped$'
tm_type 'cd "/nonexistent-sshs-dir"'
tm_expect "cd to a missing folder at the prompt is reported" 'cd /nonexistent-sshs-dir'
tm_settle
tm_send C-d
tm_expect "Ctrl-D leaves with status 0" '^EXIT=0$'
if grep -q '^x = 6 \* 7$' "$H/.sshs_history" && grep -q '^print("it" .. i) end$' "$H/.sshs_history"; then
  ok "history is written to ~/.sshs_history (multi-line chunks too)"
else not_ok "history is written to ~/.sshs_history (multi-line chunks too)" "$(cat "$H/.sshs_history" 2>&1)"; fi
grep -q '^y = = 1$' "$H/.sshs_history" && ok "a line with a syntax error stays in history" \
  || not_ok "a line with a syntax error stays in history"

# History is read back: Up arrow brings the last chunk.
run_repl ""
tm_wait '^sshs>$'
tm_send Up
tm_expect "history is read back at the next start (Up)" 'sshs> cd "/nonexistent-sshs-dir"$'
tm_send C-u C-d
tm_wait '^EXIT='

# -i: the script's globals and session stack stay.
cat > "$TMP/setup.sshs" <<'EOS'
g = 41
connect("127.0.0.3")
EOS
run_repl "-i '$TMP/setup.sshs'"
tm_expect "-i enters the REPL with the script's session still pushed" '^sshs 127\.0\.0\.3>$'
tm_type 'g + 1'
tm_expect "-i keeps the script's globals" '^42$'
tm_send C-d
tm_expect "-i: Ctrl-D leaves" '^EXIT=0$'

# The fleet REPL: -H with no script on a terminal.
run_repl "-H '127.0.0.[1-5]'"
tm_expect "the fleet REPL's prompt names the hosts" '^sshs 127\.0\.0\.\[1-5\]>$'
tm_type '$ echo same'
tm_expect "identical outputs of 5 hosts are gathered" '^127\.0\.0\.\[1-5\] \(5\)$'
tm_type 'n = 20'
tm_type 'n + 1'
tm_expect "globals persist per host and values print gathered" '^21$'
tm_type '$ echo "$SSH_CONNECTION" | grep -q " 127.0.0.3 "'
tm_expect "failures are summarised by host" 'failed +127\.0\.0\.\[1-2,4-5\] \(4\)'
tm_type ':-127.0.0.[4-5]'
tm_expect ":-NODES takes hosts out of the set" '^sshs 127\.0\.0\.\[1-3\]>$'
tm_type ':+127.0.0.5'
tm_expect ":+NODES adds and connects hosts" '^sshs 127\.0\.0\.\[1-3,5\]>$'
tm_type "\$ sleep 4713$$"
wait_proc "^sleep 4713$$\$" 4
single_ctrl_c
tm_expect "Ctrl-C stops the line on every host" 'interrupted +127\.0\.0\.\[1-3,5\] \(4\)'
wait_gone "sleep 4713$$\b"
no_leftover "sleep 4713$$\b" "no remote command left after Ctrl-C in the fleet REPL"
tm_send C-d
tm_expect "the fleet REPL leaves with Ctrl-D" '^EXIT=0$'

# Not a terminal: stdin is the script, as before.
out=$(echo 'print(6 * 7)' | HOME=$H "$SSHS" 2>&1)
[ "$out" = 42 ] && ok "stdin that is not a terminal is read as a script" \
  || not_ok "stdin that is not a terminal is read as a script" "$out"
