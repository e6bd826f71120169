/* The remote layer's entry point: adds core.connect and friends to the core table. */
#ifndef SSHS_REMOTE_H
#define SSHS_REMOTE_H
#include <lua.h>

void remote_open(lua_State *L, int core_idx);
/* The connection behind the connection object at idx (raises if it is not one, or closed). */
struct conn;
struct conn *remote_checkconn(lua_State *L, int idx);
/* Closes every connection's handles at exit. */
void remote_shutdown(void);

#endif
