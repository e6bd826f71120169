/* The REPL module's interface. The REPL's terminal side (repl.c: GNU readline, history,
   completion) is a shared module, sshs-readline.so, loaded the first time the REPL calls one
   of its core functions (repl_lazy.c), so a script run does not load and relocate readline
   and libtinfo at start-up. */
#ifndef SSHS_REPL_API_H
#define SSHS_REPL_API_H
#include <lua.h>

/* Bumped whenever the list or a signature changes: a module from another build is refused. */
#define REPL_API_VERSION 1

/* The core.* functions the module provides (see repl.h for each). */
#define REPL_API_FUNCTIONS(X) \
    X(readline) X(repl_setup) X(history_add) X(repl_retry_complete) X(repl_end) \
    X(repl_running) X(repl_shell_start)

enum {
#define REPL_API_INDEX(name) REPL_FN_##name,
    REPL_API_FUNCTIONS(REPL_API_INDEX)
#undef REPL_API_INDEX
    REPL_NFUNCS
};

struct repl_api {
    int version;                        /* REPL_API_VERSION of the module's build */
    void (*attach)(lua_State *main);    /* the main state, where completion runs Lua */
    lua_CFunction fn[REPL_NFUNCS];      /* indexed by REPL_FN_name */
    void (*shutdown)(void);             /* terminal modes back, the stdin poll closed */
};

#define REPL_API_FILE "sshs-readline.so"
#define REPL_API_SYMBOL "sshs_repl_api"

#endif
