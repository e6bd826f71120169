/* Small helpers for the Lua-facing files. */
#ifndef SSHS_L_UTIL_H
#define SSHS_L_UTIL_H
#include <lauxlib.h>

/* Creates the metatable `name` in the registry (as liolib's createmeta): the metamethods
   (may be NULL) set on it, the methods (may be NULL) as its __index table. Leaves the stack
   as it was. */
void lutil_newmeta(lua_State *L, const char *name, const luaL_Reg *methods,
                   const luaL_Reg *metamethods);

/* A metatable made the first time an object of its kind is (start-up makes only those it
   uses): lutil_setmeta sets it on the object at the top of the stack (as luaL_setmetatable),
   after making it with lutil_newmeta when the registry has none by that name yet. */
struct lutil_meta { const char *name; const luaL_Reg *methods, *metamethods; };
void lutil_setmeta(lua_State *L, const struct lutil_meta *m);

/* A copy (malloc'd, the caller frees it) of the string field `name` of the table at t, or
   NULL when it is not a string or number. The stack is left as it was. */
char *lutil_strfield(lua_State *L, int t, const char *name);

/* Objects kept as a pointer in a userdata "box", so the C side can outlive the Lua side.
   lutil_checkbox: the pointer in the box at idx (metatable mt); raises `released` (a
   message) when the box was already emptied. lutil_takebox: empties the box and returns what
   it held (NULL when already empty), for __gc / __close / close(), which may run twice. */
void *lutil_checkbox(lua_State *L, int idx, const char *mt, const char *released);
void *lutil_takebox(lua_State *L, int idx, const char *mt);

#endif
