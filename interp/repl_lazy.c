/* The REPL's core functions as stand-ins that load the REPL module (repl_api.h) on their first
   call: each is a closure knowing its index in the module's table, and calls the module's
   function in its own frame (the same arguments; a wait inside yields as the real one does). */
#include "repl.h"
#include "repl_api.h"
#include "modload.h"
#include <lauxlib.h>
#include <limits.h>
#include <stdio.h>

static const struct repl_api *api;

static const struct repl_api *load(lua_State *L)
{
    if (api) return api;
    char err[PATH_MAX + 256];
    const struct repl_api *a = modload(REPL_API_FILE, REPL_API_SYMBOL, "REPL", err, sizeof err);
    if (a && a->version != REPL_API_VERSION) {
        snprintf(err, sizeof err, "cannot load the REPL module %s: it is from another build of sshs "
                 "(interface %d, this binary needs %d)", REPL_API_FILE, a->version, REPL_API_VERSION);
        a = NULL;
    }
    if (!a) {                   /* no position: the REPL's own Lua line would mean nothing */
        lua_pushstring(L, err);
        lua_error(L);
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
    a->attach(lua_tothread(L, -1));
    lua_pop(L, 1);
    api = a;                    /* kept loaded until exit */
    return api;
}

static int stand_in(lua_State *L)
{
    int i = (int)lua_tointeger(L, lua_upvalueindex(1));
    return load(L)->fn[i](L);
}

void repl_open(lua_State *L, int core_idx)
{
    static const char *const names[] = {
#define REPL_API_NAME(name) #name,
        REPL_API_FUNCTIONS(REPL_API_NAME)
#undef REPL_API_NAME
    };
    for (int i = 0; i < REPL_NFUNCS; i++) {
        lua_pushinteger(L, i);
        lua_pushcclosure(L, stand_in, 1);
        lua_setfield(L, core_idx, names[i]);
    }
}

void repl_shutdown(void)
{
    if (api) api->shutdown();
}
