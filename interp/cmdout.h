/* What local and remote commands share: captured stdout/stderr, live echo by whole lines,
   chunks queued for Lua callbacks, and the Lua side of waiting on a command. */
#ifndef SSHS_CMDOUT_H
#define SSHS_CMDOUT_H
#include <lua.h>
#include "buf.h"
#include "bigstr.h"
#include "output.h"
#include "scheduler.h"

struct cmd_chunk;

struct cmdout {
    struct spool kept[2];         /* stdout, stderr for the result */
    struct bigfile big[2];        /* a big capture, once past the first MiB (bigstr.h) */
    int no_spill;                 /* no memory file could be had: captures stay in kept[] */
    size_t max_output;            /* a capture past this is stopped: an error, not an OOM */
    size_t keep_shown;            /* of shown output only this tail is kept */
    int overflow;                 /* a capture went past max_output: the rest is dropped */
    int out_of_memory;            /* ... or memory ran out before it (same handling) */
    int stream[2];                /* stdout/stderr go to op:wait() as chunks, not captured */
    struct cmd_chunk *chunks, *chunks_tail;
    struct cmd_chunk **tail_link;  /* the link that points to chunks_tail */
    struct cmd_chunk *spare;      /* room handed out by cmdout_stream_space, not queued yet */
    size_t queued;                /* bytes in chunks not yet taken by Lua */
    int echo;                     /* write live to our stdout/stderr */
    struct out_stream echo_out, echo_err;
    char *prefix;
    /* Deadlines (loop ms; 0 = none): the whole run (timeout) and since the last output
       (idle_timeout, from the options table). idle_fired: the idle one ended it. */
    uint64_t deadline, idle_ms, last_data;
    int idle_fired;
    char *watch[2];               /* tokens taken out of stderr and reported to op:wait() */
    int seen[2];                  /* times each was seen and not yet reported */
    int watch_err;                /* the stream watched: 1 stderr, 0 stdout (with a pty) */
    struct buf hold;              /* the end of that stream that may be the start of a token */
    struct out_waiter out_wait;   /* echo paused until the stdout queue drains (output.h) */
};

/* Defaults of the two output bounds (docs/reference/limits.md, "Bounds"); opts max_output /
   keep_shown. */
#define CMDOUT_MAX_OUTPUT (256u * 1024 * 1024)
#define CMDOUT_KEEP_SHOWN (1024u * 1024)
/* A capture this big moves into a memory file (bigstr.h). */
#define CMDOUT_SPILL_AT (1024u * 1024)

/* Past this much unread streamed output the reader pauses (flow control back to the source). */
#define CMDOUT_BACKLOG (4u * 1024 * 1024)
/* Should the reader pause? Lua has more than CMDOUT_BACKLOG unread, or the echo goes to a
   stdout queue past its bound (then the command is resumed, as Lua's wait would, once the
   queue drains). The caller sets its command's `paused` when this says yes. */
int cmdout_backlogged(struct cmdout *co);

/* Reads echo, prefix, color, stream_stdout/stream_stderr, max_output, keep_shown and watch
   (up to two strings taken out of stderr, or stdout with watch_stdout, each reported as
   op:wait() -> "watch", 1|2) from the options table at idx. */
void cmdout_init(lua_State *L, struct cmdout *co, int idx);
/* Arms the command's deadlines: timeout in seconds (0: none) and the idle_timeout read by
   cmdout_init. Returns the ms until the caller's timer should first fire, 0 for no timer. */
uint64_t cmdout_arm(struct cmdout *co, double timeout);
/* From the timer: 0 when a deadline has passed (idle_fired says whether it was the idle one),
   else the ms to wait before asking again. */
uint64_t cmdout_due(struct cmdout *co);
/* New bytes of stdout (is_err 0) or stderr; wakes w when chunks are queued. Returns 1 when
   this data took a capture past max_output (the caller stops the command), else 0. */
int  cmdout_data(struct cmdout *co, int is_err, const char *p, size_t n, struct sched_waiter *w);
/* Streamed output can be read straight into the queue, one copy less than cmdout_data: a
   place for up to *room bytes of stream is_err at the queue's end, or NULL when that stream
   is not plainly streamed (captured, echoed, watched: then read elsewhere and pass the bytes
   to cmdout_data). Every such read ends with cmdout_stream_commit: what was read there (0 or
   more bytes) is queued. */
char *cmdout_stream_space(struct cmdout *co, int is_err, size_t *room);
void cmdout_stream_commit(struct cmdout *co, int is_err, size_t n, struct sched_waiter *w);
/* The command ended: writes what is left of unfinished echo lines. */
void cmdout_finish(struct cmdout *co);
void cmdout_free(struct cmdout *co);
/* Pushes the next event for op:wait(): ("watch", n) when watch token n was seen,
   ("stdout"|"stderr", chunk), or ("done") when done.
   Returns the number of values pushed, 0 when there is nothing yet. */
int  cmdout_next_event(lua_State *L, struct cmdout *co, int done);
/* Pushes a result table {stdout, stderr, duration, truncated, max_output} for the caller
   to complete. It hands the kept output over to Lua: call it once. */
void cmdout_push_result(lua_State *L, struct cmdout *co, double seconds);

#endif
