# Helpers for tests/cases/*.sh: each check prints "ok - name" or "not ok - name" plus why.
# Usage: run_sshs ARGS...  (sets $out, $err, $rc), then expect_* on them.
: "${SSHS:?SSHS must name the interpreter}"
TMP=$(mktemp -d /tmp/sshs-case.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

run_sshs() {
  "$SSHS" "$@" > "$TMP/out" 2> "$TMP/err" < /dev/null; rc=$?
  out=$(cat "$TMP/out"); err=$(cat "$TMP/err")
}
# plan N: the TAP plan, printed first: this file runs N checks (the runner fails it otherwise).
plan()   { echo "1..$1"; }
ok()     { echo "ok - $1"; }
# skip_checks N REASON: N checks that cannot run here, each reported as skipped with the reason.
skip_checks() { local i; for i in $(seq 1 "$1"); do echo "ok - skipped check $i of $1 # SKIP $2"; done; }
not_ok() { echo "not ok - $1"; shift; for l in "$@"; do printf '#   %s\n' "$l"; done; }
show()   { printf 'rc=%s\nstdout: %s\nstderr: %s' "$rc" "$out" "$err"; }
expect_rc()  { if [ "$rc" = "$1" ]; then ok "$2"; else not_ok "$2" "expected exit $1" "$(show)"; fi; }
expect_out() { if [ "$out" = "$1" ]; then ok "$2"; else not_ok "$2" "expected stdout: $1" "$(show)"; fi; }
expect_err_has() { case "$err" in *"$1"*) ok "$2";; *) not_ok "$2" "stderr lacks: $1" "$(show)";; esac; }
expect_out_has() { case "$out" in *"$1"*) ok "$2";; *) not_ok "$2" "stdout lacks: $1" "$(show)";; esac; }
# script FILE <<'EOF' ... : writes a script into the temp folder
script() { cat > "$TMP/$1"; }
# wait_proc PATTERN [N]: waits until N (1) processes match PATTERN (pgrep -f), at most 60 s (a
# hang guard; returns 1). wait_gone PATTERN: waits until none does, at most 30 s. A test waits
# for what it needs, never a fixed pause: a busy machine is slow. Patterns must be this run's
# own (another file, or another run of this file, may run at the same time): put $$ in them.
wait_proc() { local i; for ((i = 0; i < 600; i++)); do [ "$(pgrep -fc -- "$1")" -ge "${2:-1}" ] && return 0; sleep 0.1; done; return 1; }
wait_gone() { local i; for ((i = 0; i < 300; i++)); do pgrep -f -- "$1" > /dev/null || return 0; sleep 0.1; done; return 1; }
# no_leftover PATTERN NAME: passes when no process matches PATTERN (and kills any that do).
no_leftover() { # $1 pattern, $2 check name
  local left
  left=$(pgrep -af -- "$1")
  if [ -z "$left" ]; then ok "$2"; else
    not_ok "$2" "left behind: $left"
    for p in $(pgrep -f -- "$1"); do kill -9 "$p" 2>/dev/null; done
  fi
}
