/* Port forward objects for Lua: `f.port`, `f.accepted`, `f.open`, `f:close()`, and __close so
   `with forward{…} as f do … end` closes it. */
#include "l_forward.h"
#include "l_remote.h"
#include "l_util.h"
#include "ssh.h"
#include "ssh_forward.h"
#include <lauxlib.h>
#include <string.h>

#define FWD_MT "sshs.forward"

static struct fwd **check_fwd(lua_State *L)
{
    return luaL_checkudata(L, 1, FWD_MT);
}

/* core.forward(conn, lhost, lport, thost, tport) -> forward object, or raises with why. */
static int l_forward(lua_State *L)
{
    struct conn *c = remote_checkconn(L, 1);
    const char *lhost = luaL_checkstring(L, 2);
    lua_Integer lport = luaL_checkinteger(L, 3);
    const char *thost = luaL_checkstring(L, 4);
    lua_Integer tport = luaL_checkinteger(L, 5);
    sched_check_interrupt(L);
    if (lport < 0 || lport > 65535 || tport < 1 || tport > 65535)
        return luaL_error(L, "forward: port out of range (listen %d, to %d)", (int)lport, (int)tport);
    struct fwd **ud = lua_newuserdatauv(L, sizeof *ud, 0);
    *ud = NULL;
    luaL_setmetatable(L, FWD_MT);
    char err[600];
    *ud = fwd_listen(c, lhost, (int)lport, thost, (int)tport, err, sizeof err);
    if (!*ud) return luaL_error(L, "%s", err);
    return 1;
}

static int fwd_index(lua_State *L)
{
    struct fwd **ud = check_fwd(L);
    const char *k = luaL_checkstring(L, 2);
    if (strcmp(k, "close") == 0) { lua_getmetatable(L, 1); lua_getfield(L, -1, "__close"); return 1; }
    if (!*ud) { lua_pushnil(L); return 1; }
    if (strcmp(k, "port") == 0) lua_pushinteger(L, fwd_port(*ud));
    else if (strcmp(k, "accepted") == 0) lua_pushinteger(L, (lua_Integer)fwd_accepted(*ud));
    else if (strcmp(k, "open") == 0) lua_pushinteger(L, fwd_open_count(*ud));
    else lua_pushnil(L);
    return 1;
}

/* close / __close / __gc: stops listening and ends the forward's connections. */
static int fwd_gc(lua_State *L)
{
    struct fwd **ud = check_fwd(L);
    if (*ud) { fwd_close(*ud); *ud = NULL; }
    return 0;
}

static int fwd_tostring(lua_State *L)
{
    struct fwd **ud = check_fwd(L);
    if (*ud) lua_pushfstring(L, "forward (port %d)", fwd_port(*ud));
    else lua_pushliteral(L, "forward (closed)");
    return 1;
}

void forward_open(lua_State *L, int core_idx)
{
    static const luaL_Reg meta[] = {{"__gc", fwd_gc}, {"__close", fwd_gc}, {"__tostring", fwd_tostring},
                                    {NULL, NULL}};
    lutil_newmeta(L, FWD_MT, NULL, meta);
    luaL_getmetatable(L, FWD_MT);
    lua_pushcfunction(L, fwd_index);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    lua_pushvalue(L, core_idx);
    lua_pushcfunction(L, l_forward);
    lua_setfield(L, -2, "forward");
    lua_pop(L, 1);
}

void forward_shutdown(void)
{
    fwd_shutdown_all();
}
