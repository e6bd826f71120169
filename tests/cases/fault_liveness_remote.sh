#!/usr/bin/env bash
# fault_liveness.sh's checks against the test server (127.0.0.1): a file of its own, so that
# the local and the remote half run in parallel.
LIVENESS_WHERE=127.0.0.1 source "$TESTROOT/cases/fault_liveness.sh"
