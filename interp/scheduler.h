/* Threads are Lua coroutines on one event loop; this is the only place that resumes one. */
#ifndef SSHS_SCHED_H
#define SSHS_SCHED_H
#include <lua.h>
#include <signal.h>
#include <uv.h>

struct sched_thread;

/* Something a thread waits on. An operation embeds one; its callback calls sched_wake(). */
struct sched_waiter {
    struct sched_thread *thread; /* who is parked here, NULL when nobody */
};

/* The loop every handle lives on (the scheduler's; one per process), made on first use. */
uv_loop_t *sched_loop(void);

/* Creates the scheduler's registry tables and the `thread` metatable. */
void sched_init(lua_State *L);

/* Starts fn (at stack index fn_idx, with nargs arguments after it) as a new thread and
   pushes its handle. `state` (a table at state_idx, or 0 for a new one) becomes the thread's
   state table (session stack, contexts, last result) as seen through sched_push_state(). */
void sched_spawn(lua_State *L, int fn_idx, int nargs, int state_idx);

/* The runtime table (the prelude's S: what translated sugar calls, and what scripts see as
   the global _SSHS), kept in the registry so that C never depends on that global: a script
   may reassign it. sched_set_runtime pops the table; sched_push_runtime pushes it. */
void sched_set_runtime(lua_State *L);
void sched_push_runtime(lua_State *L);

/* Pushes the state table of the thread running L (the main thread's when L is not a thread). */
void sched_push_state(lua_State *L);

/* Parks the running thread on w and yields; k is called when it is woken (lua_yieldk rules).
   Must be the last thing a C function does: `return sched_wait(L, w, k, ctx);` */
int sched_wait(lua_State *L, struct sched_waiter *w, lua_KFunction k, lua_KContext ctx);

/* Queues the thread parked on w, if any, to be resumed. Safe to call from any loop callback. */
void sched_wake(struct sched_waiter *w);

/* Runs ready threads and the event loop until every thread has finished.
   Returns the number of threads that ended with an error nobody joined. */
int sched_run(lua_State *L);

/* ---- Interrupts: Ctrl-C (SIGINT), SIGTERM, SIGHUP ----
   The scheduler owns these signals (nothing else may install handlers for them). A signal
   makes sched_interrupted() true, then:
   - Lua code running at that moment gets a hook that raises "interrupted" in it (as lua.c
     does), so `while true do end` stops too; after an interrupt every resume may run only a
     bounded number of instructions before "interrupted" is raised again, so a pcall that
     swallows the error does not keep the script alive;
   - on the loop (woken with uv_async), the sched_on_interrupt functions stop children and
     remote commands, and every waiting thread is woken: its wait raises "interrupted".
   SIGTERM and SIGHUP also set sched_exit_override() to 128 + the signal. */
int sched_interrupted(void);
/* Raises "interrupted" if Ctrl-C was pressed. Call from continuation functions. */
void sched_check_interrupt(lua_State *L);
/* Was the running thread cancelled (core.cancel)? Its waits should end and raise. */
int sched_cancel_pending(lua_State *L);
/* Stops the run as Ctrl-C does, but exits with status (e.g. 141 when stdout is gone). */
void sched_abort(int status);
int sched_exit_override(void);   /* -1, or the exit status asked for */
/* Registers a function run on Ctrl-C (kills children, closes channels). */
void sched_on_interrupt(void (*fn)(void));

/* For the REPL:
   - sched_set_sigint_hook(fn): while set, each Ctrl-C is first offered to fn, called on the
     loop; it returns nonzero when it handled it (at the prompt: drop the line), else Ctrl-C
     interrupts as usual. While fn is set, a signal cannot stop busy Lua (fn decides later, on
     the loop): clear it (NULL) while a chunk runs, so that Ctrl-C stops `while true do end`.
   - sched_interrupt_reset(): after the interrupted chunk has ended, forget the interrupt so
     the next chunk runs normally (clears sched_interrupted() and sched_exit_override(); hooks
     left on coroutines remove themselves when they next fire).
   - sched_interrupt_target(L): while the REPL runs a chunk on L directly (lua_pcall, not as
     a thread), a signal hooks L when no thread is running; NULL when the chunk is done.
     Chunks run as scheduler threads need nothing: the running thread is always hooked.
   SIGTERM and SIGHUP always end the run. core.on_sigint(ev, true) sets ev on every Ctrl-C. */
void sched_set_sigint_hook(int (*fn)(void));
void sched_interrupt_target(lua_State *L);
void sched_interrupt_reset(void);

/* At exit: turns the loop without blocking until done() is true or ms milliseconds have
   passed (stop signals still on their way to servers). */
void sched_drain(int (*done)(void), unsigned ms);

/* Closes the scheduler's own handles (pending sleeps, the signal wake-up) at exit and gives
   the signals their default actions back. */
void sched_shutdown(void);
/* Last: runs the loop until every handle is closed, and closes it (if it was ever made). */
void sched_close_loop(void);

/* Lua: thread(fn, ...), sleep(s), and the handle methods. */
int sched_lua_thread(lua_State *L);
int sched_lua_sleep(lua_State *L);
int sched_lua_traceback(lua_State *L);
int sched_lua_unobserved(lua_State *L);
/* core.event, core.on_sigint */
extern const struct luaL_Reg *const sched_lua_functions;

/* Pops a handle from sched_spawn and makes it the main thread (its failure ends the run). */
void sched_set_main(lua_State *L);

/* The main chunk's error, if it failed: the error value is pushed and 1 returned; else 0. */
int sched_main_error(lua_State *L);

#endif
