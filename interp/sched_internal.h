/* The scheduler's own state, shared by its two files: scheduler.c (threads, waits, join,
   sleep, events) and sched_interrupt.c (signals, Ctrl-C, the interrupt budget). Nothing else
   includes it: the rest of the program sees scheduler.h. */
#ifndef SSHS_SCHED_INTERNAL_H
#define SSHS_SCHED_INTERNAL_H
#include "scheduler.h"
#include <pthread.h>
#include <stdint.h>

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

struct event_timer;

/* core.event(): one thread at a time waits on it until it is set (or a time limit passes). */
struct sched_event {
    struct sched_waiter w;
    int set;
    struct event_timer *timer;     /* a wait with a time limit in progress */
};
#define EVENT_MT "sshs.event"

struct sleeper;

#define MAX_INTERRUPT_HOOKS 8

/* Everything the scheduler owns, in one place (as Redis's aeEventLoop holds its loop's state).
   Functions reach it from the Lua state (sched_of, as luv's luv_context), from a thread
   (t->sched) or from a handle's data, and pass it on. Signals are per process, so there is one
   per process: sched_process, named directly only where nothing else leads to it (the signal
   handler and its hook, and the entry points called without a Lua state: loop callbacks in
   other files, teardown, the REPL's Ctrl-C settings). Fields written by the signal handler
   are volatile sig_atomic_t (or volatile pointers it only reads). */
struct scheduler {
    uv_loop_t *loop;                  /* NULL until first used (sched_loop): libuv loads then */

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
    volatile sig_atomic_t signal_async_open;  /* set once the loop is made */
    int signals_installed;
};

extern struct scheduler sched_process;

/* The scheduler of the Lua state L (scheduler.c). */
struct scheduler *sched_of(lua_State *L);

/* sched_interrupt.c, for scheduler.c. */
void sched_signals_install(struct scheduler *s);    /* SIGINT, SIGTERM, SIGHUP to the handler */
void sched_signals_uninstall(struct scheduler *s);  /* their default actions back; the async goes */
void sched_signals_on_loop(struct scheduler *s);    /* with the loop: the async that wakes it */
void sched_take_signals(struct scheduler *s);       /* on the loop: act on what the handler recorded */
/* After an interrupt nothing runs unbounded: co (about to be resumed) gets a budget of VM
   instructions; sched_budget_spent says whether co yielded because it ran out (co then
   ends), sched_budget_renew gives it a fresh budget for its closing blocks. */
void sched_budget_start(struct scheduler *s, lua_State *co);
int sched_budget_spent(struct scheduler *s, lua_State *co);
void sched_budget_renew(lua_State *co);
void sched_wrap_coroutine_library(lua_State *L);    /* coroutine.resume/wrap, interruptible */
int sched_lua_on_sigint(lua_State *L);              /* core.on_sigint */
int sched_lua_sigints(lua_State *L);                /* core.sigints */

#endif
