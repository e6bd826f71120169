#!/usr/bin/env bash
# Interpolation round trip on the local shell: 10^5 random byte strings per shell context, a
# fixed seed (SSHS_ROUNDTRIP_N / SSHS_ROUNDTRIP_SEED change them; make soak runs more).
source "$TESTROOT/lib.sh"
plan 11
TMPDIR_RT=$TMP "$SSHS" "$TESTROOT/roundtrip.sshs" "${SSHS_ROUNDTRIP_N:-100000}" "${SSHS_ROUNDTRIP_SEED:-9}" < /dev/null
