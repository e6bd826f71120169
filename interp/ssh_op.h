/* The op base: what every operation on a connection shares (remote commands, SFTP, remote
   ptys, tunnels, forwards). A connection (ssh_conn.c) steps its ops; this file gives each op
   one lifecycle:

     op_start ──▶ stages (a named table that the connection runs; op_set_stage traces)
        │            │ op_stop (time limit, Ctrl-C, owner gone) ─▶ type->stop, then an
        │            ▼   op_arm'd escalation (past it the op reports, its clean-up goes on)
        │         op_finish: the connection is done with it (type->finished wakes the waiter)
        └──────▶ op_release: its owner let go
     finished + released ──▶ handles closed ──▶ type->free, on a later loop turn

   The free is deferred through the op's own handles (its timer, a bridge's poll), so it never
   runs inside a step, and the connection reference an op holds is dropped there too: tearing
   an op down never re-enters a connection's processing (as Redis's ae.c defers a deleted
   event and luv frees a handle in its close callback). Live ops are on one list: Ctrl-C and
   exit reach every op that can be stopped through it. The op's type (struct ssh_op) is the
   connection's (ssh_conn.h): the base sits above the connection, never the other way. */
#ifndef SSHS_SSH_OP_H
#define SSHS_SSH_OP_H
#include "ssh_conn.h"

/* Sets up op (zeroed by its creator) as a `type` op of c: its timer, an id. Not started. */
void op_init(struct ssh_op *op, const struct ssh_op_type *type, struct conn *c);
/* Retains the connection, lists the op as live and queues it on the connection (it runs on
   the connection's next turn). */
void op_start(struct ssh_op *op);
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
