/* The scheduler's C API on a real libuv loop: sched_spawn starts threads, sched_wait parks one
   on a waiter and sched_wake (from Lua or from a loop callback) resumes it, join delivers
   results and errors, sched_run returns the failures nobody joined. A Lua script drives the
   threads through a few test functions (spawn, park, wake, wake_later, raise); its checks and
   the C-side checks both print TAP lines. Then signals: SIGINT/SIGTERM raised inside busy Lua
   and the REPL's API (sched_interrupt_reset, sched_set_sigint_hook). */
#include "scheduler.h"
#include "check.h"
#include <lauxlib.h>
#include <lualib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NWAITERS 4
static struct sched_waiter waiters[NWAITERS];
static int woken_value[NWAITERS];

static int waiter_index(lua_State *L, int arg)
{
    lua_Integer i = luaL_checkinteger(L, arg);
    luaL_argcheck(L, i >= 0 && i < NWAITERS, arg, "no such waiter");
    return (int)i;
}

/* spawn(fn, ...) -> handle: sched_spawn with a fresh state table. */
static int t_spawn(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    sched_spawn(L, 1, lua_gettop(L) - 1, 0);
    return 1;
}

static int park_k(lua_State *L, int status, lua_KContext ctx)
{
    sched_check_interrupt(L);          /* as every wait does: woken by Ctrl-C, it raises */
    lua_pushinteger(L, woken_value[(int)ctx]);
    return 1;
}

/* park(i) -> the value wake(i, v) left: parks the calling thread on waiter i. */
static int t_park(lua_State *L)
{
    int i = waiter_index(L, 1);
    return sched_wait(L, &waiters[i], park_k, i);
}

/* wake(i, v) -> whether a thread was parked there (sched_wake is a no-op otherwise). */
static int t_wake(lua_State *L)
{
    int i = waiter_index(L, 1);
    woken_value[i] = (int)luaL_checkinteger(L, 2);
    lua_pushboolean(L, waiters[i].thread != NULL);
    sched_wake(&waiters[i]);
    return 1;
}

struct later {
    uv_timer_t timer;
    int i, v;
};

static void later_closed(uv_handle_t *h) { free(h->data); }

static void later_fired(uv_timer_t *t)
{
    struct later *l = t->data;
    woken_value[l->i] = l->v;
    sched_wake(&waiters[l->i]);        /* a loop callback: it only queues the thread */
    uv_close((uv_handle_t *)t, later_closed);
}

/* wake_later(i, v, ms): a libuv timer wakes waiter i with v after ms milliseconds. */
static int t_wake_later(lua_State *L)
{
    struct later *l = malloc(sizeof *l);
    if (!l) return luaL_error(L, "out of memory");
    l->i = waiter_index(L, 1);
    l->v = (int)luaL_checkinteger(L, 2);
    uv_timer_init(sched_loop(), &l->timer);
    l->timer.data = l;
    uv_timer_start(&l->timer, later_fired, (uint64_t)luaL_checkinteger(L, 3), 0);
    return 0;
}

/* raise(name): sends this process SIGINT or SIGTERM, as a user would, while Lua runs. */
static int t_raise(lua_State *L)
{
    raise(strcmp(luaL_checkstring(L, 1), "TERM") == 0 ? SIGTERM : SIGINT);
    return 0;
}

static int sigint_calls, sigint_handled;
static int count_sigint(void) { sigint_calls++; return sigint_handled; }

/* Runs src as a thread to the end; its results stay in the global `result` (a table). */
static void run_thread(lua_State *L, const char *src)
{
    if (luaL_loadstring(L, src) != LUA_OK) {
        printf("# does not load: %s\n", lua_tostring(L, -1));
        lua_pop(L, 1);
        return;
    }
    sched_spawn(L, -1, 0, 0);
    lua_setglobal(L, "current");
    lua_pop(L, 1);
    sched_run(L);
    (void)luaL_dostring(L, "result = table.pack(pcall(current.join, current))");
}

static const char *result_string(lua_State *L)
{
    (void)luaL_dostring(L, "local t = {} for i = 1, result.n do t[i] = tostring(result[i]) end "
                     "return table.concat(t, ' ')");
    static char buf[256];
    snprintf(buf, sizeof buf, "%s", lua_tostring(L, -1));
    lua_pop(L, 1);
    return buf;
}

/* Interrupts: a signal stops Lua that never waits; the REPL's API resets and redirects them. */
static void interrupt_checks(lua_State *L)
{
    const char *r;
    run_thread(L, "return pcall(function() local i = 0 while true do i = i + 1"
                  "  if i == 1000 then raise('INT') end end end)");
    r = result_string(L);
    check(strcmp(r, "true false interrupted") == 0,
          "SIGINT raises 'interrupted' in a busy loop (pcall catches it there)", "got %s", r);
    check(sched_interrupted() && sched_exit_override() == -1, "... and sets sched_interrupted()",
          "%d %d", (int)sched_interrupted(), (int)sched_exit_override());

    sched_interrupt_reset();
    check(!sched_interrupted(), "sched_interrupt_reset clears sched_interrupted()", NULL);
    run_thread(L, "local n = 0 for i = 1, 3000000 do n = n + 1 end return n");
    r = result_string(L);
    check(strcmp(r, "true 3000000") == 0, "after a reset, a long loop runs to its end", "got %s", r);

    run_thread(L, "while true do pcall(function() local i = 0 while true do i = i + 1"
                  "  if i == 1000 then raise('TERM') end end end) end");
    r = result_string(L);
    check(strcmp(r, "false interrupted") == 0,
          "SIGTERM ends a thread that swallows 'interrupted' with pcall", "got %s", r);
    check(sched_exit_override() == 128 + SIGTERM, "... and asks for exit status 143",
          "%d", (int)sched_exit_override());
    sched_interrupt_reset();
    check(!sched_interrupted() && sched_exit_override() == -1,
          "sched_interrupt_reset clears the exit status too", NULL);

    sigint_handled = 1;
    sched_set_sigint_hook(count_sigint);
    run_thread(L, "raise('INT') wake_later(0, 5, 20) local v = park(0)"
                  "local n = 0 for i = 1, 2000000 do n = n + 1 end return v, n");
    r = result_string(L);
    check(strcmp(r, "true 5 2000000") == 0 && sigint_calls == 1 && !sched_interrupted(),
          "with sched_set_sigint_hook, Ctrl-C calls it on the loop; handled, it interrupts nothing",
          "got %s; calls %d", r, sigint_calls);
    sigint_handled = 0;
    run_thread(L, "raise('INT') wake_later(0, 6, 20) return park(0)");
    r = result_string(L);
    check(strcmp(r, "false interrupted") == 0 && sigint_calls == 2 && sched_interrupted(),
          "... not handled, Ctrl-C interrupts (the waiting thread raises)",
          "got %s; calls %d", r, sigint_calls);
    sched_interrupt_reset();
    sched_set_sigint_hook(NULL);
    run_thread(L, "raise('INT') return 'not interrupted'");
    r = result_string(L);
    check(strcmp(r, "false interrupted") == 0 && sigint_calls == 2,
          "... and without the hook, Ctrl-C interrupts running Lua again", "got %s; calls %d", r, sigint_calls);
    sched_interrupt_reset();
}

/* check(ok, desc[, detail]) from Lua. */
static int t_check(lua_State *L)
{
    const char *detail = luaL_optstring(L, 3, NULL);
    check(lua_toboolean(L, 1), luaL_checkstring(L, 2), detail ? "%s" : NULL, detail);
    return 0;
}

static const char *script =
    "local order = {}\n"
    /* results and arguments */
    "local h = spawn(function(a, b) return a + b, 'x', nil end, 2, 3)\n"
    "local s, x, n = h:join()\n"
    "check(s == 5 and x == 'x' and n == nil, 'join returns the results; arguments reach the thread')\n"
    "check(select('#', h:join()) == 3, 'join again returns the same three results (a nil kept)')\n"
    "check(h:status() == 'done', 'status of a finished thread is done', h:status())\n"
    /* many results */
    "local t = {} for i = 1, 250 do t[i] = i end\n"
    "local many = {spawn(function() return table.unpack(t) end):join()}\n"
    "check(#many == 250 and many[1] == 1 and many[250] == 250, 'join delivers 250 results', #many)\n"
    /* errors */
    "local bad = spawn(function() error('boom', 0) end)\n"
    "local ok, e = pcall(bad.join, bad)\n"
    "check(not ok and e == 'boom', 'an error reaches the joiner', tostring(e))\n"
    "check(bad:status() == 'failed', 'status of a failed thread is failed', bad:status())\n"
    "local errt = {}\n"
    "local th = spawn(function() error(errt) end)\n"
    "local ok2, e2 = pcall(th.join, th)\n"
    "check(not ok2 and e2 == errt, 'a table error reaches the joiner unchanged')\n"
    /* park and wake from Lua */
    "local waiter = spawn(function() order[#order + 1] = 'parked' local v = park(0)"
    "  order[#order + 1] = 'woken ' .. v return v end)\n"
    "local waker = spawn(function() order[#order + 1] = 'waking'"
    "  return wake(0, 42) end)\n"
    "check(waiter:join() == 42, 'a parked thread gets what its waker left')\n"
    "check(waker:join() == true, 'wake finds the thread parked on the waiter')\n"
    "check(table.concat(order, ',') == 'parked,waking,woken 42', "
    "      'threads run in order; a woken thread runs after its waker', table.concat(order, ','))\n"
    "check(wake(1, 7) == false, 'waking a waiter nobody parks on does nothing')\n"
    /* park and wake from a loop callback; several threads at once */
    "local hs = {}\n"
    "for i = 1, 3 do hs[i] = spawn(function() return park(i) end) end\n"
    "wake_later(3, 30, 30) wake_later(1, 10, 10) wake_later(2, 20, 20)\n"
    "local got = {}\n"
    "for i = 1, 3 do got[i] = hs[i]:join() end\n"
    "check(got[1] == 10 and got[2] == 20 and got[3] == 30, 'loop callbacks wake three parked threads',"
    "      table.concat(got, ','))\n"
    /* a thread that joins itself, a thread nobody joins */
    "local me\n"
    "me = spawn(function() return pcall(me.join, me) end)\n"
    "local okj, ej = me:join()\n"
    "check(not okj and tostring(ej):find('cannot join itself', 1, true), 'a thread cannot join itself', tostring(ej))\n"
    "spawn(function() error('nobody joins me', 0) end)\n"
    "return 'main done'\n";

int main(void)
{
    plan(27);
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    sched_init(L);
    static const luaL_Reg fns[] = {{"spawn", t_spawn}, {"park", t_park}, {"wake", t_wake},
                                   {"wake_later", t_wake_later}, {"check", t_check}, {"raise", t_raise},
                                   {NULL, NULL}};
    for (const luaL_Reg *f = fns; f->name; f++) lua_register(L, f->name, f->func);

    if (luaL_loadstring(L, script) != LUA_OK) {
        printf("not ok - the test script loads\n#   %s\n", lua_tostring(L, -1));
        return 1;
    }
    sched_spawn(L, -1, 0, 0);
    lua_pushvalue(L, -1);
    sched_set_main(L);
    int unobserved = sched_run(L);
    check(!sched_main_error(L), "the main thread finished without an error", NULL);
    check(unobserved == 1, "sched_run counts the one failed thread nobody joined", "got %d", unobserved);
    lua_getfield(L, -1, "join");
    lua_pushvalue(L, -2);
    int rc = lua_pcall(L, 1, 1, 0);
    check(rc == LUA_OK && lua_isstring(L, -1) && strcmp(lua_tostring(L, -1), "main done") == 0,
          "the main thread's result is kept on its handle", "%s", lua_tostring(L, -1));
    lua_settop(L, 0);
    interrupt_checks(L);

    /* The scheduler owns its handles (the ready idle, the signal wake-up): shutdown closes
       them all, so the loop can be closed (uv_loop_close fails with UV_EBUSY otherwise). */
    sched_shutdown();
    lua_close(L);
    uv_run(sched_loop(), UV_RUN_DEFAULT);
    int closed = uv_loop_close(sched_loop());
    check(closed == 0, "after sched_shutdown no handle of the scheduler is left on the loop",
          "uv_loop_close returned %d", closed);
    return failures ? 1 : 0;
}
