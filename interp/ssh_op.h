/* The op base: what every operation on a connection shares (remote commands, SFTP, remote
   ptys, tunnels, forwards). A connection (ssh_conn.c) steps its ops; this file gives each op
   one lifecycle:

     op_start ──▶ stages (a named table, run by op_run; op_set_stage traces the changes)
        │            │ op_stop (time limit, Ctrl-C, owner gone) ─▶ type->stop; op_arm'd
        │            ▼   escalation (type->give_up reports before the clean-up is over)
        │         op_finish: the connection is done with it (type->finished wakes the waiter)
        └──────▶ op_release: its owner let go
     finished + released ──▶ handles closed ──▶ type->free, on a later loop turn

   The free is deferred through the op's own handles (its timer, a bridge's poll), so it never
   runs inside a step, and the connection reference an op holds is dropped there too: tearing
   an op down never re-enters a connection's processing (as Redis's ae.c defers a deleted
   event and luv frees a handle in its close callback). Live ops are on one list: Ctrl-C and
   exit reach every op that can be stopped through it. */
#ifndef SSHS_SSH_OP_H
#define SSHS_SSH_OP_H
#include <stdint.h>
#include <uv.h>

struct conn;
struct ssh_op;

/* What a step returns, kept apart from libssh2's codes (a libssh2 code never leaves the op
   that got it: conn_step_of() turns one into a step result). */
enum ssh_step {
    SSH_STEP_DONE,      /* finished (or, from a stage that moved the op on: run the next stage) */
    SSH_STEP_FAILED,    /* finished with an error the op recorded itself; the connection is fine */
    SSH_STEP_AGAIN,     /* libssh2 said EAGAIN: step again (same call, same arguments) when the
                           socket is ready; if it blocked half-way sending, only this op runs */
    SSH_STEP_WAITING,   /* waits for another op (the request lock) or for Lua; did no I/O, so it
                           holds no half-sent packet */
    SSH_STEP_REQUEUED,  /* moved itself back to the queue (its channel open was refused) */
    SSH_STEP_LOST,      /* the transport failed: the connection dies with libssh2's last error */
};

/* One stage: its name (for the trace) and the function that runs it. A stage function either
   returns a step result for the connection, or moves the op on (op_set_stage) and returns
   SSH_STEP_DONE to run the next stage at once. */
struct op_stage {
    const char *name;
    enum ssh_step (*run)(struct ssh_op *op);
};

struct ssh_op_type {
    const char *name;                   /* for traces and messages */
    const struct op_stage *stages;      /* indexed by op->stage; stage 0 runs first */
    int uses_channel;                   /* counts against max_channels (MaxSessions) */
    int weak;                           /* lives as long as its connection (the SFTP channel):
                                           holds no reference, so the connection can close */
    /* Each hook may be NULL. */
    void (*before)(struct ssh_op *op);  /* on every step, before the stages (a pending stop) */
    /* The connection died: record why, op_finish. The op is already detached. */
    void (*abort)(struct ssh_op *op, const char *why);
    /* Stop politely (a time limit, Ctrl-C, the owner gone); NULL: Ctrl-C leaves it alone. */
    void (*stop)(struct ssh_op *op);
    /* The connection is done with the op (op_finish): wake whoever waits. */
    void (*finished)(struct ssh_op *op);
    /* Finished, released and every handle closed: free what the op owns (not the conn). */
    void (*free)(struct ssh_op *op);
};

struct ssh_op {
    const struct ssh_op_type *type;
    struct conn *conn;                  /* retained from op_start until the op is freed (not weak) */
    /* the connection's scheduling (ssh_conn.c) */
    struct ssh_op *next;                /* in the active list or the queue */
    int progress;
    int queued, active;
    int idle;                           /* holds its channel but waits on nothing (the SFTP
                                           channel between transfers): not polled for */
    /* the lifecycle (ssh_op.c) */
    int stage;
    unsigned id;                        /* for trace lines: "host exec#3" */
    const char *label;                  /* the trace's name when not type->name ("kill") */
    int started, stopping, finished, released, freeing;
    int given_up;                       /* reported as ended while its clean-up still waits on
                                           the server: exit does not wait for it */
    int handles;                        /* open libuv handles tied to the op (the timer, …) */
    uv_timer_t timer;                   /* op_arm: the time limit, then the stop escalation */
    void (*on_timer)(struct ssh_op *op);
    struct ssh_op *prev_live, *next_live;
};

/* Sets up op (zeroed by its creator) as a `type` op of c: its timer, an id. Not started. */
void op_init(struct ssh_op *op, const struct ssh_op_type *type, struct conn *c);
/* Retains the connection, lists the op as live and queues it on the connection (it runs on
   the connection's next turn). */
void op_start(struct ssh_op *op);
/* Runs the op's stages from op->stage until one waits (see struct op_stage). */
enum ssh_step op_run(struct ssh_op *op);
/* Moves op to stage s; with SSHS_TRACE=1 the change is printed ("host exec#3: open -> exec"). */
void op_set_stage(struct ssh_op *op, int s);
/* op_set_stage(op, s), then SSH_STEP_DONE: a stage function's "run stage s now". */
enum ssh_step op_next(struct ssh_op *op, int s);
/* The connection is done with op (a final step, or abort): off the live list, its timer
   stopped, type->finished; freed once it is released too. Idempotent. */
void op_finish(struct ssh_op *op);
/* The owner lets go (an op without an owner is released by its creator at once). */
void op_release(struct ssh_op *op);
/* Stops op (once): type->stop. An op still queued for a channel is taken off the queue and
   finished at once. */
void op_stop(struct ssh_op *op);
/* Calls fn(op) after ms (replacing what was armed); op_disarm stops it. */
void op_arm(struct ssh_op *op, uint64_t ms, void (*fn)(struct ssh_op *op));
void op_disarm(struct ssh_op *op);
/* A libuv handle of the op's own (a bridge's poll) is open / has closed (call it from its
   close callback): the op is freed only after every one has closed. */
void op_handle_opened(struct ssh_op *op);
void op_handle_closed(struct ssh_op *op);

/* How long a stopped op may take to end before it gives up waiting for the server. */
#define OP_GIVE_UP_MS 3000

#endif
