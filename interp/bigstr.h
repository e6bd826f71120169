/* Big Lua strings without a second copy: a command's captured output becomes its result
   string in place, so a 1 GiB capture peaks at about 1 GiB, not 2. */
#ifndef SSHS_BIGSTR_H
#define SSHS_BIGSTR_H
#include <lua.h>
#include "buf.h"

/* Wraps the state's allocator (call once, right after the state is made). */
void bigstr_install(lua_State *L);
/* Pushes the spool's bytes as one string and empties the spool. */
void bigstr_push_spool(lua_State *L, struct spool *s);

#endif
