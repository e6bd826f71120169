#!/usr/bin/env bash
# Console round trip against the test sshd (issue 17 item 1) with dash, bash and zsh as the
# console's shell: every byte 1-255 alone, the line-discipline attacks, 2,000 random strings
# of control bytes and others, a canary that must never run (SSHS_CONSOLE_RT_REMOTE_N /
# SSHS_ROUNDTRIP_SEED change them; make soak runs more).
source "$TESTROOT/remote_lib.sh"
plan 15
cp "$TESTROOT/console_roundtrip.sshs" "$TMP/console_roundtrip.sshs"
for shell in /bin/dash /bin/bash /usr/bin/zsh; do
  if [ ! -x "$shell" ]; then skip_checks 5 "$shell is not installed"; continue; fi
  TMPDIR_RT=$TMP LIMIT=900 lua_checks console_roundtrip.sshs "${SSHS_CONSOLE_RT_REMOTE_N:-2000}" \
    "${SSHS_ROUNDTRIP_SEED:-9}" "$shell" 127.0.0.1
done
