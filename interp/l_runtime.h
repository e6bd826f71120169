/* The Lua-facing runtime: the `core` table of C primitives and the embedded Lua prelude. */
#ifndef SSHS_LSSHS_H
#define SSHS_LSSHS_H
#include <lua.h>

struct sshs_options {
    int verbose;          /* -v */
    int json;             /* --json */
    int gather;           /* -b */
    int fanout_limit;     /* -f */
    const char *hosts;    /* -H */
    const char *script;   /* the script's path, NULL for -e / stdin */
};

/* Opens the standard libraries, the scheduler, local commands, the remote layer and the
   prelude (which defines _SSHS and the globals of SPEC §2–§5). Raises on failure. */
void lsshs_open(lua_State *L, const struct sshs_options *opt);

#endif
