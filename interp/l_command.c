/* The Lua half of command objects, shared by local and remote commands. The userdata holds
   only a pointer: the session owns the command and frees it when both sides let go. */
#include "l_command.h"
#include "command.h"
#include "l_util.h"
#include <signal.h>

#define COMMAND_MT "sshs.command"
static const struct lutil_meta command_meta;   /* below; made with the first command */

static struct command *check_command(lua_State *L)
{
    return lutil_checkbox(L, 1, COMMAND_MT, "command object already released");
}

struct command **command_push(lua_State *L)
{
    struct command **ud = lua_newuserdatauv(L, sizeof *ud, 0);
    *ud = NULL;
    lutil_setmeta(L, &command_meta);
    return ud;
}

static int command_wait_k(lua_State *L, int status, lua_KContext ctx)
{
    struct command *c = check_command(L);
    if (sched_cancel_pending(L)) {                             /* __close stops the command */
        if (!c->done && c->type->interrupt) c->type->interrupt(c);
        sched_check_interrupt(L);
    }
    int n = cmdout_next_event(L, &c->co, c->done);
    if (c->paused && c->co.queued < CMDOUT_BACKLOG / 2) {
        c->paused = 0;
        c->type->resume(c);
    }
    if (n == 1 && c->done) {
        if (sched_interrupted()) sched_check_interrupt(L);      /* stopped by Ctrl-C */
        if (c->error[0]) {
            lua_pushstring(L, c->error);   /* no position: the runtime names the user's line */
            return lua_error(L);
        }
    }
    if (n) return n;
    return sched_wait(L, &c->w, command_wait_k, 0);
}

static int command_wait(lua_State *L) { return command_wait_k(L, LUA_OK, 0); }

static int command_result(lua_State *L)
{
    struct command *c = check_command(L);
    if (!c->done) return luaL_error(L, "command still running");
    cmdout_push_result(L, &c->co, (double)(c->t_end - c->t_start) / 1e9);
    if (c->has_exit) { lua_pushinteger(L, c->exitcode); lua_setfield(L, -2, "exitcode"); }
    if (c->signal[0]) lua_pushstring(L, c->signal);
    else if (c->signo) lua_pushinteger(L, c->signo);
    else lua_pushnil(L);
    lua_setfield(L, -2, "signal");
    lua_pushboolean(L, c->timed_out);
    lua_setfield(L, -2, "timed_out");
    return 1;
}

static int command_kill(lua_State *L)
{
    struct command *c = check_command(L);
    int sig = (int)luaL_optinteger(L, 2, SIGTERM);
    if (!c->type->kill) return luaL_error(L, "%s commands cannot be signalled", c->type->name);
    if (!c->done) c->type->kill(c, sig);
    return 0;
}

static int command_write(lua_State *L)
{
    struct command *c = check_command(L);
    size_t n;
    const char *p = luaL_checklstring(L, 2, &n);
    int eof = lua_toboolean(L, 3);
    if (!c->done && c->type->write) c->type->write(c, p, n, eof);
    return 0;
}

/* __gc and __close: the object lets go; a command still running is stopped. */
static int command_gc(lua_State *L)
{
    struct command *c = lutil_takebox(L, 1, COMMAND_MT);
    if (!c) return 0;
    c->lua_owned = 0;
    c->w.thread = NULL;
    c->co.stream[0] = c->co.stream[1] = 0;    /* nobody takes chunks any more */
    c->type->release(c);
    return 0;
}

static const luaL_Reg command_methods[] = {
    {"wait", command_wait}, {"result", command_result}, {"kill", command_kill},
    {"write", command_write}, {NULL, NULL}};
static const luaL_Reg command_metamethods[] = {{"__gc", command_gc}, {"__close", command_gc}, {NULL, NULL}};
static const struct lutil_meta command_meta = {COMMAND_MT, command_methods, command_metamethods};
