# shell() through a real terminal (tmux): the user's terminal bridged to a shell on a pty,
# locally ($SHELL) and on a remote session: typing, the window size and its changes, Ctrl-C
# going to the shell (not sshs), exit returning to the REPL with the terminal restored.
source "$TESTROOT/remote_lib.sh"
source "$TESTROOT/tmux_lib.sh"
CLEANUP+=("tm_stop")
plan 13

H=$TMP/home
mkdir -p "$H"
cp -r "$SSHS_TEST_HOME/.ssh" "$H/.ssh"
tm_start "cd '$TMP' && HOME='$H' SHELL=/bin/sh PS1='lsh\$ ' '$SSHS'; echo EXIT=\$?"
tm_wait_last '^sshs>$'
tm_type 'shell()'
tm_wait_last '^lsh\$$'
tm_type 'echo in-local-shell $((6 * 7)); stty size'
tm_expect "shell(): a local shell takes what is typed" '^in-local-shell 42$'
tm_expect "shell(): the pty has the terminal's size" '^50 160$'
tm_type "sleep 4716$$"
wait_proc "^sleep 4716$$\$"
tm_send C-c
tm_wait_last '^lsh\$$'
tm_type 'echo still-in-shell'
tm_expect "shell(): Ctrl-C goes to the shell's command, the shell goes on" '^still-in-shell$'
tm resize-window -t t -x 120 -y 30 2>/dev/null
# The new size reaches the pty when sshs has handled SIGWINCH: ask until it has (60 s at most).
for _ in $(seq 1 30); do tm_type 'stty size'; tm_wait '^30 120$' 2 && break; done
tm_expect "shell(): a change of the window's size reaches the pty" '^30 120$'
tm_type 'exit'
tm_expect "shell(): exit returns to the REPL" '^sshs>$'
tm_type '6 * 7'
tm_expect "the terminal is restored after shell() (the REPL reads lines again)" '^42$'

tm_type 's = connect("127.0.0.2")'
tm_wait_last '^sshs 127\.0\.0\.2>$'
tm_type 'shell()'
sleep 1
tm_type 'echo "remote=$SSH_CONNECTION"'
tm_expect "shell() on a remote session runs there" '^remote=.* 127\.0\.0\.2 [0-9]+$'
tm_type "sleep 4717$$"
wait_proc "^sleep 4717$$\$"
tm_send C-c
wait_gone "^sleep 4717$$\$"
tm_type 'echo remote-still'
tm_expect "shell(): Ctrl-C goes to the remote side" '^remote-still$'
tm_type 'exit'
tm_expect "exit from the remote shell returns to the REPL" '^sshs 127\.0\.0\.2>$'
tm_type '$ echo session-ok'
tm_expect "the session still works after shell()" '^session-ok$'
tm_send C-d
tm_expect "the REPL leaves with Ctrl-D" '^EXIT=0$'
wait_gone "sleep 471[67]$$\b"
no_leftover "sleep 471[67]$$\b" "no command of the shells is left running"

out=$(echo 'shell()' | HOME=$H "$SSHS" 2>&1)
case "$out" in *"needs a terminal"*) ok "shell() without a terminal says it needs one";;
  *) not_ok "shell() without a terminal says it needs one" "$out";; esac
