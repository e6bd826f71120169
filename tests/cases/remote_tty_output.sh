#!/usr/bin/env bash
# Output on a terminal (through a pty made by script(1)): with -H the progress line is drawn
# on stderr, and every output line must be written around it without stray bytes (issue 9
# item 3: an error line was followed by raw heap bytes).
source "$TESTROOT/remote_lib.sh"
plan 4

# tty_run NAME SSHS-ARGS...: runs sshs on a pty; the terminal's bytes in $TMP/NAME.tty.
tty_run() {
  local name=$1; shift
  local cmd; printf -v cmd '%q ' "$SSHS" "$@"
  # script(1) runs the line with $SHELL: bash, which reads the %q quoting ($'…'); CI may
  # have no SHELL, and /bin/sh (dash) would pass $'…' on with its backslashes.
  SHELL=/bin/bash HOME=$SSHS_TEST_HOME timeout -k 3 60 script -qec "$cmd" /dev/null < /dev/null > "$TMP/$name.tty" 2>&1
}

# Lines of the terminal output with the status-line control sequences and CRs taken out.
clean() { sed -e 's/\x1b\[K//g' -e 's/\r/\n/g' "$1" | grep -av '^$'; }

tty_run err -H 127.0.0.1 -e 'sleep(1.5) error("boom")'
if grep -zaPq '127\.0\.0\.1: \(command line\):1: boom\r\n(\r\x1b\[K)?(\[0/1 done|sshs: 1 host)' "$TMP/err.tty"; then
  ok "a host's error line on a terminal is followed by the redrawn status line, nothing else"
else
  not_ok "a host's error line on a terminal is followed by the redrawn status line, nothing else" \
    "$(cat -v "$TMP/err.tty")"
fi
if LC_ALL=C grep -aqP '[^\x09\x0a\x0d\x1b\x20-\x7e]' "$TMP/err.tty"; then
  not_ok "no byte outside printable text and escapes on the terminal" "$(cat -v "$TMP/err.tty")"
else
  ok "no byte outside printable text and escapes on the terminal"
fi

tty_run lines -H 127.0.0.1,127.0.0.2 -e $'sleep(1.2)\n$ printf "a\\nb\\n"\nprint("p")'
got=$(clean "$TMP/lines.tty" | grep -av '^\[' | grep -av '^sshs: ' | sort)
want=$(printf '127.0.0.1: a\n127.0.0.1: b\n127.0.0.1: p\n127.0.0.2: a\n127.0.0.2: b\n127.0.0.2: p\n' | sort)
if [ "$got" = "$want" ]; then ok "prefixed output lines on a terminal are whole and in order per host"
else not_ok "prefixed output lines on a terminal are whole and in order per host" "got: $got" "$(cat -v "$TMP/lines.tty")"; fi

tty_run plain -e '$ printf "x\ny\n"'
if [ "$(clean "$TMP/plain.tty")" = $'x\ny' ]; then ok "a local command's output on a terminal"
else not_ok "a local command's output on a terminal" "$(cat -v "$TMP/plain.tty")"; fi
