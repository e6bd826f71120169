/* Live output of commands: whole lines only, each with an optional "host: " prefix, so the
   output of concurrent threads never interleaves inside a line. */
#ifndef SSHS_OUTPUT_H
#define SSHS_OUTPUT_H
#include "buf.h"

struct out_stream {
    int fd;               /* 1 or 2 */
    const char *prefix;   /* "web1: " or NULL; owned by the caller */
    int color;            /* colour the prefix (stderr on a terminal) */
    struct buf partial;   /* an incomplete last line waiting for its newline */
};

/* Writes every complete line of data (with the partial one kept from before); keeps the rest. */
void out_write(struct out_stream *s, const char *data, size_t len);
/* Writes what is left of an unfinished line (a newline is added when lines are prefixed). */
void out_flush(struct out_stream *s);
/* Writes all of p to fd, retrying on EINTR/EAGAIN; output errors are ignored (a closed stdout). */
void out_write_all(int fd, const char *p, size_t n);
/* While the REPL reads a line: hide() before and show() after each write to stdout/stderr,
   so output of threads running in the background lands above the prompt. NULL: none. */
void out_set_prompt_hooks(void (*hide)(void), void (*show)(void));

/* A progress line kept at the bottom of the terminal (stderr): output lines written to a
   terminal clear it first and redraw it after. "" removes it. */
void out_set_status(const char *text);

/* A question is on the terminal (tty_prompt.c, on /dev/tty; NULL: no more): output to that
   terminal goes above it (its last line is cleared, the output written, the line written
   again), and the progress line is off the screen until the question is answered. */
void out_set_question(const char *text);
/* A question is on the terminal that fd (1 or 2) writes to: out_write_all puts text above it. */
int out_question_on(int fd);

/* The stdout queue (output.c): when stdout is a pipe or socket, what goes to fd 1 is queued
   and written by a thread of its own, so a slow reader never holds the loop. Call once,
   before the Lua io library is opened (it takes stdio's stdout). */
void out_queue_start(void);
/* More than the queue's bound waits: producers should hold off (see out_when_drained). */
int out_backlogged(void);
/* Calls w->fn once, on the loop, when the queue is back under its low mark. */
struct out_waiter {
    struct out_waiter *next;
    int linked;
    void (*fn)(struct out_waiter *w);
};
void out_when_drained(struct out_waiter *w);
void out_waiter_cancel(struct out_waiter *w);
/* At exit, before the loop goes: writes out what is queued, waiting as long as the reader
   takes, but at most grace_ms more once interrupted (Ctrl-C, SIGTERM), also during this wait.
   Returns 1 when everything was written. Output after it is still queued (the writer needs no
   loop: Lua's finalizers may print while the state closes), unless this gave up. */
int out_queue_drain(int grace_ms);
/* Last: out_queue_drain, then writes out what came after it, the same way. Output after this
   is dropped. */
int out_queue_finish(int grace_ms);

struct luaL_Reg;
/* core.status(text) */
extern const struct luaL_Reg *const output_lua_functions;

#endif
