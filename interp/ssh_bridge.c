/* Channel <-> socket pumping (see ssh_bridge.h). */
#include "ssh_bridge.h"
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

static void on_fd(uv_poll_t *h, int status, int events)
{
    struct bridge *b = h->data;
    conn_kick(b->conn);
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

void bridge_init(struct bridge *b, struct ssh_op *op, struct conn *conn, int fd, int turns,
                 void *owner)
{
    b->op = op;
    b->conn = conn;
    b->owner = owner;
    b->fd = fd;
    b->turns = turns;
    uv_poll_init(sched_loop(), &b->poll, fd);
    b->poll.data = b;
}

void bridge_finish(struct bridge *b, uv_close_cb closed)
{
    uv_poll_stop(&b->poll);
    close(b->fd);
    b->fd = -1;
    uv_close((uv_handle_t *)&b->poll, closed);
}

/* With half_close, our side's EOF becomes the channel's EOF and the channel's EOF a shutdown
   of the socket's write side, so a client that half-closes (shutdown(SHUT_WR), nc -N) still
   gets its answer; the bridge ends when both directions have ended. Without it (jump
   tunnels, whose inner session closes its socket outright; ptys), either side's end ends
   it. An error on the socket ends it at once. */
int bridge_pump(struct bridge *b, LIBSSH2_CHANNEL *ch)
{
    for (int turn = 0; turn < b->turns; turn++) {
        int moved = 0;
        if (b->eof_pending) {             /* libssh2 holds it half-sent: nothing else may send */
            int r = libssh2_channel_send_eof(ch);
            if (r == LIBSSH2_ERROR_EAGAIN) { watch(b); return r; }
            if (r < 0) return r;
            b->eof_pending = 0;
            b->eof_sent = moved = 1;
            b->op->progress = 1;
        }
        if (b->up_len == 0 && !b->local_eof) {
            ssize_t n = read(b->fd, b->up, sizeof b->up);
            if (n > 0) { b->up_len = (size_t)n; b->up_off = 0; moved = 1; }
            else if (n == 0) b->local_eof = 1;
            else if (errno != EAGAIN && errno != EINTR) b->local_eof = b->broken = 1;
        }
        if (b->up_off < b->up_len) {
            ssize_t n = libssh2_channel_write(ch, b->up + b->up_off, b->up_len - b->up_off);
            if (n == LIBSSH2_ERROR_EAGAIN) { watch(b); return (int)n; }   /* half-sent: stop here */
            if (n < 0) return (int)n;
            b->up_off += (size_t)n;
            if (b->up_off == b->up_len) b->up_len = b->up_off = 0;
            moved = 1;
        }
        if (b->down_off == b->down_len && !b->remote_eof) {
            ssize_t n = libssh2_channel_read(ch, b->down, sizeof b->down);   /* stream 0 */
            if (n > 0) { b->down_len = (size_t)n; b->down_off = 0; moved = 1; }
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
        if (moved) b->op->progress = 1;
        if (b->broken) return 0;
        int up_done = b->local_eof && b->up_len == 0, down_done = b->remote_eof && b->down_len == 0;
        if (!b->half_close && (up_done || down_done)) return 0;
        if (up_done && !b->eof_sent) {
            int r = libssh2_channel_send_eof(ch);
            if (r == LIBSSH2_ERROR_EAGAIN) { b->eof_pending = 1; watch(b); return r; }
            if (r < 0) return r;
            b->eof_sent = moved = 1;
            b->op->progress = 1;
        }
        if (down_done && !b->shut_sent) {
            shutdown(b->fd, SHUT_WR);
            b->shut_sent = moved = 1;
            b->op->progress = 1;
        }
        if (b->eof_sent && b->shut_sent) return 0;
        if (!moved) break;
    }
    watch(b);
    return LIBSSH2_ERROR_EAGAIN;
}
