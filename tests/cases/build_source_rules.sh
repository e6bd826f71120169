# Rules of the source tree that the compiler does not enforce (docs/reference/architecture.md):
# the layers' includes, and that every libuv timer starts through loop_timer_start (it updates
# the loop's cached time first: a timer started from the stale time fires early).
source "$TESTROOT/lib.sh"
plan 3

SRC=$(cd "$TESTROOT/../interp" && pwd)
cd "$SRC" || exit 1

bad=$(grep -l '#include <lauxlib.h>\|#include "lauxlib.h"' ssh_*.c 2>/dev/null)
if [ -z "$bad" ]; then ok "no ssh_*.c includes lauxlib.h (the SSH side knows no Lua)"
else not_ok "no ssh_*.c includes lauxlib.h (the SSH side knows no Lua)" "$bad"; fi

bad=$(grep -l '#include <libssh2' l_*.c 2>/dev/null)
if [ -z "$bad" ]; then ok "no l_*.c includes libssh2's headers (bindings go through the SSH side)"
else not_ok "no l_*.c includes libssh2's headers (bindings go through the SSH side)" "$bad"; fi

bad=$(grep -n '\buv_timer_start *(' ./*.c ./*.h | grep -v '^./loop_timer.h:\|^./uv_lazy.c:')
if [ -z "$bad" ]; then ok "every timer starts through loop_timer_start"
else not_ok "every timer starts through loop_timer_start" "$bad"; fi
