# Driving sshs through a real terminal: a private tmux server (its own socket, killed at exit),
# one window, keys sent with send-keys, the screen read back with capture-pane.
# Sourced by tests/cases/interactive_*.sh after lib.sh / remote_lib.sh (not a test file itself).
#
#   tm_start CMD          run CMD (a shell command line) in a fresh 160x50 window
#   tm_send KEYS...       tmux send-keys (literal text, Enter, Tab, C-c, C-d …)
#   tm_type TEXT          TEXT typed literally, then Enter
#   tm_wait REGEX [SECS]  wait until the screen (with scrollback) matches REGEX (grep -E)
#   tm_screen             the screen and scrollback as text
#   tm_expect NAME REGEX [SECS]   a check: ok when the screen matches within SECS (default 60: a hang guard)
# Each tm_start gets a server of its own (a fresh socket): a server that is still shutting
# down must never take the next one's commands.
TM_N=0
TM_SOCK="sshs-interactive-$$-0"
tm() { tmux -L "$TM_SOCK" -f /dev/null "$@"; }
tm_stop() { tm kill-server >/dev/null 2>&1; }
tm_start() {
  tm_stop
  TM_N=$((TM_N + 1))
  # PIDs wrap quickly on a busy machine: the random part keeps a name from meeting a server
  # left by another run (its kill-server or its old command would be ours otherwise).
  TM_SOCK="sshs-interactive-$$-$RANDOM$RANDOM-$TM_N"
  tm_stop
  # The command line is bash (tests quote with %q); CI may run without SHELL, and tmux
  # would then use /bin/sh.
  SHELL=/bin/bash tm new-session -d -s t -x 160 -y 50 "$1" || return 1
  tm set-option -t t remain-on-exit on >/dev/null 2>&1
}
tm_send() { tm send-keys -t t "$@"; }
tm_type() { tm send-keys -t t -l "$1"; tm send-keys -t t Enter; }
tm_screen() { tm capture-pane -p -J -t t -S -2000 | sed 's/ *$//'; }
tm_wait() {
  local re=$1 secs=${2:-60} i
  for ((i = 0; i < secs * 10; i++)); do
    tm_screen | grep -Eq -- "$re" && return 0
    sleep 0.1
  done
  return 1
}
tm_expect() {
  if tm_wait "$2" "${3:-60}"; then ok "$1"
  else not_ok "$1" "screen lacks /$2/:" "$(tm_screen | grep -v '^$' | tail -n 25)"; fi
}
# Waits until the screen has not changed for a moment (the REPL is idle at a prompt).
tm_settle() {
  local a b i
  a=$(tm_screen)
  for ((i = 0; i < 50; i++)); do
    sleep 0.1
    b=$(tm_screen)
    [ "$a" = "$b" ] && return 0
    a=$b
  done
}
# Waits until the last non-empty line of the screen matches REGEX (e.g. a fresh prompt).
tm_wait_last() {
  local re=$1 secs=${2:-60} i
  for ((i = 0; i < secs * 10; i++)); do
    tm_screen | grep -v '^$' | tail -n 1 | grep -Eq -- "$re" && return 0
    sleep 0.1
  done
  return 1
}
