/* Lua's allocator for the runtime's state: small blocks from a fixed arena (small_alloc.c). */
#ifndef SSHS_SMALL_ALLOC_H
#define SSHS_SMALL_ALLOC_H
#include <lua.h>

/* Call once, right after the state is made (before bigstr_install, which wraps it). */
void small_alloc_install(lua_State *L);
/* Whether p is one of the arena's blocks (the unit test looks). */
int small_alloc_owns(const void *p);

#endif
