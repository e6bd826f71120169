#!/usr/bin/env bash
# Interpolation round trip against the test sshd (the remote login shell is bash; locally it
# is dash): 2,000 random byte strings per shell context, fixed seed, and a canary that must
# never run (SSHS_ROUNDTRIP_REMOTE_N / SSHS_ROUNDTRIP_SEED change them; make soak runs more).
source "$TESTROOT/remote_lib.sh"
plan 11
cp "$TESTROOT/roundtrip.sshs" "$TMP/roundtrip.sshs"
TMPDIR_RT=$TMP LIMIT=600 lua_checks roundtrip.sshs "${SSHS_ROUNDTRIP_REMOTE_N:-2000}" "${SSHS_ROUNDTRIP_SEED:-9}" 127.0.0.1
