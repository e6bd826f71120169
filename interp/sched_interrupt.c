/* Interrupts: Ctrl-C (SIGINT), SIGTERM and SIGHUP, the budget that stops Lua which swallows
   "interrupted", the REPL's and the fan-outs' say over Ctrl-C, and coroutine.resume/wrap made
   interruptible. The rules are in scheduler.h; the state is the scheduler's (sched_internal.h). */
#include "sched_internal.h"
#include <lauxlib.h>
#include <errno.h>
#include <string.h>
#include <time.h>

/* ---- Interrupts: Ctrl-C, SIGTERM, SIGHUP ----
   The signal handler does only async-signal-safe work, as lua.c's laction does: it records
   what happened, sets a hook on the Lua code running right now (if any), and wakes the loop
   with uv_async_send. The hook raises "interrupted" inside that code, so a busy loop stops;
   sched_take_signals(), on the loop, stops children and remote commands (sched_on_interrupt) and
   wakes every waiting thread, whose wait raises "interrupted" in turn. */

int sched_interrupted(void) { return sched_process.interrupted; }

int sched_exit_override(void) { return sched_process.exit_override; }

static const int handled_signals[] = {SIGINT, SIGTERM, SIGHUP};

/* Once interrupted, each resume may run this many VM instructions. Past that, the thread is
   ended where it stands (its to-be-closed variables still close): a script whose pcall
   swallowed "interrupted" still stops, while the short Lua that runs after an interrupt
   (closing blocks, the fan-out summary) has ample room. */
#define INTERRUPT_BUDGET 1000000

/* Set by the signal handler: raises "interrupted" in the Lua code that is running (pcall
   can catch it, as in lua.c), then stays set as a count hook with INTERRUPT_BUDGET. When
   that budget runs out, the thread is ended: a yield from the hook goes through any pcall
   straight to resume(), which finishes the thread with the error "interrupted" (a plain
   coroutine the thread runs is closed and "interrupted" raised in the thread). Where a
   yield is impossible (a C call boundary) it raises again instead. */
static void interrupt_hook(lua_State *L, lua_Debug *ar)
{
    struct scheduler *s = &sched_process;
    if (!s->interrupted) { lua_sethook(L, NULL, 0, 0); return; }   /* reset since (REPL) */
    int budget_spent = ar->event == LUA_HOOKCOUNT && lua_gethookcount(L) == INTERRUPT_BUDGET;
    lua_sethook(L, interrupt_hook, LUA_MASKCOUNT, INTERRUPT_BUDGET);
    if (budget_spent && L == s->running_co && lua_isyieldable(L)) {
        s->ended_co = L;
        lua_yield(L, 0);
        return;
    }
    lua_pushliteral(L, "interrupted");
    lua_error(L);
}

static void on_signal(int sig)
{
    struct scheduler *s = &sched_process;
    int saved_errno = errno;
    /* Threads of libuv's pool may receive it: only the loop's thread may touch Lua. */
    if (!pthread_equal(pthread_self(), s->loop_thread)) {
        pthread_kill(s->loop_thread, sig);
        errno = saved_errno;
        return;
    }
    if (sig == SIGINT) s->sigint_count++;
    if (sig == SIGINT && s->sigint_report) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
        if (s->sigint_report_always || s->last_sigint == 0 || now - s->last_sigint > 1000000000u) {
            s->last_sigint = now;
            s->pending_report = 1;
            goto wake;
        }
    }
    if (sig == SIGINT && s->sigint_ask) {     /* the REPL decides, on the loop */
        s->pending_call = 1;
        goto wake;
    }
    int again = s->interrupted;
    if (!again) {
        /* SIGTERM and SIGHUP exit with the status a shell reports for that signal. */
        if (sig != SIGINT) s->exit_override = 128 + sig;
        s->interrupted = 1;
    }
    s->pending_interrupt = 1;
    lua_State *L = s->running_co ? s->running_co : s->interrupt_target;
    /* lua_sethook may be called from a signal handler (lua.c's laction does). Code that
       already runs on a budget keeps it: more signals must not renew it. */
    if (L && !(again && lua_gethook(L) == interrupt_hook))
        lua_sethook(L, interrupt_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT, 1);
    lua_State *thread = s->running_thread;
    if (thread && thread != L && lua_gethook(thread) != interrupt_hook)
        lua_sethook(thread, interrupt_hook, LUA_MASKCOUNT, INTERRUPT_BUDGET);
wake:
    if (s->signal_async_open)            /* else no loop runs: nothing to wake */
        uv_async_send(&s->signal_async); /* async-signal-safe */
    errno = saved_errno;
}

/* Wakes every parked thread; their continuations see the flag and raise. */
static void wake_all_parked(struct scheduler *s)
{
    for (struct sched_thread *t = s->live_head; t; t = t->next_live)
        if (t->state == T_PARKED && t->parked_on) sched_wake(t->parked_on);
}

void sched_on_interrupt(void (*fn)(void))
{
    struct scheduler *s = &sched_process;
    if (s->n_interrupt_hooks < MAX_INTERRUPT_HOOKS) s->interrupt_hooks[s->n_interrupt_hooks++] = fn;
}

static void interrupt_now(struct scheduler *s)
{
    for (int i = 0; i < s->n_interrupt_hooks; i++) s->interrupt_hooks[i]();
    wake_all_parked(s);
}

void sched_abort(int status)
{
    struct scheduler *s = &sched_process;
    if (s->interrupted) return;
    s->exit_override = status;
    s->interrupted = 1;
    interrupt_now(s);
}

/* On the loop: does what the signal handler recorded. A flag is cleared before acting on
   it, so a signal arriving meanwhile is acted on next time. */
void sched_take_signals(struct scheduler *s)
{
    if (s->pending_report) {
        s->pending_report = 0;
        if (s->sigint_event) {
            s->sigint_event->set = 1;
            sched_wake(&s->sigint_event->w);
        } else {                              /* the fan-out ended meanwhile */
            s->pending_call = 1;
        }
    }
    if (s->pending_call) {
        s->pending_call = 0;
        if (!(s->sigint_hook && s->sigint_hook()) && !s->interrupted) {   /* not the REPL's */
            s->interrupted = 1;
            s->pending_interrupt = 1;
        }
    }
    if (s->pending_interrupt) {
        s->pending_interrupt = 0;
        interrupt_now(s);
    }
}

static void signal_async_cb(uv_async_t *h) { sched_take_signals(h->data); }

void sched_set_sigint_hook(int (*fn)(void))
{
    sched_process.sigint_hook = fn;
    sched_process.sigint_ask = fn != NULL;
}

void sched_interrupt_target(lua_State *L)
{
    sched_process.interrupt_target = L;
}

void sched_interrupt_reset(void)
{
    struct scheduler *s = &sched_process;
    sched_take_signals(s);           /* what is still pending belongs to the old interrupt */
    s->interrupted = 0;
    s->exit_override = -1;
}

void sched_budget_start(struct scheduler *s, lua_State *co)
{
    if (s->interrupted) lua_sethook(co, interrupt_hook, LUA_MASKCOUNT, INTERRUPT_BUDGET);
}

int sched_budget_spent(struct scheduler *s, lua_State *co)
{
    if (s->ended_co != co) return 0;
    s->ended_co = NULL;
    return 1;
}

/* A hook that yielded leaves its count at 1: the budget starts again in full. */
void sched_budget_renew(lua_State *co)
{
    lua_sethook(co, interrupt_hook, LUA_MASKCOUNT, INTERRUPT_BUDGET);
}

void sched_signals_uninstall(struct scheduler *s)
{
    if (!s->signals_installed) return;
    for (size_t i = 0; i < sizeof handled_signals / sizeof *handled_signals; i++)
        signal(handled_signals[i], SIG_DFL);
    s->signals_installed = 0;
    if (s->signal_async_open) {
        s->signal_async_open = 0;
        uv_close((uv_handle_t *)&s->signal_async, NULL);
    }
}

/* core.on_sigint(ev [, always]): the first Ctrl-C sets ev instead of interrupting, a second
   within a second interrupts; with `always`, every Ctrl-C sets it. nil: back to normal. */
int sched_lua_on_sigint(lua_State *L)
{
    struct scheduler *s = sched_of(L);
    luaL_unref(L, LUA_REGISTRYINDEX, s->sigint_event_ref);
    s->sigint_event_ref = LUA_NOREF;
    s->sigint_event = NULL;
    s->sigint_report = 0;
    if (!lua_isnoneornil(L, 1)) {
        s->sigint_event = luaL_checkudata(L, 1, EVENT_MT);
        lua_pushvalue(L, 1);
        s->sigint_event_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    s->sigint_report_always = s->sigint_event && lua_toboolean(L, 2);
    s->sigint_report = s->sigint_event != NULL;
    return 0;
}

/* coroutine.resume and coroutine.wrap, wrapped so that running_co names the plain coroutine
   a thread runs: a busy loop inside one is interrupted too. */

/* Calls fn (the original resume, or the original wrap's function) with the arguments on the
   stack, co being the coroutine it runs; returns its results, or raises its error. */
static int co_call(lua_State *L, lua_State *co, int fn_idx)
{
    struct scheduler *s = sched_of(L);
    if (s->interrupted) lua_sethook(co, interrupt_hook, LUA_MASKCOUNT, INTERRUPT_BUDGET);
    lua_State *outer = s->running_co;
    lua_pushvalue(L, fn_idx);
    lua_insert(L, 1);
    s->running_co = co;
    int status = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
    s->running_co = outer;
    /* Interrupted meanwhile: the caller gets a budget too (only once: a loop calling this
       again and again must not renew it). */
    if (s->interrupted && lua_gethook(L) != interrupt_hook)
        lua_sethook(L, interrupt_hook, LUA_MASKCOUNT, INTERRUPT_BUDGET);
    if (s->ended_co == co) {                 /* out of interrupt budget: close it, raise here */
        s->ended_co = NULL;
        lua_sethook(co, interrupt_hook, LUA_MASKCOUNT, INTERRUPT_BUDGET);
        lua_resetthread(co);
        lua_pushliteral(L, "interrupted");
        return lua_error(L);
    }
    if (status != LUA_OK) return lua_error(L);
    return lua_gettop(L);
}

/* coroutine.resume(co, ...); upvalue 1: the original. */
static int co_resume(lua_State *L)
{
    lua_State *co = lua_tothread(L, 1);
    luaL_argexpected(L, co, 1, "coroutine");
    return co_call(L, co, lua_upvalueindex(1));
}

/* The function coroutine.wrap returned; upvalues: the original's function, its coroutine. */
static int co_wrapped_call(lua_State *L)
{
    return co_call(L, lua_tothread(L, lua_upvalueindex(2)), lua_upvalueindex(1));
}

/* coroutine.wrap(f); upvalue 1: the original. */
static int co_wrap(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);         /* the original's function, its coroutine is */
    if (!lua_getupvalue(L, -1, 1) || !lua_isthread(L, -1))   /* its first upvalue */
        return luaL_error(L, "coroutine.wrap: unexpected Lua version");
    lua_pushcclosure(L, co_wrapped_call, 2);
    return 1;
}

void sched_wrap_coroutine_library(lua_State *L)
{
    if (lua_getglobal(L, "coroutine") != LUA_TTABLE) { lua_pop(L, 1); return; }
    lua_getfield(L, -1, "resume");
    lua_pushcclosure(L, co_resume, 1);
    lua_setfield(L, -2, "resume");
    lua_getfield(L, -1, "wrap");
    lua_pushcclosure(L, co_wrap, 1);
    lua_setfield(L, -2, "wrap");
    lua_pop(L, 1);
}

/* The loop is made: its wake-up for the handler, then what the handler recorded before it
   (it could not wake a loop that was not there). */
void sched_signals_on_loop(struct scheduler *s)
{
    uv_async_init(s->loop, &s->signal_async, signal_async_cb);
    s->signal_async.data = s;
    uv_unref((uv_handle_t *)&s->signal_async);    /* it must not keep the loop alive */
    s->signal_async_open = 1;
    if (s->pending_interrupt || s->pending_report || s->pending_call)
        uv_async_send(&s->signal_async);
}

/* Ctrl-C, SIGTERM and SIGHUP go to on_signal (children get the default actions back at exec). */
void sched_signals_install(struct scheduler *s)
{
    s->loop_thread = pthread_self();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof handled_signals / sizeof *handled_signals; i++)
        sigaddset(&sa.sa_mask, handled_signals[i]);   /* one handler at a time */
    for (size_t i = 0; i < sizeof handled_signals / sizeof *handled_signals; i++)
        sigaction(handled_signals[i], &sa, NULL);
    s->signals_installed = 1;
}

/* core.sigints() -> how many Ctrl-Cs arrived so far (tells them from other event sets). */
int sched_lua_sigints(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)sched_of(L)->sigint_count);
    return 1;
}
