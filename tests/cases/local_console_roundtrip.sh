#!/usr/bin/env bash
# Console round trip on the local machine (issue 17 item 1) with dash, bash and zsh: every
# byte 1-255 alone, the line-discipline attacks, 2,000 random strings of control bytes and
# others, a canary that must never run (SSHS_CONSOLE_RT_N / SSHS_ROUNDTRIP_SEED change them;
# make soak runs more).
source "$TESTROOT/lib.sh"
plan 15
for shell in /bin/dash /bin/bash /usr/bin/zsh; do
  if [ ! -x "$shell" ]; then skip_checks 5 "$shell is not installed"; continue; fi
  TMPDIR_RT=$TMP timeout -k 3 "${LIMIT:-900}" "$SSHS" "$TESTROOT/console_roundtrip.sshs" \
    "${SSHS_CONSOLE_RT_N:-2000}" "${SSHS_ROUNDTRIP_SEED:-9}" "$shell" < /dev/null 2> "$TMP/err"
  rc=$?
  [ "$rc" = 0 ] || echo "# $shell: exit $rc: $(tail -n 5 "$TMP/err")"
done
