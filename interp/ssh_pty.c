/* A remote pty: a session channel (through the channel helper) with pty-req and shell/exec,
   pumped to and from a socketpair as jump-host tunnels are. */
#include "ssh_pty.h"
#include "compiler.h"
#include "ssh_bridge.h"
#include "ssh_chan.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Rounds of bridge_pump() per step: 16 x 64 KiB, at most 1 MiB each way per step. */
#define PTY_TURNS 16

enum pstage { P_OPEN, P_PTY, P_START, P_PUMP, P_CLOSE, P_DONE };

struct ssh_pty {
    struct ssh_op op;
    struct conn *conn;                 /* retained */
    struct chan chan;
    enum pstage stage;
    char *term, *cmd;
    int cols, rows;
    int resize_pending, new_cols, new_rows;
    struct bridge br;                  /* the channel pumped to and from the socketpair */
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
    struct ssh_pty *p = ((struct bridge *)h->data)->owner;
    p->closed = 1;
    maybe_free(p);
}

static void finish(struct ssh_pty *p)
{
    if (p->stage == P_DONE) return;
    p->stage = P_DONE;
    bridge_finish(&p->br, poll_closed);        /* the Lua side reads EOF */
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
        FALLTHROUGH;
    case P_PTY:
        r = chan_request_pty(&p->chan, p->term, p->cols, p->rows, NULL, 0);
        if (r == SSH_STEP_AGAIN || r == SSH_STEP_WAITING) return r;
        if (r != SSH_STEP_DONE) return failed(p, r);
        p->stage = P_START;
        FALLTHROUGH;
    case P_START:
        r = p->cmd ? chan_request(&p->chan, "exec", p->cmd) : chan_request(&p->chan, "shell", NULL);
        if (r == SSH_STEP_AGAIN || r == SSH_STEP_WAITING) return r;
        if (r != SSH_STEP_DONE) return failed(p, r);
        p->stage = P_PUMP;
        FALLTHROUGH;
    case P_PUMP: {
        if (p->resize_pending) {
            r = chan_pty_size(&p->chan, p->new_cols, p->new_rows);
            if (r == SSH_STEP_AGAIN) return r;
            if (r == SSH_STEP_LOST) return r;
            p->resize_pending = 0;             /* a refused resize is not worth ending for */
        }
        int rc = bridge_pump(&p->br, p->chan.ch);
        if (rc == LIBSSH2_ERROR_EAGAIN) return SSH_STEP_AGAIN;
        if (rc < -1 && conn_step_of(rc) == SSH_STEP_LOST) return SSH_STEP_LOST;
        p->stage = P_CLOSE;
    }
        FALLTHROUGH;
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
    bridge_init(&p->br, &p->op, c, sv[1], PTY_TURNS, p);
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
