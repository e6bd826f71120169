/* Port forward objects for Lua: `f.port`, `f.accepted`, `f.open`, `f:close()`, and __close so
   `with forward{…} as f do … end` closes it. */
#include "l_forward.h"
#include "l_remote.h"
#include "l_util.h"
#include "sshmod.h"
#include "ssh_forward.h"
#include <lauxlib.h>
#include <string.h>

#define FWD_MT "sshs.forward"
static const struct lutil_meta fwd_meta;       /* below; made with the first forward */

struct fwd_ud {
    struct fwd *f;                /* first: the object is usable as a struct fwd ** */
    struct sched_waiter w;
};

static struct fwd **check_fwd(lua_State *L)
{
    return luaL_checkudata(L, 1, FWD_MT);
}

/* The five arguments both kinds take: (conn, host, port, thost, tport), checked. `side` names
   the first address in the error ("listen" or "remote"). */
struct fwd_args {
    struct conn *c;
    const char *host, *thost;
    int port, tport;
};

static struct fwd_args check_args(lua_State *L, const char *side)
{
    struct fwd_args a = {.c = remote_checkconn(L, 1), .host = luaL_checkstring(L, 2),
                         .thost = luaL_checkstring(L, 4)};
    lua_Integer port = luaL_checkinteger(L, 3), tport = luaL_checkinteger(L, 5);
    sched_check_interrupt(L);
    if (port < 0 || port > 65535 || tport < 1 || tport > 65535)
        luaL_error(L, "forward: port out of range (%s %d, to %d)", side, (int)port, (int)tport);
    a.port = (int)port;
    a.tport = (int)tport;
    lua_settop(L, 5);
    return a;
}

/* Pushes a new, empty forward object (at index 6). */
static struct fwd_ud *new_fwd_ud(lua_State *L)
{
    struct fwd_ud *ud = lua_newuserdatauv(L, sizeof *ud, 0);
    memset(ud, 0, sizeof *ud);
    lutil_setmeta(L, &fwd_meta);
    return ud;
}

/* core.forward(conn, lhost, lport, thost, tport) -> forward object, or raises with why. */
static int l_forward(lua_State *L)
{
    struct fwd_args a = check_args(L, "listen");
    struct fwd_ud *ud = new_fwd_ud(L);
    char err[600];
    ud->f = sshapi->fwd_listen(a.c, a.host, a.port, a.thost, a.tport, err, sizeof err);
    if (!ud->f) return luaL_error(L, "%s", err);
    return 1;
}

/* Waits for the server's answer to a remote forward: the object, or raises its error. */
static int remote_k(lua_State *L, int status, lua_KContext ctx)
{
    struct fwd_ud *ud = lua_touserdata(L, (int)ctx);
    if (sched_cancel_pending(L) || sched_interrupted()) {
        if (ud->f) { sshapi->fwd_close(ud->f); ud->f = NULL; }
        sched_check_interrupt(L);
        return luaL_error(L, "interrupted");
    }
    const char *err = NULL;
    int st = ud->f ? sshapi->fwd_remote_state(ud->f, &err) : -1;
    if (st > 0) { lua_pushvalue(L, (int)ctx); return 1; }
    if (st < 0) {
        lua_pushstring(L, err && *err ? err : "the remote forward failed");
        if (ud->f) { sshapi->fwd_close(ud->f); ud->f = NULL; }
        return lua_error(L);
    }
    sshapi->fwd_set_waiter(ud->f, &ud->w);
    return sched_wait(L, &ud->w, remote_k, ctx);
}

/* core.forward_remote(conn, rhost, rport, thost, tport) -> forward object once the server
   listens (its .port is the server's port), or raises with why. */
static int l_forward_remote(lua_State *L)
{
    struct fwd_args a = check_args(L, "remote");
    struct fwd_ud *ud = new_fwd_ud(L);
    char err[600];
    ud->f = sshapi->fwd_remote(a.c, a.host, a.port, a.thost, a.tport, err, sizeof err);
    if (!ud->f) return luaL_error(L, "%s", err);
    return remote_k(L, LUA_OK, 6);
}

static int fwd_index(lua_State *L)
{
    struct fwd **ud = check_fwd(L);
    const char *k = luaL_checkstring(L, 2);
    if (strcmp(k, "close") == 0) { lua_getmetatable(L, 1); lua_getfield(L, -1, "__close"); return 1; }
    if (!*ud) { lua_pushnil(L); return 1; }
    if (strcmp(k, "port") == 0) lua_pushinteger(L, sshapi->fwd_port(*ud));
    else if (strcmp(k, "accepted") == 0) lua_pushinteger(L, (lua_Integer)sshapi->fwd_accepted(*ud));
    else if (strcmp(k, "open") == 0) lua_pushinteger(L, sshapi->fwd_open_count(*ud));
    else lua_pushnil(L);
    return 1;
}

/* close / __close / __gc: stops listening and ends the forward's connections. */
static int fwd_gc(lua_State *L)
{
    struct fwd **ud = check_fwd(L);
    if (*ud) { sshapi->fwd_close(*ud); *ud = NULL; }
    return 0;
}

static int fwd_tostring(lua_State *L)
{
    struct fwd **ud = check_fwd(L);
    if (*ud) lua_pushfstring(L, "forward (port %d)", sshapi->fwd_port(*ud));
    else lua_pushliteral(L, "forward (closed)");
    return 1;
}

/* Fields, not methods: __index is a function (port, accepted, open, close). */
static const luaL_Reg fwd_metamethods[] = {{"__gc", fwd_gc}, {"__close", fwd_gc}, {"__tostring", fwd_tostring},
                                           {"__index", fwd_index}, {NULL, NULL}};
static const struct lutil_meta fwd_meta = {FWD_MT, NULL, fwd_metamethods};

void forward_open(lua_State *L, int core_idx)
{
    lua_pushvalue(L, core_idx);
    lua_pushcfunction(L, l_forward);
    lua_setfield(L, -2, "forward");
    lua_pushcfunction(L, l_forward_remote);
    lua_setfield(L, -2, "forward_remote");
    lua_pop(L, 1);
}

void forward_shutdown(void)
{
    if (sshapi) sshapi->fwd_shutdown_all();
}
