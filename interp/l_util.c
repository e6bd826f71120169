#include "l_util.h"
#include <stdlib.h>
#include <string.h>

void lutil_newmeta(lua_State *L, const char *name, const luaL_Reg *methods,
                   const luaL_Reg *metamethods)
{
    luaL_newmetatable(L, name);
    if (metamethods) luaL_setfuncs(L, metamethods, 0);
    if (methods) {
        lua_newtable(L);
        luaL_setfuncs(L, methods, 0);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
}

void lutil_setmeta(lua_State *L, const struct lutil_meta *m)
{
    if (luaL_getmetatable(L, m->name) == LUA_TNIL) {
        lua_pop(L, 1);
        lutil_newmeta(L, m->name, m->methods, m->metamethods);
        luaL_getmetatable(L, m->name);
    }
    lua_setmetatable(L, -2);
}

char *lutil_strfield(lua_State *L, int t, const char *name)
{
    lua_getfield(L, t, name);
    const char *s = lua_tostring(L, -1);
    char *r = s ? strdup(s) : NULL;
    lua_pop(L, 1);
    return r;
}

void *lutil_checkbox(lua_State *L, int idx, const char *mt, const char *released)
{
    void **box = luaL_checkudata(L, idx, mt);
    if (!*box) luaL_error(L, "%s", released);
    return *box;
}

void *lutil_takebox(lua_State *L, int idx, const char *mt)
{
    void **box = luaL_checkudata(L, idx, mt);
    void *p = *box;
    *box = NULL;
    return p;
}
