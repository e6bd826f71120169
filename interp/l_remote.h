/* The remote layer's entry point: adds core.connect and friends to the core table. */
#ifndef SSHS_REMOTE_H
#define SSHS_REMOTE_H
#include <lua.h>

void remote_open(lua_State *L, int core_idx);
/* Closes every connection's handles at exit. */
void remote_shutdown(void);

#endif
