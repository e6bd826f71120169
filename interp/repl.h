/* The REPL's terminal side (readline on the loop, history, completion); the loop is Lua. */
#ifndef SSHS_REPL_H
#define SSHS_REPL_H
#include <lua.h>

/* Adds core.readline, core.repl_setup, core.history_add, core.repl_retry_complete,
   core.repl_shell_start (whether a position of the line is in a shell part). */
void repl_open(lua_State *L, int core_idx);
/* Restores the terminal and closes the stdin poll at exit. */
void repl_shutdown(void);

#endif
