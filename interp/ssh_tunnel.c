/* Jump-host tunnels and port forwards' connections: a direct-tcpip (or forwarded-tcpip)
   channel, opened through the channel helper, bridged to a socket (ssh_bridge.c). */
#include "ssh_tunnel.h"
#include "compiler.h"
#include "ssh_bridge.h"
#include "ssh_chan.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum tstage { T_OPEN, T_PUMP, T_CLOSE, T_DONE };

struct tunnel {
    struct ssh_op op;
    struct conn *outer;                /* retained */
    struct conn *inner;                /* retained until the channel is open */
    struct chan chan;
    enum tstage stage;
    char *host;
    int port;
    struct bridge br;                  /* the channel pumped to and from the socket */
    int stop;                          /* tunnel_stop: end at the next step */
    char *label;                       /* a forward's name, for the refusal warning */
    void (*done)(void *arg, struct tunnel *t);
    void *done_arg;
};

static void tunnel_closed(uv_handle_t *h)
{
    struct tunnel *t = ((struct bridge *)h->data)->owner;
    if (t->done) t->done(t->done_arg, t);
    conn_release(t->outer);
    free(t->host);
    free(t->label);
    free(t);
}

static void finish(struct tunnel *t)
{
    t->stage = T_DONE;
    bridge_finish(&t->br, tunnel_closed);      /* the inner session or client sees EOF */
}

/* Rounds of bridge_pump() per step: a busy tunnel hands the loop back between slices (the
   connection steps it again soon, as it made progress). */
#define PUMP_TURNS 32

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
        FALLTHROUGH;
    case T_PUMP: {
        int rc = t->stop ? 0 : bridge_pump(&t->br, t->chan.ch);
        if (rc == LIBSSH2_ERROR_EAGAIN) return SSH_STEP_AGAIN;
        /* A transport error ends the connection; any other ends the tunnel. */
        if (rc < -1 && conn_step_of(rc) == SSH_STEP_LOST) return SSH_STEP_LOST;
        t->stage = T_CLOSE;
    }
        FALLTHROUGH;
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
    if (!t || !(t->host = strdup(host)) || (label && !(t->label = strdup(label)))) {
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
    t->done = done;
    t->done_arg = arg;
    bridge_init(&t->br, &t->op, c, fd, PUMP_TURNS, t);
    return t;
}

struct tunnel *tunnel_attach(struct conn *c, int fd, const char *host, int port, const char *label,
                             void (*done)(void *arg, struct tunnel *t), void *arg)
{
    struct tunnel *t = tunnel_new(c, fd, host, port, label, done, arg);
    if (!t) return NULL;
    t->br.half_close = 1;
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
    t->br.half_close = 1;
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
    struct tunnel *t = tunnel_new(outer, sv[1], host, port, NULL, NULL, NULL);
    if (!t) { close(sv[0]); errno = ENOMEM; return -1; }
    *out = t;
    conn_add_op(outer, &t->op);
    return sv[0];
}
