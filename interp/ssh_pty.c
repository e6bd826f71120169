/* A remote pty: a session channel (through the channel helper) with pty-req and shell/exec,
   pumped to and from a socketpair as jump-host tunnels are. */
#include "ssh_pty.h"
#include "ssh_chan.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PTY_BUF 16384

enum pstage { P_OPEN, P_PTY, P_START, P_PUMP, P_CLOSE, P_DONE };

struct ssh_pty {
    struct ssh_op op;
    struct conn *conn;                 /* retained */
    struct chan chan;
    enum pstage stage;
    char *term, *cmd;
    int cols, rows;
    int resize_pending, new_cols, new_rows;
    int fd;                            /* our end of the socketpair */
    uv_poll_t poll;
    int poll_events;
    char up[PTY_BUF];                  /* Lua -> channel */
    size_t up_len, up_off;
    char down[PTY_BUF];                /* channel -> Lua */
    size_t down_len, down_off;
    int local_eof, remote_eof;
    int lua_released, closed;          /* freed when both are set */
    char error[600];
};

static void maybe_free(struct ssh_pty *p)
{
    if (!p->lua_released || !p->closed) return;
    conn_release(p->conn);
    free(p->term);
    free(p->cmd);
    free(p);
}

static void poll_closed(uv_handle_t *h)
{
    struct ssh_pty *p = h->data;
    p->closed = 1;
    maybe_free(p);
}

static void finish(struct ssh_pty *p)
{
    if (p->stage == P_DONE) return;
    p->stage = P_DONE;
    uv_poll_stop(&p->poll);
    close(p->fd);                      /* the Lua side reads EOF */
    p->fd = -1;
    uv_close((uv_handle_t *)&p->poll, poll_closed);
}

static void on_fd(uv_poll_t *h, int status, int events)
{
    struct ssh_pty *p = h->data;
    conn_kick(p->conn);
}

static void watch(struct ssh_pty *p)
{
    int ev = 0;
    if (!p->local_eof && p->up_len == 0) ev |= UV_READABLE;
    if (p->down_off < p->down_len) ev |= UV_WRITABLE;
    if (ev != p->poll_events) {
        if (ev) uv_poll_start(&p->poll, ev, on_fd); else uv_poll_stop(&p->poll);
        p->poll_events = ev;
    }
}

/* Moves bytes both ways, a bounded slice per step; EAGAIN while both sides live, 0 when one
   ended, or a libssh2 error. */
static int pump(struct ssh_pty *p)
{
    for (int slice = 0; slice < 64; slice++) {
        int moved = 0;
        if (p->up_len == 0 && !p->local_eof) {
            ssize_t n = read(p->fd, p->up, sizeof p->up);
            if (n > 0) { p->up_len = (size_t)n; p->up_off = 0; moved = 1; }
            else if (n == 0 || (errno != EAGAIN && errno != EINTR)) p->local_eof = 1;
        }
        if (p->up_off < p->up_len) {
            ssize_t n = libssh2_channel_write(p->chan.ch, p->up + p->up_off, p->up_len - p->up_off);
            if (n == LIBSSH2_ERROR_EAGAIN) { watch(p); return (int)n; }   /* half-sent: stop here */
            if (n < 0) return (int)n;
            p->up_off += (size_t)n;
            if (p->up_off == p->up_len) p->up_len = p->up_off = 0;
            moved = 1;
        }
        if (p->down_off == p->down_len && !p->remote_eof) {
            /* stream 0 only: a pty has no separate stderr */
            ssize_t n = libssh2_channel_read(p->chan.ch, p->down, sizeof p->down);
            if (n > 0) { p->down_len = (size_t)n; p->down_off = 0; moved = 1; }
            else if (n == 0 && libssh2_channel_eof(p->chan.ch)) p->remote_eof = 1;
            else if (n < 0 && n != LIBSSH2_ERROR_EAGAIN) return (int)n;
        }
        if (p->down_off < p->down_len) {
            ssize_t n = write(p->fd, p->down + p->down_off, p->down_len - p->down_off);
            if (n > 0) {
                p->down_off += (size_t)n;
                if (p->down_off == p->down_len) p->down_off = p->down_len = 0;
                moved = 1;
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                p->local_eof = 1;
                p->down_off = p->down_len = 0;
            }
        }
        if (moved) p->op.progress = 1;
        if ((p->local_eof && p->up_len == 0) || (p->remote_eof && p->down_len == 0)) return 0;
        if (!moved) break;
    }
    watch(p);
    return LIBSSH2_ERROR_EAGAIN;
}

static enum ssh_step failed(struct ssh_pty *p, enum ssh_step r)
{
    snprintf(p->error, sizeof p->error, "%s", p->chan.error[0] ? p->chan.error : "the shell could not start");
    if (r == SSH_STEP_LOST) { finish(p); return r; }
    p->stage = P_CLOSE;
    return SSH_STEP_AGAIN;
}

static enum ssh_step pty_step(struct ssh_op *op)
{
    struct ssh_pty *p = (struct ssh_pty *)op;
    enum ssh_step r;
    switch (p->stage) {
    case P_OPEN:
        r = chan_open_session(&p->chan, 0);
        if (r == SSH_STEP_AGAIN || r == SSH_STEP_WAITING || r == SSH_STEP_REQUEUED) return r;
        if (r != SSH_STEP_DONE) {
            snprintf(p->error, sizeof p->error, "%s", p->chan.error);
            finish(p);
            return r;
        }
        p->stage = P_PTY;
        /* fall through */
    case P_PTY:
        r = chan_request_pty(&p->chan, p->term, p->cols, p->rows, NULL, 0);
        if (r == SSH_STEP_AGAIN || r == SSH_STEP_WAITING) return r;
        if (r != SSH_STEP_DONE) return failed(p, r);
        p->stage = P_START;
        /* fall through */
    case P_START:
        r = p->cmd ? chan_request(&p->chan, "exec", p->cmd) : chan_request(&p->chan, "shell", NULL);
        if (r == SSH_STEP_AGAIN || r == SSH_STEP_WAITING) return r;
        if (r != SSH_STEP_DONE) return failed(p, r);
        p->stage = P_PUMP;
        /* fall through */
    case P_PUMP: {
        if (p->resize_pending) {
            r = chan_pty_size(&p->chan, p->new_cols, p->new_rows);
            if (r == SSH_STEP_AGAIN) return r;
            if (r == SSH_STEP_LOST) return r;
            p->resize_pending = 0;             /* a refused resize is not worth ending for */
        }
        int rc = pump(p);
        if (rc == LIBSSH2_ERROR_EAGAIN) return SSH_STEP_AGAIN;
        if (rc < -1 && conn_step_of(rc) == SSH_STEP_LOST) return SSH_STEP_LOST;
        p->stage = P_CLOSE;
    }
        /* fall through */
    case P_CLOSE:
        r = chan_close(&p->chan);
        if (r != SSH_STEP_DONE) return r;
        finish(p);
        return p->error[0] ? SSH_STEP_FAILED : SSH_STEP_DONE;
    case P_DONE:
        return SSH_STEP_DONE;
    }
    return SSH_STEP_DONE;
}

static void pty_abort(struct ssh_op *op, const char *why)
{
    struct ssh_pty *p = (struct ssh_pty *)op;
    chan_forget(&p->chan);
    if (p->stage < P_PUMP && !p->error[0]) snprintf(p->error, sizeof p->error, "%s", why);
    finish(p);
}

static const struct ssh_op_type pty_type = {
    .name = "pty", .step = pty_step, .abort = pty_abort, .uses_channel = 1};

int ssh_pty_open(struct conn *c, const char *term, int cols, int rows, const char *cmd,
                 struct ssh_pty **out)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) return -1;
    struct ssh_pty *p = calloc(1, sizeof *p);
    if (!p || !(p->term = strdup(term ? term : "xterm")) || (cmd && !(p->cmd = strdup(cmd)))) {
        if (p) free(p->term);
        free(p);
        close(sv[0]);
        close(sv[1]);
        errno = ENOMEM;
        return -1;
    }
    p->op.type = &pty_type;
    chan_init(&p->chan, &p->op);
    p->conn = c;
    conn_retain(c);
    p->cols = cols > 0 ? cols : 80;
    p->rows = rows > 0 ? rows : 24;
    p->fd = sv[1];
    uv_poll_init(sched_loop(), &p->poll, p->fd);
    p->poll.data = p;
    *out = p;
    conn_add_op(c, &p->op);
    return sv[0];
}

void ssh_pty_resize(struct ssh_pty *p, int cols, int rows)
{
    if (p->stage == P_DONE || p->stage == P_CLOSE) return;
    p->new_cols = cols;
    p->new_rows = rows;
    p->resize_pending = 1;
    conn_kick(p->conn);
}

const char *ssh_pty_error(const struct ssh_pty *p) { return p->error; }

void ssh_pty_release(struct ssh_pty *p)
{
    p->lua_released = 1;
    if (p->stage != P_DONE) conn_kick(p->conn);   /* it sees our end closed and hangs up */
    maybe_free(p);
}
