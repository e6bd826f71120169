/* Threads as coroutines on one libuv loop. The rules (DESIGN.md): a callback never resumes,
   it only queues; sched_run() is the one place that calls lua_resume, so resumes never nest. */
#include "scheduler.h"
#include "l_util.h"
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>

enum thread_state { T_READY, T_RUNNING, T_PARKED, T_DONE, T_FAILED };

struct scheduler;

struct sched_thread {
    struct scheduler *sched;          /* the scheduler that runs it */
    lua_State *co;
    enum thread_state state;
    int id;
    int self_ref;                     /* keeps the handle alive until it finishes */
    int nargs;                        /* values to pass to the next lua_resume */
    struct sched_waiter *parked_on;   /* what it waits on, while T_PARKED */
    struct sched_waiter self_wait;    /* used for join */
    struct sched_thread *joiners;     /* threads parked in join() on this one */
    struct sched_thread *next_joiner;
    struct sched_thread *joining;     /* the thread this one waits to join */
    struct sched_thread *next_ready;
    struct sched_thread *prev_live, *next_live;
    int cancel_ref;                   /* core.cancel: the error to raise at its next wait */
    int cancel_locate;                /* prefix the error with the user's file:line */
};

struct sched_event;
struct sleeper;

#define MAX_INTERRUPT_HOOKS 8

/* Everything the scheduler owns, in one place (as Redis's aeEventLoop holds its loop's state).
   Functions reach it from the Lua state (sched_of, as luv's luv_context), from a thread
   (t->sched) or from a handle's data, and pass it on. Signals are per process, so there is one
   per process: process_sched, named directly only where nothing else leads to it (the signal
   handler and its hook, and the entry points called without a Lua state: loop callbacks in
   other files, teardown, the REPL's Ctrl-C settings). Fields written by the signal handler
   are volatile sig_atomic_t (or volatile pointers it only reads). */
struct scheduler {
    uv_loop_t *loop;

    /* Threads: the ready queue (FIFO), every unfinished thread, pending sleep() timers. */
    struct sched_thread *ready_head, *ready_tail;
    struct sched_thread *live_head;
    int live_count, next_id;
    struct sleeper *sleepers;         /* closed at shutdown */
    /* Active while a thread is ready to run. A timer that is already due fires in the timers
       phase that opens a loop iteration, before the poll; libuv knows nothing of our ready
       queue and would then poll with no time limit (with no other timer: forever), the woken
       thread waiting for some unrelated event. An active idle handle makes that poll return
       at once. */
    uv_idle_t ready_idle;
    int ready_idle_open;

    /* What runs Lua right now: the signal handler hooks it. */
    lua_State *volatile running_thread;   /* the thread resume() is running, or NULL */
    lua_State *volatile running_co;       /* the innermost coroutine running: that thread, or a
                                             plain coroutine it resumed; or NULL */
    lua_State *volatile interrupt_target; /* the REPL's state while it runs a chunk on it */
    lua_State *ended_co;                  /* the coroutine the budget hook yielded out of */

    /* The interrupt (sched_interrupted(), sched_exit_override()) and the functions that stop
       children and remote commands when it comes (sched_on_interrupt). */
    volatile sig_atomic_t interrupted;
    volatile sig_atomic_t exit_override;  /* -1, or the exit status asked for */
    void (*interrupt_hooks[MAX_INTERRUPT_HOOKS])(void);
    int n_interrupt_hooks;

    /* What Ctrl-C does: interrupt; or, in fan-outs, first report who is still running (a Lua
       thread waits on sigint_event) and interrupt on a second press within a second (or set
       the event every time: sigint_report_always); or ask the REPL's function (sigint_hook)
       on the loop first. */
    volatile sig_atomic_t sigint_report, sigint_report_always, sigint_ask;
    volatile sig_atomic_t sigint_count;   /* Ctrl-Cs so far (core.sigints) */
    uint64_t last_sigint;                 /* touched by the handler only */
    struct sched_event *sigint_event;
    int sigint_event_ref;
    int (*sigint_hook)(void);

    /* The signal handler's hand-over to the loop: what it recorded, the async that wakes the
       loop, the loop's thread (libuv's pool threads pass signals on to it). */
    volatile sig_atomic_t pending_interrupt, pending_report, pending_call;
    pthread_t loop_thread;
    uv_async_t signal_async;
    int signals_installed;
};

static struct scheduler process_sched = {
    .exit_override = -1, .sigint_event_ref = LUA_NOREF,
};

static const char sched_key;        /* its address keys the scheduler in the registry */

/* The scheduler of the Lua state L. */
static struct scheduler *sched_of(lua_State *L)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &sched_key);
    struct scheduler *s = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return s;
}

#define THREAD_MT   "sshs.thread"
#define REG_BY_CO   "sshs.threads"      /* [lightuserdata co] = handle, while alive */
#define REG_MAIN    "sshs.main"         /* the main chunk's handle */
#define REG_UNSEEN  "sshs.unobserved"   /* [handle] = true: failed, nobody joined yet */
#define REG_TRACES  "sshs.tracebacks"   /* [error value] = traceback of the thread it ended */
enum { UV_CO = 1, UV_STATE, UV_RESULT, UV_NUSER = 3 };

static const int handled_signals[] = {SIGINT, SIGTERM, SIGHUP};

uv_loop_t *sched_loop(void) { return process_sched.loop; }

int sched_interrupted(void) { return process_sched.interrupted; }

int sched_exit_override(void) { return process_sched.exit_override; }

static void ready_idle_cb(uv_idle_t *h) { (void)h; }

static void enqueue(struct sched_thread *t)
{
    struct scheduler *s = t->sched;
    t->state = T_READY;
    t->next_ready = NULL;
    if (s->ready_tail) s->ready_tail->next_ready = t; else s->ready_head = t;
    s->ready_tail = t;
    if (s->ready_idle_open && !uv_is_active((uv_handle_t *)&s->ready_idle))
        uv_idle_start(&s->ready_idle, ready_idle_cb);
}

void sched_wake(struct sched_waiter *w)
{
    struct sched_thread *t = w->thread;
    if (!t || t->state != T_PARKED || t->parked_on != w) return;  /* raced with a timeout or Ctrl-C */
    w->thread = NULL;
    t->parked_on = NULL;
    enqueue(t);
}

/* ---- Interrupts: Ctrl-C, SIGTERM, SIGHUP ----
   The signal handler does only async-signal-safe work, as lua.c's laction does: it records
   what happened, sets a hook on the Lua code running right now (if any), and wakes the loop
   with uv_async_send. The hook raises "interrupted" inside that code, so a busy loop stops;
   take_signals(), on the loop, stops children and remote commands (sched_on_interrupt) and
   wakes every waiting thread, whose wait raises "interrupted" in turn. */

struct event_timer;

struct sched_event {
    struct sched_waiter w;
    int set;
    struct event_timer *timer;     /* a wait with a time limit in progress */
};

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
    struct scheduler *s = &process_sched;
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
    struct scheduler *s = &process_sched;
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
    uv_async_send(&s->signal_async);     /* async-signal-safe */
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
    struct scheduler *s = &process_sched;
    if (s->n_interrupt_hooks < MAX_INTERRUPT_HOOKS) s->interrupt_hooks[s->n_interrupt_hooks++] = fn;
}

static void interrupt_now(struct scheduler *s)
{
    for (int i = 0; i < s->n_interrupt_hooks; i++) s->interrupt_hooks[i]();
    wake_all_parked(s);
}

void sched_abort(int status)
{
    struct scheduler *s = &process_sched;
    if (s->interrupted) return;
    s->exit_override = status;
    s->interrupted = 1;
    interrupt_now(s);
}

/* On the loop: does what the signal handler recorded. A flag is cleared before acting on
   it, so a signal arriving meanwhile is acted on next time. */
static void take_signals(struct scheduler *s)
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

static void signal_async_cb(uv_async_t *h) { take_signals(h->data); }

void sched_set_sigint_hook(int (*fn)(void))
{
    process_sched.sigint_hook = fn;
    process_sched.sigint_ask = fn != NULL;
}

void sched_interrupt_target(lua_State *L)
{
    process_sched.interrupt_target = L;
}

void sched_interrupt_reset(void)
{
    struct scheduler *s = &process_sched;
    take_signals(s);                 /* what is still pending belongs to the old interrupt */
    s->interrupted = 0;
    s->exit_override = -1;
}

static struct sched_thread *thread_of(lua_State *L);

int sched_cancel_pending(lua_State *L)
{
    struct sched_thread *t = thread_of(L);
    return t && t->cancel_ref != LUA_NOREF;
}

void sched_check_interrupt(lua_State *L)
{
    struct sched_thread *t = thread_of(L);
    if (t && t->cancel_ref != LUA_NOREF) {
        int locate = t->cancel_locate;
        t->cancel_locate = 0;
        if (locate) {                     /* "file:line: " of the user's code, from the runtime */
            sched_push_runtime(L);
            lua_getfield(L, -1, "user_where");
            lua_call(L, 0, 1);
        }
        lua_rawgeti(L, LUA_REGISTRYINDEX, t->cancel_ref);
        luaL_unref(L, LUA_REGISTRYINDEX, t->cancel_ref);
        t->cancel_ref = LUA_NOREF;
        if (locate) lua_concat(L, 2);
        lua_error(L);
    }
    if (sched_of(L)->interrupted) {         /* exactly "interrupted", wherever it is raised */
        lua_pushliteral(L, "interrupted");
        lua_error(L);
    }
}

static struct sched_thread *thread_of(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, REG_BY_CO);
    lua_rawgetp(L, -1, L);
    struct sched_thread *t = lua_touserdata(L, -1);
    lua_pop(L, 2);
    return t;
}

int sched_wait(lua_State *L, struct sched_waiter *w, lua_KFunction k, lua_KContext ctx)
{
    struct sched_thread *t = thread_of(L);
    if (!t || t->state != T_RUNNING)
        return luaL_error(L, "cannot wait here: commands, sleep and join must run in a thread "
                             "(a coroutine made with thread(), not coroutine.create)");
    w->thread = t;
    t->parked_on = w;
    t->state = T_PARKED;
    return lua_yieldk(L, 0, ctx, k);
}

static const char runtime_key;            /* its address keys the runtime in the registry */

void sched_set_runtime(lua_State *L) { lua_rawsetp(L, LUA_REGISTRYINDEX, &runtime_key); }

void sched_push_runtime(lua_State *L) { lua_rawgetp(L, LUA_REGISTRYINDEX, &runtime_key); }

void sched_push_state(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, REG_BY_CO);
    lua_rawgetp(L, -1, L);
    if (lua_isnil(L, -1)) {            /* not a thread (e.g. REPL helpers): use main's */
        lua_pop(L, 1);
        lua_getfield(L, LUA_REGISTRYINDEX, REG_MAIN);
    }
    if (lua_isnil(L, -1)) lua_pushnil(L);   /* before the main thread exists: no state */
    else lua_getiuservalue(L, -1, UV_STATE);
    lua_replace(L, -3);
    lua_pop(L, 1);
}

void sched_spawn(lua_State *L, int fn_idx, int nargs, int state_idx)
{
    fn_idx = lua_absindex(L, fn_idx);
    if (state_idx) state_idx = lua_absindex(L, state_idx);
    struct scheduler *s = sched_of(L);
    struct sched_thread *t = lua_newuserdatauv(L, sizeof *t, UV_NUSER);
    memset(t, 0, sizeof *t);
    t->sched = s;
    t->self_ref = LUA_NOREF;
    t->cancel_ref = LUA_NOREF;
    luaL_setmetatable(L, THREAD_MT);
    int h = lua_gettop(L);

    t->co = lua_newthread(L);
    lua_setiuservalue(L, h, UV_CO);
    if (state_idx) lua_pushvalue(L, state_idx); else lua_newtable(L);
    lua_setiuservalue(L, h, UV_STATE);

    /* Both stacks need room for fn and its arguments (lcorolib's auxresume checks too). */
    if (!lua_checkstack(t->co, nargs + 1)) luaL_error(L, "too many arguments to a thread");
    luaL_checkstack(L, nargs + 1, "too many arguments to a thread");
    for (int i = 0; i <= nargs; i++) lua_pushvalue(L, fn_idx + i);
    lua_xmove(L, t->co, nargs + 1);
    t->nargs = nargs;
    t->id = s->next_id++;

    lua_getfield(L, LUA_REGISTRYINDEX, REG_BY_CO);
    lua_pushvalue(L, h);
    lua_rawsetp(L, -2, t->co);
    lua_pop(L, 1);
    lua_pushvalue(L, h);
    t->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);

    t->next_live = s->live_head;
    if (s->live_head) s->live_head->prev_live = t;
    s->live_head = t;
    s->live_count++;
    enqueue(t);
}

/* Pushes a handle's error value with its traceback recorded, for -v and SSHS_TRACEBACK. */
static void record_traceback(lua_State *L, lua_State *co, int err_idx)
{
    if (lua_isnil(L, err_idx) || (lua_type(L, err_idx) == LUA_TNUMBER &&
                                  lua_tonumber(L, err_idx) != lua_tonumber(L, err_idx)))
        return;                           /* nil and NaN cannot be table keys */
    luaL_traceback(L, co, NULL, 0);       /* the message itself is printed by the caller */
    lua_getfield(L, LUA_REGISTRYINDEX, REG_TRACES);
    lua_pushvalue(L, err_idx);
    lua_pushvalue(L, -3);
    lua_rawset(L, -3);
    lua_pop(L, 2);
}

static void unlink_live(struct sched_thread *t)
{
    struct scheduler *s = t->sched;
    if (t->prev_live) t->prev_live->next_live = t->next_live; else s->live_head = t->next_live;
    if (t->next_live) t->next_live->prev_live = t->prev_live;
    t->prev_live = t->next_live = NULL;
    s->live_count--;
}

/* The thread returned or raised: keep its results (or error) on the handle, run its <close>
   variables, wake joiners and let the handle be collected once nobody holds it. */
static void finish(lua_State *L, struct sched_thread *t, int status, int nres)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->self_ref);
    int h = lua_gettop(L);
    if (status == LUA_OK && !lua_checkstack(t->co, 3)) {
        lua_pop(t->co, nres);             /* no room even for the table: report it */
        lua_pushliteral(t->co, "a thread returned too many values");
        status = LUA_ERRRUN;
    }
    if (status == LUA_OK) {
        /* The results go into a table built on the finished coroutine's own stack, where
           they already are: L may have room for only a few values. */
        lua_State *co = t->co;
        lua_createtable(co, nres, 1);
        lua_insert(co, -(nres + 1));
        for (int i = nres; i >= 1; i--) lua_rawseti(co, -(i + 1), i);  /* pops the top value */
        lua_pushinteger(co, nres);
        lua_setfield(co, -2, "n");
        lua_xmove(co, L, 1);
        t->state = T_DONE;
    } else {
        lua_xmove(t->co, L, 1);              /* the error value */
        int e = lua_gettop(L);
        lua_pushvalue(L, e);
        lua_xmove(L, t->co, 1);
        record_traceback(L, t->co, e);
        lua_settop(L, e);
        /* lua_resetthread closes pending to-be-closed variables (their `with` blocks). */
        if (lua_resetthread(t->co) != LUA_OK) {
            lua_xmove(t->co, L, 1);          /* a __close raised: that error wins */
            lua_replace(L, e);
        }
        lua_newtable(L);
        lua_pushvalue(L, e);
        lua_setfield(L, -2, "error");
        lua_remove(L, e);
        t->state = T_FAILED;
        if (!t->joiners) {
            lua_getfield(L, LUA_REGISTRYINDEX, REG_UNSEEN);
            lua_pushvalue(L, h);
            lua_pushboolean(L, 1);
            lua_rawset(L, -3);
            lua_pop(L, 1);
        }
    }
    lua_setiuservalue(L, h, UV_RESULT);

    lua_getfield(L, LUA_REGISTRYINDEX, REG_BY_CO);
    lua_pushnil(L);
    lua_rawsetp(L, -2, t->co);
    lua_pop(L, 2);
    luaL_unref(L, LUA_REGISTRYINDEX, t->self_ref);
    t->self_ref = LUA_NOREF;
    luaL_unref(L, LUA_REGISTRYINDEX, t->cancel_ref);
    t->cancel_ref = LUA_NOREF;
    unlink_live(t);

    for (struct sched_thread *j = t->joiners; j; j = j->next_joiner) sched_wake(&j->self_wait);
}

static void resume(lua_State *L, struct sched_thread *t)
{
    struct scheduler *s = t->sched;
    int nres = 0, nargs = t->nargs;
    t->nargs = 0;
    t->state = T_RUNNING;
    /* After an interrupt nothing runs unbounded: see INTERRUPT_BUDGET. */
    if (s->interrupted) lua_sethook(t->co, interrupt_hook, LUA_MASKCOUNT, INTERRUPT_BUDGET);
    s->running_thread = s->running_co = t->co;
    int status = lua_resume(t->co, L, nargs, &nres);
    s->running_thread = s->running_co = NULL;
    if (status == LUA_YIELD && s->ended_co == t->co) {   /* out of interrupt budget: it ends */
        s->ended_co = NULL;
        lua_pop(t->co, nres);
        lua_checkstack(t->co, 1);
        lua_pushliteral(t->co, "interrupted");
        /* A fresh budget for its closing blocks (a hook that yielded leaves its count at 1). */
        lua_sethook(t->co, interrupt_hook, LUA_MASKCOUNT, INTERRUPT_BUDGET);
        finish(L, t, LUA_ERRRUN, 0);
        return;
    }
    if (status == LUA_YIELD) {
        lua_pop(t->co, nres);
        if (t->state == T_RUNNING) enqueue(t);   /* a bare coroutine.yield(): let others run */
        return;
    }
    finish(L, t, status, nres);
}

static int main_finished(lua_State *L, int *failed)
{
    lua_getfield(L, LUA_REGISTRYINDEX, REG_MAIN);
    struct sched_thread *m = lua_touserdata(L, -1);
    lua_pop(L, 1);
    *failed = m && m->state == T_FAILED;
    return !m || m->state == T_DONE || m->state == T_FAILED;
}

int sched_run(lua_State *L)
{
    struct scheduler *s = sched_of(L);
    int main_failed = 0;
    for (;;) {
        while (s->ready_head) {
            struct sched_thread *t = s->ready_head;
            s->ready_head = t->next_ready;
            if (!s->ready_head) s->ready_tail = NULL;
            resume(L, t);
            take_signals(s);      /* a hook may have stopped it: stop children before anything ends */
        }
        if (s->ready_idle_open) uv_idle_stop(&s->ready_idle);
        if (main_finished(L, &main_failed) && main_failed) break;   /* the script failed: stop */
        if (s->live_count == 0) break;
        if (!uv_loop_alive(s->loop)) {
            /* Everyone is parked on something no event can complete (a join cycle). One of
               them (the newest) raises; that may free the others, else the next round
               picks another. */
            struct sched_thread *t = s->live_head;
            while (t && !(t->state == T_PARKED && t->parked_on)) t = t->next_live;
            if (!t) break;
            luaL_unref(L, LUA_REGISTRYINDEX, t->cancel_ref);
            lua_pushliteral(L, "deadlock: every thread is waiting and nothing can wake them");
            t->cancel_ref = luaL_ref(L, LUA_REGISTRYINDEX);
            t->cancel_locate = 1;
            sched_wake(t->parked_on);
            continue;
        }
        uv_run(s->loop, UV_RUN_ONCE);
    }
    /* Count failures nobody joined; the caller reports them. */
    lua_getfield(L, LUA_REGISTRYINDEX, REG_UNSEEN);
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, -2)) { lua_pop(L, 1); n++; }
    lua_pop(L, 1);
    return n;
}

void sched_set_main(lua_State *L)
{
    lua_setfield(L, LUA_REGISTRYINDEX, REG_MAIN);
}

int sched_main_error(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, REG_MAIN);
    struct sched_thread *m = lua_touserdata(L, -1);
    if (!m || m->state != T_FAILED) { lua_pop(L, 1); return 0; }
    lua_getiuservalue(L, -1, UV_RESULT);
    lua_getfield(L, -1, "error");
    lua_replace(L, -3);
    lua_pop(L, 1);
    return 1;
}

/* ---- Lua side: thread(fn, ...), h:join(), h:status(), sleep(s) ---- */

int sched_lua_thread(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    int nargs = lua_gettop(L) - 1;
    /* The new thread's state starts as a copy made by the runtime (session stack, contexts). */
    sched_push_runtime(L);
    lua_getfield(L, -1, "inherit_state");
    lua_remove(L, -2);
    sched_push_state(L);
    lua_call(L, 1, 1);
    int st = lua_gettop(L);
    sched_spawn(L, 1, nargs, st);
    return 1;
}

static void push_outcome(lua_State *L, struct sched_thread *t, int h)
{
    lua_getfield(L, LUA_REGISTRYINDEX, REG_UNSEEN);
    lua_pushvalue(L, h);
    lua_pushnil(L);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    lua_getiuservalue(L, h, UV_RESULT);
}

static int deliver(lua_State *L, struct sched_thread *t)
{
    push_outcome(L, t, 1);
    if (t->state == T_FAILED) {
        lua_getfield(L, -1, "error");
        return lua_error(L);
    }
    lua_getfield(L, -1, "n");
    int n = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    luaL_checkstack(L, n, "too many results");
    for (int i = 1; i <= n; i++) lua_rawgeti(L, -i, i);
    return n;
}

static int join_k(lua_State *L, int status, lua_KContext ctx)
{
    struct sched_thread *t = luaL_checkudata(L, 1, THREAD_MT);
    struct sched_thread *me = thread_of(L);
    if (me && me->joining == t) {           /* leave t's joiner list, however we were woken */
        for (struct sched_thread **p = &t->joiners; *p; p = &(*p)->next_joiner)
            if (*p == me) { *p = me->next_joiner; break; }
        me->joining = NULL;
    }
    if (t->state != T_DONE && t->state != T_FAILED) sched_check_interrupt(L);
    return deliver(L, t);
}

static int thread_join(lua_State *L)
{
    struct sched_thread *t = luaL_checkudata(L, 1, THREAD_MT);
    if (t->state == T_DONE || t->state == T_FAILED) return deliver(L, t);
    struct sched_thread *me = thread_of(L);
    if (me == t) return luaL_error(L, "a thread cannot join itself");
    if (!me) return luaL_error(L, "join must be called from a thread");
    me->joining = t;
    me->next_joiner = t->joiners;
    t->joiners = me;
    return sched_wait(L, &me->self_wait, join_k, 0);
}

static int thread_status(lua_State *L)
{
    static const char *names[] = {"ready", "running", "waiting", "done", "failed"};
    struct sched_thread *t = luaL_checkudata(L, 1, THREAD_MT);
    lua_pushstring(L, names[t->state]);
    return 1;
}

static int thread_tostring(lua_State *L)
{
    struct sched_thread *t = luaL_checkudata(L, 1, THREAD_MT);
    lua_pushfstring(L, "thread %d", t->id);
    return 1;
}

struct sleeper {
    uv_timer_t timer;
    struct sched_waiter w;
    struct scheduler *sched;
    struct sleeper *prev, *next;   /* pending sleeps, closed at shutdown */
};

static void sleeper_closed(uv_handle_t *h) { free(h->data); }

static void sleeper_fired(uv_timer_t *timer)
{
    struct sleeper *sl = timer->data;
    if (sl->prev) sl->prev->next = sl->next; else sl->sched->sleepers = sl->next;
    if (sl->next) sl->next->prev = sl->prev;
    sched_wake(&sl->w);
    uv_close((uv_handle_t *)&sl->timer, sleeper_closed);
}

void sched_drain(int (*done)(void), unsigned ms)
{
    uint64_t deadline = uv_hrtime() + (uint64_t)ms * 1000000u;
    while (!done() && uv_hrtime() < deadline) {
        uv_run(process_sched.loop, UV_RUN_NOWAIT);
        if (!done()) nanosleep(&(struct timespec){0, 2000000}, NULL);
    }
}

void sched_shutdown(void)
{
    struct scheduler *s = &process_sched;
    while (s->sleepers) {
        struct sleeper *sl = s->sleepers;
        s->sleepers = sl->next;
        uv_close((uv_handle_t *)&sl->timer, sleeper_closed);
    }
    if (s->ready_idle_open) {
        s->ready_idle_open = 0;
        uv_close((uv_handle_t *)&s->ready_idle, NULL);
    }
    if (s->signals_installed) {          /* the default actions again, then the wake-up goes */
        for (size_t i = 0; i < sizeof handled_signals / sizeof *handled_signals; i++)
            signal(handled_signals[i], SIG_DFL);
        s->signals_installed = 0;
        uv_close((uv_handle_t *)&s->signal_async, NULL);
    }
}

static int sleep_k(lua_State *L, int status, lua_KContext ctx)
{
    sched_check_interrupt(L);
    return 0;
}

int sched_lua_sleep(lua_State *L)
{
    int isnum;
    lua_Number s = lua_tonumberx(L, 1, &isnum);
    if (!isnum) return luaL_error(L, "sleep: expected a number of seconds, got %s", luaL_typename(L, 1));
    if (s < 0 || s != s) return luaL_error(L, "sleep: seconds must be >= 0, got %f", (double)s);
    if (s > 1e9) s = 1e9;
    struct scheduler *sched = sched_of(L);
    struct sleeper *sl = malloc(sizeof *sl);
    if (!sl) return luaL_error(L, "sleep: out of memory");
    sl->w.thread = NULL;
    sl->sched = sched;
    sl->prev = NULL;
    sl->next = sched->sleepers;
    if (sched->sleepers) sched->sleepers->prev = sl;
    sched->sleepers = sl;
    uv_timer_init(sched->loop, &sl->timer);
    sl->timer.data = sl;
    uv_timer_start(&sl->timer, sleeper_fired, (uint64_t)llround(s * 1000.0), 0);
    return sched_wait(L, &sl->w, sleep_k, 0);
}

/* core.traceback(err) -> the traceback of the thread that err ended, or nil. */
int sched_lua_traceback(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, REG_TRACES);
    lua_pushvalue(L, 1);
    lua_rawget(L, -2);
    return 1;
}

/* core.unobserved() -> the errors of failed threads nobody joined. */
int sched_lua_unobserved(lua_State *L)
{
    lua_newtable(L);
    lua_getfield(L, LUA_REGISTRYINDEX, REG_UNSEEN);
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pop(L, 1);
        lua_getiuservalue(L, -1, UV_RESULT);
        lua_getfield(L, -1, "error");
        lua_rawseti(L, -5, ++n);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return 1;
}

/* core.cancel(handle, err): the thread raises err at its next wait (now, if it waits). */
static int thread_cancel(lua_State *L)
{
    struct sched_thread *t = luaL_checkudata(L, 1, THREAD_MT);
    luaL_checkany(L, 2);
    if (t->state == T_DONE || t->state == T_FAILED) return 0;
    luaL_unref(L, LUA_REGISTRYINDEX, t->cancel_ref);
    lua_pushvalue(L, 2);
    t->cancel_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    if (t->state == T_PARKED && t->parked_on) sched_wake(t->parked_on);
    return 0;
}

#define EVENT_MT "sshs.event"

/* core.event() -> an event: ev:wait() parks until ev:set(); one thread waits at a time. */
static int event_new(lua_State *L)
{
    struct sched_event *ev = lua_newuserdatauv(L, sizeof *ev, 0);
    ev->w.thread = NULL;
    ev->set = 0;
    ev->timer = NULL;
    luaL_setmetatable(L, EVENT_MT);
    return 1;
}

struct event_timer {
    uv_timer_t timer;
    struct sched_event *ev;        /* NULL once the wait is over */
    int fired;
};

static void event_timer_closed(uv_handle_t *h) { free(h->data); }

static void event_timer_fired(uv_timer_t *h)
{
    struct event_timer *t = h->data;
    t->fired = 1;
    if (t->ev) sched_wake(&t->ev->w);
}

/* Ends a timed wait: the timer goes, whichever came first. */
static void event_timer_done(struct sched_event *ev)
{
    if (!ev->timer) return;
    ev->timer->ev = NULL;
    uv_close((uv_handle_t *)&ev->timer->timer, event_timer_closed);
    ev->timer = NULL;
}

static int event_wait_k(lua_State *L, int status, lua_KContext ctx)
{
    struct sched_event *ev = luaL_checkudata(L, 1, EVENT_MT);
    if (ev->set) {
        ev->set = 0;
        event_timer_done(ev);
        lua_pushboolean(L, 1);
        return 1;
    }
    if (ev->timer && ev->timer->fired) {
        event_timer_done(ev);
        lua_pushboolean(L, 0);
        return 1;
    }
    if (sched_of(L)->interrupted || sched_cancel_pending(L)) event_timer_done(ev);
    sched_check_interrupt(L);
    return sched_wait(L, &ev->w, event_wait_k, 0);
}

/* ev:wait([seconds]) -> true when set, false when the time ran out. */
static int event_wait(lua_State *L)
{
    struct sched_event *ev = luaL_checkudata(L, 1, EVENT_MT);
    if (!lua_isnoneornil(L, 2) && !ev->set) {
        lua_Number s = luaL_checknumber(L, 2);
        if (ev->timer) return luaL_error(L, "event: another thread is already waiting");
        struct event_timer *t = malloc(sizeof *t);
        if (!t) return luaL_error(L, "out of memory");
        t->ev = ev;
        t->fired = 0;
        uv_timer_init(sched_of(L)->loop, &t->timer);
        t->timer.data = t;
        uv_timer_start(&t->timer, event_timer_fired, s > 0 ? (uint64_t)(s * 1000.0) : 0, 0);
        ev->timer = t;
    }
    return event_wait_k(L, LUA_OK, 0);
}

static int event_set(lua_State *L)
{
    struct sched_event *ev = luaL_checkudata(L, 1, EVENT_MT);
    ev->set = 1;
    sched_wake(&ev->w);
    return 0;
}

/* core.on_sigint(ev [, always]): the first Ctrl-C sets ev instead of interrupting, a second
   within a second interrupts; with `always`, every Ctrl-C sets it. nil: back to normal. */
static int on_sigint_event(lua_State *L)
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

static void wrap_coroutine_library(lua_State *L)
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

/* Ctrl-C, SIGTERM and SIGHUP go to on_signal (children get the default actions back at exec). */
static void install_signals(struct scheduler *s)
{
    s->loop_thread = pthread_self();
    uv_async_init(s->loop, &s->signal_async, signal_async_cb);
    s->signal_async.data = s;
    uv_unref((uv_handle_t *)&s->signal_async);    /* it must not keep the loop alive */
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

void sched_init(lua_State *L)
{
    struct scheduler *s = &process_sched;
    s->loop = uv_default_loop();
    if (!s->ready_idle_open) {
        uv_idle_init(s->loop, &s->ready_idle);
        s->ready_idle_open = 1;
    }
    install_signals(s);
    lua_pushlightuserdata(L, s);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &sched_key);
    wrap_coroutine_library(L);

    lua_newtable(L); lua_setfield(L, LUA_REGISTRYINDEX, REG_BY_CO);
    lua_newtable(L); lua_setfield(L, LUA_REGISTRYINDEX, REG_UNSEEN);
    lua_newtable(L); lua_setfield(L, LUA_REGISTRYINDEX, REG_TRACES);

    static const luaL_Reg methods[] = {
        {"join", thread_join}, {"status", thread_status}, {NULL, NULL}};
    static const luaL_Reg meta[] = {{"__tostring", thread_tostring}, {NULL, NULL}};
    lutil_newmeta(L, THREAD_MT, methods, meta);
    static const luaL_Reg event_methods[] = {{"wait", event_wait}, {"set", event_set}, {NULL, NULL}};
    lutil_newmeta(L, EVENT_MT, event_methods, NULL);
}

/* core.sigints() -> how many Ctrl-Cs arrived so far (tells them from other event sets). */
static int sigints(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)sched_of(L)->sigint_count);
    return 1;
}

/* core.spawn_in(state, fn, ...): a thread whose state table (session stack, contexts, `$`)
   is `state` itself, shared with its creator: the REPL runs each chunk so. */
static int spawn_in(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    sched_spawn(L, 2, lua_gettop(L) - 2, 1);
    return 1;
}

static const luaL_Reg lua_functions[] = {
    {"event", event_new}, {"on_sigint", on_sigint_event}, {"cancel", thread_cancel},
    {"spawn_in", spawn_in}, {"sigints", sigints}, {NULL, NULL}};
const luaL_Reg *const sched_lua_functions = lua_functions;
