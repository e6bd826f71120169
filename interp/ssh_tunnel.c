/* Jump-host tunnels: a direct-tcpip channel (opened through the channel helper) pumped to
   and from a socketpair. */
#include "ssh_tunnel.h"
#include "ssh_chan.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TUNNEL_BUF 65536

enum tstage { T_OPEN, T_PUMP, T_CLOSE, T_DONE };

struct tunnel {
    struct ssh_op op;
    struct conn *outer;                /* retained */
    struct conn *inner;                /* retained until the channel is open */
    struct chan chan;
    enum tstage stage;
    char *host;
    int port;
    int fd;                            /* our end of the socketpair */
    uv_poll_t poll;
    int poll_events;
    char up[TUNNEL_BUF];               /* inner session -> channel */
    size_t up_len, up_off;
    char down[TUNNEL_BUF];             /* channel -> inner session */
    size_t down_len, down_off;
    int inner_eof, remote_eof;         /* each side has said it sends no more (half-close) */
    int eof_sent, shut_sent;           /* ... and the other side has been told */
    int broken;                        /* our side is gone (a read or write error) */
    int eof_pending;                   /* send_eof said EAGAIN: repeat it before anything else */
    int half_close;                    /* a forward's connection (a jump tunnel ends on EOF) */
    int stop;                          /* tunnel_stop: end at the next step */
    char *label;                       /* a forward's name, for the refusal warning */
    void (*done)(void *arg, struct tunnel *t);
    void *done_arg;
};

static void tunnel_closed(uv_handle_t *h)
{
    struct tunnel *t = h->data;
    if (t->done) t->done(t->done_arg, t);
    conn_release(t->outer);
    free(t->host);
    free(t->label);
    free(t);
}

static void finish(struct tunnel *t)
{
    t->stage = T_DONE;
    uv_poll_stop(&t->poll);
    close(t->fd);                      /* the inner session sees EOF */
    t->fd = -1;
    uv_close((uv_handle_t *)&t->poll, tunnel_closed);
}

static void on_fd(uv_poll_t *h, int status, int events)
{
    struct tunnel *t = h->data;
    conn_kick(t->outer);
}

static void watch(struct tunnel *t)
{
    int ev = 0;
    if (!t->inner_eof && t->up_len == 0) ev |= UV_READABLE;
    if (t->down_off < t->down_len) ev |= UV_WRITABLE;
    if (ev != t->poll_events) {
        if (ev) uv_poll_start(&t->poll, ev, on_fd); else uv_poll_stop(&t->poll);
        t->poll_events = ev;
    }
}

/* Rounds of pump() per step: a busy tunnel hands the loop back between slices (the
   connection steps it again soon, as it made progress). */
#define PUMP_TURNS 32

/* Moves bytes both ways; EAGAIN while the tunnel lives. A forward's connection ends each
   direction on its own, as with ssh -L: our side's EOF becomes the channel's EOF and the channel's EOF a shutdown of
   our socket's write side, so a client that half-closes (shutdown(SHUT_WR), nc -N) still
   gets its answer. The tunnel ends when both directions have ended, or on an error. */
static int pump(struct tunnel *t)
{
    for (int turn = 0; turn < PUMP_TURNS; turn++) {
        int moved = 0;
        if (t->eof_pending) {             /* libssh2 holds it half-sent: nothing else may send */
            int r = libssh2_channel_send_eof(t->chan.ch);
            if (r == LIBSSH2_ERROR_EAGAIN) { watch(t); return r; }
            if (r < 0) return r;
            t->eof_pending = 0;
            t->eof_sent = moved = 1;
        }
        if (t->up_len == 0 && !t->inner_eof) {
            ssize_t n = read(t->fd, t->up, sizeof t->up);
            if (n > 0) { t->up_len = (size_t)n; t->up_off = 0; moved = 1; }
            else if (n == 0) t->inner_eof = 1;
            else if (errno != EAGAIN && errno != EINTR) t->inner_eof = t->broken = 1;
        }
        if (t->up_off < t->up_len) {
            ssize_t n = libssh2_channel_write(t->chan.ch, t->up + t->up_off, t->up_len - t->up_off);
            if (n == LIBSSH2_ERROR_EAGAIN) { watch(t); return (int)n; }   /* half-sent: stop here */
            if (n < 0) return (int)n;
            t->up_off += (size_t)n;
            if (t->up_off == t->up_len) t->up_len = t->up_off = 0;
            moved = 1;
        }
        if (t->down_off == t->down_len && !t->remote_eof) {
            ssize_t n = libssh2_channel_read(t->chan.ch, t->down, sizeof t->down);
            if (n > 0) { t->down_len = (size_t)n; t->down_off = 0; moved = 1; }
            else if (n == 0 && libssh2_channel_eof(t->chan.ch)) t->remote_eof = 1;
            else if (n < 0 && n != LIBSSH2_ERROR_EAGAIN) return (int)n;
        }
        if (t->down_off < t->down_len) {
            ssize_t n = write(t->fd, t->down + t->down_off, t->down_len - t->down_off);
            if (n > 0) {
                t->down_off += (size_t)n;
                if (t->down_off == t->down_len) t->down_off = t->down_len = 0;
                moved = 1;
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                t->inner_eof = t->broken = 1;
                t->down_off = t->down_len = 0;
            }
        }
        if (t->broken) return 0;
        /* A jump tunnel's inner session closes its socket outright: end at once (waiting for
           the far side's EOF could hold the jump connection for as long as TCP retries). */
        if (!t->half_close && ((t->inner_eof && t->up_len == 0) || (t->remote_eof && t->down_len == 0)))
            return 0;
        if (t->inner_eof && t->up_len == 0 && !t->eof_sent) {
            int r = libssh2_channel_send_eof(t->chan.ch);
            if (r == LIBSSH2_ERROR_EAGAIN) { t->eof_pending = 1; watch(t); return r; }
            if (r < 0) return r;
            t->eof_sent = moved = 1;
        }
        if (t->remote_eof && t->down_len == 0 && !t->shut_sent) {
            shutdown(t->fd, SHUT_WR);
            t->shut_sent = moved = 1;
        }
        if (moved) t->op.progress = 1;
        if (t->eof_sent && t->shut_sent) return 0;
        if (!moved) break;
    }
    watch(t);
    return LIBSSH2_ERROR_EAGAIN;
}

static enum ssh_step tunnel_step(struct ssh_op *op)
{
    struct tunnel *t = (struct tunnel *)op;
    enum ssh_step r;
    switch (t->stage) {
    case T_OPEN:
        if (t->stop && !chan_busy(&t->chan)) { finish(t); return SSH_STEP_DONE; }
        r = chan_open_direct_tcpip(&t->chan, t->host, t->port, NULL, 0);
        if (r == SSH_STEP_AGAIN || r == SSH_STEP_WAITING) return r;
        if (r != SSH_STEP_DONE && t->label)
            fprintf(stderr, "sshs: %s: %s could not open a connection to %s:%d: %s\n", t->label,
                    conn_display(t->outer), t->host, t->port, t->chan.reason[0] ? t->chan.reason : "refused");
        if (r != SSH_STEP_DONE) {
            if (t->inner) {
                char why[600];
                snprintf(why, sizeof why, "jump host %s could not open a tunnel to %s:%d: %s",
                         conn_display(t->outer), t->host, t->port,
                         t->chan.reason[0] ? t->chan.reason : "refused");
                conn_fail(t->inner, why);
                conn_release(t->inner);
                t->inner = NULL;
            }
            finish(t);                 /* the inner handshake fails with "closed the connection" */
            return r;
        }
        if (t->inner) { conn_release(t->inner); t->inner = NULL; }
        t->stage = T_PUMP;
        /* fall through */
    case T_PUMP: {
        int rc = t->stop ? 0 : pump(t);
        if (rc == LIBSSH2_ERROR_EAGAIN) return SSH_STEP_AGAIN;
        /* A transport error ends the connection; any other ends the tunnel. */
        if (rc < -1 && conn_step_of(rc) == SSH_STEP_LOST) return SSH_STEP_LOST;
        t->stage = T_CLOSE;
    }
        /* fall through */
    case T_CLOSE:
        r = chan_close(&t->chan);
        if (r != SSH_STEP_DONE) return r;
        finish(t);
        return SSH_STEP_DONE;
    case T_DONE:
        return SSH_STEP_DONE;
    }
    return SSH_STEP_DONE;
}

static void tunnel_abort(struct ssh_op *op, const char *why)
{
    struct tunnel *t = (struct tunnel *)op;
    chan_forget(&t->chan);
    if (t->inner) {
        char msg[600];
        snprintf(msg, sizeof msg, "jump host connection lost: %s", why);
        conn_fail(t->inner, msg);
        conn_release(t->inner);
        t->inner = NULL;
    }
    if (t->stage != T_DONE) finish(t);
}

static const struct ssh_op_type tunnel_type = {
    .name = "tunnel", .step = tunnel_step, .abort = tunnel_abort};

static struct tunnel *tunnel_new(struct conn *c, int fd, const char *host, int port, const char *label,
                                  void (*done)(void *arg, struct tunnel *t), void *arg)
{
    struct tunnel *t = calloc(1, sizeof *t);
    if (!t || !(t->host = strdup(host)) || !(t->label = strdup(label))) {
        if (t) free(t->host);
        free(t);
        close(fd);
        return NULL;
    }
    t->op.type = &tunnel_type;
    chan_init(&t->chan, &t->op);
    t->outer = c;
    conn_retain(c);
    t->port = port;
    t->fd = fd;
    t->done = done;
    t->done_arg = arg;
    uv_poll_init(sched_loop(), &t->poll, t->fd);
    t->poll.data = t;
    return t;
}

struct tunnel *tunnel_attach(struct conn *c, int fd, const char *host, int port, const char *label,
                             void (*done)(void *arg, struct tunnel *t), void *arg)
{
    struct tunnel *t = tunnel_new(c, fd, host, port, label, done, arg);
    if (!t) return NULL;
    t->half_close = 1;
    conn_add_op(c, &t->op);
    return t;
}

struct tunnel *tunnel_attach_channel(struct conn *c, int fd, LIBSSH2_CHANNEL *ch, const char *label,
                                     void (*done)(void *arg, struct tunnel *t), void *arg)
{
    struct tunnel *t = tunnel_new(c, fd, "", 0, label, done, arg);
    if (!t) { libssh2_channel_free(ch); return NULL; }
    t->chan.ch = ch;
    t->stage = T_PUMP;
    t->half_close = 1;
    conn_add_op(c, &t->op);
    return t;
}

void tunnel_stop(struct tunnel *t)
{
    if (t->stage == T_DONE || t->stop) return;
    t->stop = 1;
    conn_kick(t->outer);
}

void tunnel_set_inner(struct tunnel *t, struct conn *inner)
{
    if (t->stage != T_OPEN) return;    /* already open (or failed): nothing to report */
    t->inner = inner;
    conn_retain(inner);
}

int tunnel_open(struct conn *outer, const char *host, int port, struct tunnel **out)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) return -1;
    struct tunnel *t = calloc(1, sizeof *t);
    if (!t || !(t->host = strdup(host))) { free(t); close(sv[0]); close(sv[1]); errno = ENOMEM; return -1; }
    t->op.type = &tunnel_type;
    chan_init(&t->chan, &t->op);
    t->outer = outer;
    conn_retain(outer);
    t->port = port;
    t->fd = sv[1];
    uv_poll_init(sched_loop(), &t->poll, t->fd);
    t->poll.data = t;
    *out = t;
    conn_add_op(outer, &t->op);
    return sv[0];
}
