/* Jump-host tunnels and port forwards' connections: the bridged-channel op (ssh_bridge.c)
   configured with a direct-tcpip channel (or one the server opened), bridged to a socket. */
#include "ssh_tunnel.h"
#include "ssh_bridge.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Rounds of the pump per step: a busy tunnel hands the loop back between slices (the
   connection steps it again soon, as it made progress). */
#define PUMP_TURNS 32

struct tunnel {
    struct bridge b;                   /* first: the bridge's free hook frees the tunnel */
    struct conn *inner;                /* retained until the channel is open */
    char *label;                       /* a forward's name, for the refusal warning */
    void (*done)(void *arg, struct tunnel *t);
    void *done_arg;
};

static void drop_inner(struct tunnel *t, const char *why)
{
    if (!t->inner) return;
    if (why) conn_fail(t->inner, why);
    conn_release(t->inner);
    t->inner = NULL;
}

static void on_opened(struct bridge *b) { drop_inner((struct tunnel *)b, NULL); }

static void on_open_failed(struct bridge *b)
{
    struct tunnel *t = (struct tunnel *)b;
    const char *reason = b->chan.reason[0] ? b->chan.reason : "refused";
    if (t->label)
        fprintf(stderr, "sshs: %s: %s could not open a connection to %s:%d: %s\n", t->label,
                conn_display(b->op.conn), b->host, b->port, reason);
    char why[600];
    snprintf(why, sizeof why, "jump host %s could not open a tunnel to %s:%d: %s",
             conn_display(b->op.conn), b->host, b->port, reason);
    drop_inner(t, why);                /* else its handshake fails with "closed the connection" */
}

static void on_lost(struct bridge *b, const char *why)
{
    char msg[600];
    snprintf(msg, sizeof msg, "jump host connection lost: %s", why);
    drop_inner((struct tunnel *)b, msg);
}

static void tunnel_free(struct bridge *b)
{
    struct tunnel *t = (struct tunnel *)b;
    if (t->done) t->done(t->done_arg, t);
    free(t->label);
    free(t);
}

static const struct bridge_hooks tunnel_hooks = {
    .opened = on_opened, .open_failed = on_open_failed, .lost = on_lost, .free = tunnel_free};

static struct tunnel *tunnel_new(struct conn *c, int fd, enum bridge_open how, const char *host,
                                 int port, const char *label,
                                 void (*done)(void *arg, struct tunnel *t), void *arg)
{
    struct tunnel *t = calloc(1, sizeof *t);
    char *h = strdup(host), *l = label ? strdup(label) : NULL;
    if (!t || !h || (label && !l)) {
        free(t);
        free(h);
        free(l);
        close(fd);
        return NULL;
    }
    bridge_init(&t->b, &tunnel_hooks, c, how, fd, PUMP_TURNS);
    t->b.host = h;
    t->b.port = port;
    t->label = l;
    t->done = done;
    t->done_arg = arg;
    return t;
}

/* Queues it; nobody owns a tunnel: it is freed once it has ended. */
static void tunnel_go(struct tunnel *t, LIBSSH2_CHANNEL *ch)
{
    bridge_start(&t->b, ch);
    op_release(&t->b.op);
}

struct tunnel *tunnel_attach(struct conn *c, int fd, const char *host, int port, const char *label,
                             void (*done)(void *arg, struct tunnel *t), void *arg)
{
    struct tunnel *t = tunnel_new(c, fd, BRIDGE_DIRECT_TCPIP, host, port, label, done, arg);
    if (!t) return NULL;
    t->b.half_close = 1;               /* as ssh -L: each direction ends on its own */
    tunnel_go(t, NULL);
    return t;
}

struct tunnel *tunnel_attach_channel(struct conn *c, int fd, LIBSSH2_CHANNEL *ch, const char *label,
                                     void (*done)(void *arg, struct tunnel *t), void *arg)
{
    struct tunnel *t = tunnel_new(c, fd, BRIDGE_ACCEPTED, "", 0, label, done, arg);
    if (!t) { libssh2_channel_free(ch); return NULL; }
    t->b.half_close = 1;
    tunnel_go(t, ch);
    return t;
}

void tunnel_stop(struct tunnel *t) { bridge_stop(&t->b); }

void tunnel_set_inner(struct tunnel *t, struct conn *inner)
{
    if (t->b.op.stage != 0 || t->b.op.finished) return;   /* already open (or failed) */
    t->inner = inner;
    conn_retain(inner);
}

int tunnel_open(struct conn *outer, const char *host, int port, struct tunnel **out)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) return -1;
    struct tunnel *t = tunnel_new(outer, sv[1], BRIDGE_DIRECT_TCPIP, host, port, NULL, NULL, NULL);
    if (!t) { close(sv[0]); errno = ENOMEM; return -1; }
    /* No half-close: a jump tunnel ends on its inner session's EOF. */
    *out = t;
    tunnel_go(t, NULL);
    return sv[0];
}
