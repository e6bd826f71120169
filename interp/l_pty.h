/* Shells on a terminal (a pty) as Lua objects: local ones and remote ones (ssh_pty.c). */
#ifndef SSHS_L_PTY_H
#define SSHS_L_PTY_H
#include <lua.h>

struct conn;

/* Adds core.pty_local{shell=, cols=, rows=} and the pty metatable:
   p:read([s]) -> text | "" (time ran out) | nil, "eof";  p:write(text);  p:resize(c, r);
   p:eof();  p:why() (a remote shell that never started);  p:bridge() (shell());  p:close(). */
void pty_open(lua_State *L, int core_idx);
/* conn:pty{cols=, rows=, term=, cmd=}: a shell (or cmd) on a remote pty (opts at stack index). */
int pty_lua_open_remote(lua_State *L, struct conn *c, int opts);
/* At exit, and on errors: the user's terminal back to how it was. */
void pty_restore_terminal(void);

#endif
