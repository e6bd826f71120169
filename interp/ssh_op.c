/* The op base (see ssh_op.h). */
#include "ssh_op.h"
#include "ssh_conn.h"
#include "loop_timer.h"
#include <stdio.h>

static struct ssh_op *live;            /* started, not finished */
static unsigned next_id;

static void on_timer(uv_timer_t *t)
{
    struct ssh_op *op = t->data;
    void (*fn)(struct ssh_op *) = op->on_timer;
    op->on_timer = NULL;
    if (fn) fn(op);
}

void op_init(struct ssh_op *op, const struct ssh_op_type *type, struct conn *c)
{
    op->type = type;
    op->conn = c;
    op->id = ++next_id;
    uv_timer_init(sched_loop(), &op->timer);
    op->timer.data = op;
    op->handles = 1;
}

void op_start(struct ssh_op *op)
{
    op->started = 1;
    if (!op->type->weak) conn_retain(op->conn);
    op->next_live = live;
    if (live) live->prev_live = op;
    live = op;
    conn_add_op(op->conn, op);
}

static void trace(struct ssh_op *op, int from, int to)
{
    if (from == to || !conn_tracing()) return;
    const struct op_stage *st = op->type->stages;
    conn_trace(op->conn, op->type->name, op->id,
               from < 0 ? "start" : st[from].name, to < 0 ? "done" : st[to].name);
}

void op_set_stage(struct ssh_op *op, int s)
{
    trace(op, op->stage, s);
    op->stage = s;
    op->progress = 1;                       /* it moved: the connection passes over its ops again */
}

enum ssh_step op_next(struct ssh_op *op, int s)
{
    op_set_stage(op, s);
    return SSH_STEP_DONE;
}

static void unlink_live(struct ssh_op *op)
{
    if (op->prev_live) op->prev_live->next_live = op->next_live;
    else if (live == op) live = op->next_live;
    if (op->next_live) op->next_live->prev_live = op->prev_live;
    op->prev_live = op->next_live = NULL;
}

/* The last handle closed: free on this (close) callback, never under a step. The connection
   reference goes last: its release may start the connection's close (conn_kick, no
   re-entry). */
static void free_now(struct ssh_op *op)
{
    struct conn *c = op->started && !op->type->weak ? op->conn : NULL;
    if (op->type->free) op->type->free(op);
    if (c) conn_release(c);
}

void op_handle_opened(struct ssh_op *op) { op->handles++; }

void op_handle_closed(struct ssh_op *op)
{
    if (--op->handles == 0) free_now(op);
}

static void timer_closed(uv_handle_t *h) { op_handle_closed(h->data); }

static void maybe_free(struct ssh_op *op)
{
    if (!op->finished || !op->released || op->freeing) return;
    op->freeing = 1;
    uv_close((uv_handle_t *)&op->timer, timer_closed);
}

void op_finish(struct ssh_op *op)
{
    if (op->finished) return;
    trace(op, op->stage, -1);
    op->finished = 1;
    unlink_live(op);
    op_disarm(op);
    if (op->type->finished) op->type->finished(op);
    maybe_free(op);
}

void op_release(struct ssh_op *op)
{
    if (op->released) return;
    op->released = 1;
    if (!op->started) op->finished = 1;     /* never ran: nothing holds it */
    maybe_free(op);
}

void op_stop(struct ssh_op *op)
{
    if (!op->started || op->finished || op->stopping || !op->type->stop) return;
    op->stopping = 1;
    if (op->queued) {                       /* waiting for a channel: nothing to stop */
        conn_remove_op(op->conn, op);
        op->type->stop(op);
        op_finish(op);
        return;
    }
    op->type->stop(op);
    if (!op->finished) conn_kick(op->conn);
}

void op_arm(struct ssh_op *op, uint64_t ms, void (*fn)(struct ssh_op *op))
{
    op->on_timer = fn;
    loop_timer_start(&op->timer, on_timer, ms, 0);
}

void op_disarm(struct ssh_op *op)
{
    op->on_timer = NULL;
    uv_timer_stop(&op->timer);
}

/* Ctrl-C: every op that can be stopped is (tunnels and forwards carry other work: they stay). */
void ops_interrupt_all(void)
{
    for (struct ssh_op *op = live, *next; op; op = next) {
        next = op->next_live;
        op_stop(op);
    }
}

static int none_stoppable(void)
{
    for (struct ssh_op *op = live; op; op = op->next_live)
        if (op->type->stop && !op->given_up) return 0;
    return 1;
}

void ops_shutdown(void)
{
    ops_interrupt_all();
    sched_drain(none_stoppable, 2000);     /* stop signals reach the servers, temporaries go; bounded */
}
