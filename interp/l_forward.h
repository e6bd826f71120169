/* Lua bindings for port forwards: core.forward(conn, lhost, lport, thost, tport). */
#ifndef SSHS_L_FORWARD_H
#define SSHS_L_FORWARD_H
#include <lua.h>

void forward_open(lua_State *L, int core_idx);
/* At exit: every forward stops listening and ends its connections. */
void forward_shutdown(void);

#endif
