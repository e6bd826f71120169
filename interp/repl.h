/* The REPL's terminal side (readline on the loop, history, completion); the loop is Lua.
   It lives in the REPL module (repl.c, repl_api.h); these load it when first needed
   (repl_lazy.c). */
#ifndef SSHS_REPL_H
#define SSHS_REPL_H
#include <lua.h>

/* Adds core.readline, core.repl_setup, core.history_add, core.repl_retry_complete,
   core.repl_shell_start (whether a position of the line is in a shell part): stand-ins
   that load the module on their first call (a Lua error naming it when it is missing). */
void repl_open(lua_State *L, int core_idx);
/* Restores the terminal and closes the stdin poll at exit (nothing when never loaded). */
void repl_shutdown(void);

#endif
