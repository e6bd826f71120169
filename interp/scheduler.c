/* Threads as coroutines on one libuv loop. The rules (DESIGN.md): a callback never resumes,
   it only queues; sched_run() is the one place that calls lua_resume, so resumes never nest. */
#include "sched_internal.h"
#include "l_util.h"
#include "loop_timer.h"
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>

struct scheduler sched_process = {
    .exit_override = -1, .sigint_event_ref = LUA_NOREF,
};

static const char sched_key;        /* its address keys the scheduler in the registry */

/* The scheduler of the Lua state L. */
struct scheduler *sched_of(lua_State *L)
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

/* The loop, made on first use (loading libuv, interp/uv_lazy.c): a run that never waits on
   anything has none. With it, the ready idle handle and the signals' wake-up. */
uv_loop_t *sched_loop(void)
{
    struct scheduler *s = &sched_process;
    if (!s->loop) {
        s->loop = uv_default_loop();
        uv_idle_init(s->loop, &s->ready_idle);
        s->ready_idle_open = 1;
        sched_signals_on_loop(s);
    }
    return s->loop;
}

void sched_close_loop(void)
{
    struct scheduler *s = &sched_process;
    if (!s->loop) return;
    uv_run(s->loop, UV_RUN_DEFAULT);
    uv_loop_close(s->loop);
}

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
    /* After an interrupt nothing runs unbounded (sched_interrupt.c). */
    sched_budget_start(s, t->co);
    s->running_thread = s->running_co = t->co;
    int status = lua_resume(t->co, L, nargs, &nres);
    s->running_thread = s->running_co = NULL;
    if (status == LUA_YIELD && sched_budget_spent(s, t->co)) {   /* out of interrupt budget: it ends */
        lua_pop(t->co, nres);
        lua_checkstack(t->co, 1);
        lua_pushliteral(t->co, "interrupted");
        sched_budget_renew(t->co);               /* for its closing blocks */
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
            sched_take_signals(s); /* a hook may have stopped it: stop children before anything ends */
        }
        if (s->ready_idle_open) uv_idle_stop(&s->ready_idle);
        if (main_finished(L, &main_failed) && main_failed) break;   /* the script failed: stop */
        if (s->live_count == 0) break;
        if (!s->loop || !uv_loop_alive(s->loop)) {
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
    if (!sched_process.loop) return;    /* nothing was ever started */
    uint64_t deadline = uv_hrtime() + (uint64_t)ms * 1000000u;
    while (!done() && uv_hrtime() < deadline) {
        uv_run(sched_process.loop, UV_RUN_NOWAIT);
        if (!done()) nanosleep(&(struct timespec){0, 2000000}, NULL);
    }
}

void sched_shutdown(void)
{
    struct scheduler *s = &sched_process;
    while (s->sleepers) {
        struct sleeper *sl = s->sleepers;
        s->sleepers = sl->next;
        uv_close((uv_handle_t *)&sl->timer, sleeper_closed);
    }
    if (s->ready_idle_open) {
        s->ready_idle_open = 0;
        uv_close((uv_handle_t *)&s->ready_idle, NULL);
    }
    sched_signals_uninstall(s);
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
    uv_timer_init(sched_loop(), &sl->timer);
    sl->timer.data = sl;
    loop_timer_start(&sl->timer, sleeper_fired, (uint64_t)llround(s * 1000.0), 0);
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

/* core.event() -> an event: ev:wait() parks until ev:set(); one thread waits at a time. */
static const struct lutil_meta event_meta;     /* below; made with the first event */

static int event_new(lua_State *L)
{
    struct sched_event *ev = lua_newuserdatauv(L, sizeof *ev, 0);
    ev->w.thread = NULL;
    ev->set = 0;
    ev->timer = NULL;
    lutil_setmeta(L, &event_meta);
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
        uv_timer_init(sched_loop(), &t->timer);
        t->timer.data = t;
        loop_timer_start(&t->timer, event_timer_fired, s > 0 ? (uint64_t)(s * 1000.0) : 0, 0);
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

static const luaL_Reg event_methods[] = {{"wait", event_wait}, {"set", event_set}, {NULL, NULL}};
static const struct lutil_meta event_meta = {EVENT_MT, event_methods, NULL};

void sched_init(lua_State *L)
{
    struct scheduler *s = &sched_process;
    sched_signals_install(s);
    lua_pushlightuserdata(L, s);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &sched_key);
    sched_wrap_coroutine_library(L);

    lua_newtable(L); lua_setfield(L, LUA_REGISTRYINDEX, REG_BY_CO);
    lua_newtable(L); lua_setfield(L, LUA_REGISTRYINDEX, REG_UNSEEN);
    lua_newtable(L); lua_setfield(L, LUA_REGISTRYINDEX, REG_TRACES);

    static const luaL_Reg methods[] = {
        {"join", thread_join}, {"status", thread_status}, {NULL, NULL}};
    static const luaL_Reg meta[] = {{"__tostring", thread_tostring}, {NULL, NULL}};
    lutil_newmeta(L, THREAD_MT, methods, meta);
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
    {"event", event_new}, {"on_sigint", sched_lua_on_sigint}, {"cancel", thread_cancel},
    {"spawn_in", spawn_in}, {"sigints", sched_lua_sigints}, {NULL, NULL}};
const luaL_Reg *const sched_lua_functions = lua_functions;
