#include "l_runtime.h"
#include "scheduler.h"
#include "local.h"
#include "loader.h"
#include "l_remote.h"
#include "l_files.h"
#include "l_forward.h"
#include "l_command.h"
#include "output.h"
#include "repl.h"
#include "l_pty.h"
#include "l_stdio.h"
#include <lauxlib.h>
#include <lualib.h>
#include <unistd.h>

#ifndef SSHS_DATADIR
#define SSHS_DATADIR "/usr/local/share/sshs"
#endif

static int core_state(lua_State *L)
{
    sched_push_state(L);
    return 1;
}

static int core_isatty(lua_State *L)
{
    lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
    return 1;
}

static int core_clock(lua_State *L)
{
    lua_pushnumber(L, (double)uv_hrtime() / 1e9);
    return 1;
}

/* core.pid() -> this process's id (temporary file names carry it). */
static int core_pid(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)getpid());
    return 1;
}

/* core.interrupted() -> whether Ctrl-C (or SIGTERM, SIGHUP) interrupted the run. */
static int core_interrupted(lua_State *L)
{
    lua_pushboolean(L, sched_interrupted());
    return 1;
}

/* core.write(fd, text): unbuffered, whole, so it never mixes with live command output. */
static int core_write(lua_State *L)
{
    int fd = (int)luaL_checkinteger(L, 1);
    size_t n;
    const char *s = luaL_checklstring(L, 2, &n);
    struct out_stream st = {.fd = fd};    /* whole lines, around the progress line */
    out_write(&st, s, n);
    out_flush(&st);
    return 0;
}

void lsshs_open(lua_State *L, const struct sshs_options *opt)
{
    out_queue_start();          /* before the io library takes stdio's stdout */
    luaL_openlibs(L);
    stdio_open(L);              /* io.write, file:write, warn: above a question */
    sched_init(L);
    local_init(L);

    static const luaL_Reg core[] = {
        {"spawn", local_lua_spawn}, {"thread", sched_lua_thread}, {"sleep", sched_lua_sleep},
        {"state", core_state}, {"isatty", core_isatty}, {"clock", core_clock},
        {"interrupted", core_interrupted}, {"write", core_write}, {"pid", core_pid},
        {"loadfile", loader_lua_loadfile}, {"translate", loader_lua_translate},
        {"embedded", loader_lua_embedded}, {"load", loader_lua_load},
        {"traceback", sched_lua_traceback}, {"unobserved", sched_lua_unobserved}, {NULL, NULL}};
    /* Room for every core function the bindings add below (about 60), so it never rehashes. */
    lua_createtable(L, 0, 64);
    luaL_setfuncs(L, core, 0);
    int core_idx = lua_gettop(L);
    luaL_setfuncs(L, sched_lua_functions, 0);
    luaL_setfuncs(L, output_lua_functions, 0);
    remote_open(L, core_idx);
    files_open(L, core_idx);
    forward_open(L, core_idx);
    repl_open(L, core_idx);
    pty_open(L, core_idx);

    lua_createtable(L, 0, 8);
    lua_pushboolean(L, opt->verbose); lua_setfield(L, -2, "verbose");
    lua_pushboolean(L, opt->json); lua_setfield(L, -2, "json");
    lua_pushboolean(L, opt->gather); lua_setfield(L, -2, "gather");
    lua_pushinteger(L, opt->fanout_limit); lua_setfield(L, -2, "limit");
    if (opt->hosts) { lua_pushstring(L, opt->hosts); lua_setfield(L, -2, "hosts"); }
    if (opt->script) { lua_pushstring(L, opt->script); lua_setfield(L, -2, "script"); }
    if (opt->ssh_config) { lua_pushstring(L, opt->ssh_config); lua_setfield(L, -2, "ssh_config"); }
    if (opt->shard) { lua_pushstring(L, opt->shard); lua_setfield(L, -2, "shard"); }
    if (opt->print_config) { lua_pushstring(L, opt->print_config); lua_setfield(L, -2, "print_config"); }
    lua_createtable(L, opt->n_ssh_options, 0);
    for (int i = 0; i < opt->n_ssh_options; i++) { lua_pushstring(L, opt->ssh_options[i]); lua_rawseti(L, -2, i + 1); }
    lua_setfield(L, -2, "ssh_options");
    lua_createtable(L, opt->n_exclude, 0);
    for (int i = 0; i < opt->n_exclude; i++) { lua_pushstring(L, opt->exclude[i]); lua_rawseti(L, -2, i + 1); }
    lua_setfield(L, -2, "exclude");
    lua_pushboolean(L, opt->repl); lua_setfield(L, -2, "repl");
    const char *strings[][2] = {{"batch", opt->batch}, {"canary", opt->canary},
                                {"max_fail", opt->max_fail}, {"output_dir", opt->output_dir}};
    for (size_t i = 0; i < sizeof strings / sizeof *strings; i++)
        if (strings[i][1]) { lua_pushstring(L, strings[i][1]); lua_setfield(L, -2, strings[i][0]); }
    lua_pushboolean(L, opt->list_hosts); lua_setfield(L, -2, "list_hosts");
    lua_pushboolean(L, opt->diff); lua_setfield(L, -2, "diff");
    lua_pushboolean(L, opt->jsonl); lua_setfield(L, -2, "jsonl");
    lua_setfield(L, core_idx, "options");
    lua_pushliteral(L, SSHS_DATADIR);          /* where `make install` puts the stdlib */
    lua_setfield(L, core_idx, "datadir");

    size_t len;
    lua_pushcfunction(L, loader_lua_embedded);
    lua_pushliteral(L, "_prelude");
    lua_call(L, 1, 1);
    const char *src = lua_tolstring(L, -1, &len);
    if (!src) luaL_error(L, "the prelude is missing from this build");
    if (luaL_loadbufferx(L, src, len, "=prelude", "b") != LUA_OK) lua_error(L);
    lua_pushvalue(L, core_idx);
    lua_call(L, 1, 1);                  /* returns the runtime table */
    if (!lua_istable(L, -1)) luaL_error(L, "the prelude did not return the runtime table");
    sched_set_runtime(L);
    lua_settop(L, core_idx - 1);
}
