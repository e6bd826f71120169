/* The bridged-channel op (see ssh_bridge.h). */
#include "ssh_bridge.h"
#include "loop_timer.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum stage { B_OPEN, B_AGENT, B_PTY, B_START, B_PUMP, B_CLOSE };

static void on_fd(uv_poll_t *h, int status, int events)
{
    struct bridge *b = h->data;
    conn_kick(b->op.conn);
}

/* Polls for what is wanted now: the socket's input while there is room for it, its output
   while some is queued. */
static void watch(struct bridge *b)
{
    int ev = 0;
    if (!b->local_eof && b->up_len == 0) ev |= UV_READABLE;
    if (b->down_off < b->down_len) ev |= UV_WRITABLE;
    if (ev != b->poll_events) {
        if (ev) uv_poll_start(&b->poll, ev, on_fd); else uv_poll_stop(&b->poll);
        b->poll_events = ev;
    }
}

/* ---- pacing (see BRIDGE_PACE_LIMIT) ---- */

/* One kind of acknowledgement grew by n: its running total, never past what was sent. */
static void ack_more(struct bridge *b, uint64_t *total, uint64_t n)
{
    if (n == 0) return;
    *total = *total + n < b->sent ? *total + n : b->sent;
    uv_timer_stop(&b->pace_timer);
}

static uint64_t unacked(const struct bridge *b)
{
    uint64_t acked = b->ack_ignore;
    if (b->ack_window > acked) acked = b->ack_window;
    if (b->ack_data > acked) acked = b->ack_data;
    if (b->ack_forgiven > acked) acked = b->ack_forgiven;
    return b->sent - acked;
}

/* Keeps the connection's count of paced ptys with bytes in flight. */
static void note_waiting(struct bridge *b)
{
    int now = unacked(b) > 0;
    if (now != b->waiting) conn_pty_waiting(b->op.conn, b, now ? 1 : -1);
    b->waiting = now;
}

/* Nothing acknowledged for BRIDGE_PACE_WAIT_MS and no IGNORE has been this pty's: it is not in
   the mode that makes them (a raw-mode reader without echo or output); the next piece goes. */
static void on_pace_wait(uv_timer_t *t)
{
    struct bridge *b = t->data;
    b->ack_forgiven = b->sent;
    note_waiting(b);
    conn_kick(b->op.conn);
}

/* Takes in the acknowledgements that arrived: sshd's IGNOREs for pty writes and window
   adjustments (sshd grows the window by what it wrote to the pty; the window it opens when the
   shell starts, before anything was sent, is no acknowledgement). IGNOREs carry no channel:
   they count for every pty; one that came while this pty alone waited shows it makes them. */
static void take_acks(struct bridge *b, LIBSSH2_CHANNEL *ch)
{
    uint64_t w = conn_pty_written(b->op.conn);
    if (conn_pty_ignored(b->op.conn, b)) b->saw_ignore = 1;
    ack_more(b, &b->ack_ignore, w - b->written_seen);
    b->written_seen = w;
    unsigned long win = libssh2_channel_window_write(ch);
    if (win > b->window_seen && b->sent > 0) ack_more(b, &b->ack_window, win - b->window_seen);
    b->window_seen = win;
    note_waiting(b);
}

/* How much of the socket's data may go into the channel now (0: wait for acknowledgements). */
static size_t up_allowance(struct bridge *b)
{
    size_t len = b->up_len - b->up_off;
    if (b->write_len) return b->write_len;        /* libssh2 holds it half-sent: same call again */
    if (!b->pace) return len;
    uint64_t out = unacked(b);                     /* acknowledgements taken in by pump() */
    if (out >= BRIDGE_PACE_LIMIT) {
        /* Once sshd has sent this pty IGNOREs, no acknowledgement means the reader is behind:
           wait, as a full pipe would (moving on would let sshd's buffer grow into a too-big
           IGNORE). */
        if (!b->saw_ignore && !uv_is_active((uv_handle_t *)&b->pace_timer))
            loop_timer_start(&b->pace_timer, on_pace_wait, BRIDGE_PACE_WAIT_MS, 0);
        return 0;
    }
    size_t room = (size_t)(BRIDGE_PACE_LIMIT - out);
    return len < room ? len : room;
}

/* With half_close, our side's EOF becomes the channel's EOF and the channel's EOF a shutdown
   of the socket's write side, so a client that half-closes (shutdown(SHUT_WR), nc -N) still
   gets its answer; the bridge ends when both directions have ended. Without it (jump
   tunnels, whose inner session closes its socket outright; ptys), either side's end ends
   it. An error on the socket ends it at once. */
static int pump(struct bridge *b, LIBSSH2_CHANNEL *ch)
{
    for (int turn = 0; turn < b->turns; turn++) {
        if (b->pace) take_acks(b, ch);   /* every round: a pty's in-flight state stays current */
        int moved = 0;
        if (b->eof_pending) {             /* libssh2 holds it half-sent: nothing else may send */
            int r = libssh2_channel_send_eof(ch);
            if (r == LIBSSH2_ERROR_EAGAIN) { watch(b); return r; }
            if (r < 0) return r;
            b->eof_pending = 0;
            b->eof_sent = moved = 1;
            b->op.progress = 1;
        }
        if (b->up_len == 0 && !b->local_eof) {
            ssize_t n = read(b->fd, b->up, sizeof b->up);
            if (n > 0) { b->up_len = (size_t)n; b->up_off = 0; moved = 1; }
            else if (n == 0) b->local_eof = 1;
            else if (errno != EAGAIN && errno != EINTR) b->local_eof = b->broken = 1;
        }
        size_t len = b->up_off < b->up_len ? up_allowance(b) : 0;
        if (len > 0) {
            ssize_t n = libssh2_channel_write(ch, b->up + b->up_off, len);
            if (n == LIBSSH2_ERROR_EAGAIN) {     /* half-sent: stop here, repeat it as it was */
                b->write_len = len;
                watch(b);
                return (int)n;
            }
            b->write_len = 0;
            if (n < 0) return (int)n;
            b->up_off += (size_t)n;
            if (b->up_off == b->up_len) b->up_len = b->up_off = 0;
            if (b->pace) {
                b->sent += (uint64_t)n;
                b->window_seen = libssh2_channel_window_write(ch);
                note_waiting(b);
            }
            moved = 1;
        }
        if (b->down_off == b->down_len && !b->remote_eof) {
            ssize_t n = libssh2_channel_read(ch, b->down, sizeof b->down);   /* stream 0 */
            if (n > 0) {
                b->down_len = (size_t)n;
                b->down_off = 0;
                moved = 1;
                if (b->pace) {                  /* echo, or an answer */
                    ack_more(b, &b->ack_data, (uint64_t)n);
                    note_waiting(b);
                }
            }
            else if (n == 0 && libssh2_channel_eof(ch)) b->remote_eof = 1;
            else if (n < 0 && n != LIBSSH2_ERROR_EAGAIN) return (int)n;
        }
        if (b->down_off < b->down_len) {
            ssize_t n = write(b->fd, b->down + b->down_off, b->down_len - b->down_off);
            if (n > 0) {
                b->down_off += (size_t)n;
                if (b->down_off == b->down_len) b->down_off = b->down_len = 0;
                moved = 1;
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                b->local_eof = b->broken = 1;
                b->down_off = b->down_len = 0;
            }
        }
        if (moved) b->op.progress = 1;
        if (b->broken) return 0;
        int up_done = b->local_eof && b->up_len == 0, down_done = b->remote_eof && b->down_len == 0;
        if (!b->half_close && (up_done || down_done)) return 0;
        if (up_done && !b->eof_sent) {
            int r = libssh2_channel_send_eof(ch);
            if (r == LIBSSH2_ERROR_EAGAIN) { b->eof_pending = 1; watch(b); return r; }
            if (r < 0) return r;
            b->eof_sent = moved = 1;
            b->op.progress = 1;
        }
        if (down_done && !b->shut_sent) {
            shutdown(b->fd, SHUT_WR);
            b->shut_sent = moved = 1;
            b->op.progress = 1;
        }
        if (b->eof_sent && b->shut_sent) return 0;
        if (!moved) break;
    }
    watch(b);
    return LIBSSH2_ERROR_EAGAIN;
}

/* ---- the stages ---- */

static struct bridge *bridge_of(struct ssh_op *op) { return (struct bridge *)op; }

/* The open failed or the connection was lost before the channel ran: the reason stays. */
static void set_error(struct bridge *b, const char *why)
{
    if (!b->error[0]) snprintf(b->error, sizeof b->error, "%s", why);
}

static enum ssh_step st_open(struct ssh_op *op)
{
    struct bridge *b = bridge_of(op);
    if (b->stop && !chan_busy(&b->chan)) { op_finish(op); return SSH_STEP_DONE; }
    enum ssh_step r = b->how == BRIDGE_SESSION ? chan_open_session(&b->chan, 0)
                    : chan_open_direct_tcpip(&b->chan, b->host, b->port, NULL, 0);
    if (r == SSH_STEP_AGAIN || r == SSH_STEP_WAITING || r == SSH_STEP_REQUEUED) return r;
    if (r != SSH_STEP_DONE) {
        set_error(b, b->chan.error);
        if (b->hooks->open_failed) b->hooks->open_failed(b);
        op_finish(op);                 /* the socket's other end reads EOF */
        return r;
    }
    if (b->hooks->opened) b->hooks->opened(b);
    if (b->how != BRIDGE_SESSION) return op_next(op, B_PUMP);
    return op_next(op, conn_forwards_agent(op->conn) ? B_AGENT : b->term ? B_PTY : B_START);
}

/* A refusal is a warning: the shell runs without the agent (as with ssh). */
static enum ssh_step st_agent(struct ssh_op *op)
{
    struct bridge *b = bridge_of(op);
    enum ssh_step r = chan_request_agent(&b->chan);
    if (r == SSH_STEP_AGAIN || r == SSH_STEP_WAITING || r == SSH_STEP_LOST) return r;
    conn_agent_answer(op->conn, r == SSH_STEP_DONE, b->chan.reason);
    return op_next(op, b->term ? B_PTY : B_START);
}

/* pty-req or the start refused: close the channel, then end (FAILED). */
static enum ssh_step start_failed(struct bridge *b, enum ssh_step r)
{
    set_error(b, b->chan.error[0] ? b->chan.error : "the shell could not start");
    if (r == SSH_STEP_LOST) return r;
    return op_next(&b->op, B_CLOSE);
}

static enum ssh_step st_pty(struct ssh_op *op)
{
    struct bridge *b = bridge_of(op);
    enum ssh_step r = chan_request_pty(&b->chan, b->term, b->cols, b->rows, NULL, 0);
    if (r == SSH_STEP_AGAIN || r == SSH_STEP_WAITING) return r;
    if (r != SSH_STEP_DONE) return start_failed(b, r);
    return op_next(op, B_START);
}

static enum ssh_step st_start(struct ssh_op *op)
{
    struct bridge *b = bridge_of(op);
    enum ssh_step r = b->cmd ? chan_request(&b->chan, "exec", b->cmd) : chan_request(&b->chan, "shell", NULL);
    if (r == SSH_STEP_AGAIN || r == SSH_STEP_WAITING) return r;
    if (r != SSH_STEP_DONE) return start_failed(b, r);
    return op_next(op, B_PUMP);
}

static enum ssh_step st_pump(struct ssh_op *op)
{
    struct bridge *b = bridge_of(op);
    if (b->resize_pending) {
        enum ssh_step r = chan_pty_size(&b->chan, b->new_cols, b->new_rows);
        if (r == SSH_STEP_AGAIN || r == SSH_STEP_LOST) return r;
        b->resize_pending = 0;             /* a refused resize is not worth ending for */
    }
    int rc = b->stop ? 0 : pump(b, b->chan.ch);
    if (rc == LIBSSH2_ERROR_EAGAIN) return SSH_STEP_AGAIN;
    /* A transport error ends the connection; any other ends the bridge. */
    if (rc < -1 && conn_step_of(rc) == SSH_STEP_LOST) return SSH_STEP_LOST;
    return op_next(op, B_CLOSE);
}

static enum ssh_step st_close(struct ssh_op *op)
{
    struct bridge *b = bridge_of(op);
    enum ssh_step r = chan_close(&b->chan);
    if (r != SSH_STEP_DONE) return r;
    op_finish(op);
    return b->error[0] ? SSH_STEP_FAILED : SSH_STEP_DONE;
}

static const struct op_stage stages[] = {
    [B_OPEN] = {"open", st_open},  [B_AGENT] = {"agent", st_agent},
    [B_PTY] = {"pty", st_pty},     [B_START] = {"start", st_start},
    [B_PUMP] = {"pump", st_pump},  [B_CLOSE] = {"close", st_close},
};

static void bridge_abort(struct ssh_op *op, const char *why)
{
    struct bridge *b = bridge_of(op);
    chan_forget(&b->chan);
    if (op->stage < B_PUMP) set_error(b, why);
    if (b->hooks->lost) b->hooks->lost(b, why);
    op_finish(op);
}

static void poll_closed(uv_handle_t *h) { op_handle_closed(&((struct bridge *)h->data)->op); }

/* Done with the channel: stop polling, close the socket (the other side reads EOF). */
static void bridge_finished(struct ssh_op *op)
{
    struct bridge *b = bridge_of(op);
    if (b->waiting) conn_pty_waiting(op->conn, b, -1);
    b->waiting = 0;
    conn_pty_forget(op->conn, b);
    uv_poll_stop(&b->poll);
    close(b->fd);
    b->fd = -1;
    uv_close((uv_handle_t *)&b->poll, poll_closed);
    uv_close((uv_handle_t *)&b->pace_timer, poll_closed);
}

static void bridge_free(struct ssh_op *op)
{
    struct bridge *b = bridge_of(op);
    free(b->host);
    free(b->term);
    free(b->cmd);
    b->hooks->free(b);
}

/* Session channels count against MaxSessions; direct-tcpip ones do not. */
static const struct ssh_op_type session_type = {
    .name = "pty", .stages = stages, .uses_channel = 1, .abort = bridge_abort,
    .finished = bridge_finished, .free = bridge_free};
static const struct ssh_op_type tcpip_type = {
    .name = "tunnel", .stages = stages, .abort = bridge_abort,
    .finished = bridge_finished, .free = bridge_free};
static const struct ssh_op_type agent_type = {
    .name = "agent", .stages = stages, .weak = 1, .abort = bridge_abort,
    .finished = bridge_finished, .free = bridge_free};

void bridge_init(struct bridge *b, const struct bridge_hooks *hooks, struct conn *c,
                 enum bridge_open how, int fd, int turns)
{
    op_init(&b->op, how == BRIDGE_SESSION ? &session_type : how == BRIDGE_AGENT ? &agent_type : &tcpip_type, c);
    chan_init(&b->chan, &b->op);
    b->hooks = hooks;
    b->how = how;
    b->fd = fd;
    b->turns = turns;
    uv_poll_init(sched_loop(), &b->poll, fd);
    b->poll.data = b;
    op_handle_opened(&b->op);
    uv_timer_init(sched_loop(), &b->pace_timer);
    b->pace_timer.data = b;
    op_handle_opened(&b->op);
}

void bridge_start(struct bridge *b, LIBSSH2_CHANNEL *ch)
{
    if (b->how == BRIDGE_SESSION && b->term) {      /* a pty: its input is paced */
        b->pace = 1;
        b->written_seen = conn_pty_written(b->op.conn);
    }
    if (b->how == BRIDGE_ACCEPTED || b->how == BRIDGE_AGENT) {
        b->chan.ch = ch;
        b->op.stage = B_PUMP;
    }
    op_start(&b->op);
}

void bridge_stop(struct bridge *b)
{
    if (b->op.finished || b->stop) return;
    b->stop = 1;
    conn_kick(b->op.conn);
}

void bridge_resize(struct bridge *b, int cols, int rows)
{
    if (b->op.finished || b->op.stage >= B_CLOSE) return;
    b->new_cols = cols;
    b->new_rows = rows;
    b->resize_pending = 1;
    conn_kick(b->op.conn);
}
