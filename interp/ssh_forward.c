/* Local port forwards (see ssh_forward.h). */
#include "ssh_forward.h"
#include "ssh_op.h"
#include "ssh_tunnel.h"
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FWD_MAX_CONNS 1024        /* open connections per forward; more wait in the backlog */

struct fwd_link { struct tunnel *t; struct fwd_link *next; };

struct fwd {
    struct conn *conn;            /* retained while listening */
    int fd;
    uv_poll_t poll;
    int port;
    char *thost;
    int tport;
    char label[300];
    struct fwd_link *links;       /* open tunnels */
    int open;
    unsigned long accepted;
    int closed;                   /* fwd_close called */
    int poll_closed;
    struct fwd *next_all;
    /* remote forwards (ssh -R) */
    int remote;
    struct ssh_op op;
    LIBSSH2_LISTENER *listener;
    char *rhost;
    int rport;
    int state;                    /* 0 waiting for the server, 1 listening, -1 failed */
    char err[700];
    struct sched_waiter *waiter;
};

enum rf_stage { RF_LISTEN, RF_ACCEPT, RF_CANCEL };

static struct fwd *all_fwds;

static void free_fwd(struct fwd *f)
{
    for (struct fwd **p = &all_fwds; *p; p = &(*p)->next_all)
        if (*p == f) { *p = f->next_all; break; }
    free(f->thost);
    free(f->rhost);
    free(f);
}

/* Closed and its connections gone: a local forward is freed now (its listener's close
   callback or a tunnel's end, never under a step); a remote one's op lets go, and the op
   base frees it once the op has cancelled the listening too. */
static void maybe_free(struct fwd *f)
{
    if (!f->closed || !f->poll_closed || f->links) return;
    if (f->remote) op_release(&f->op); else free_fwd(f);
}

static void on_accept(uv_poll_t *h, int status, int events);

static void resume_accepting(struct fwd *f)
{
    if (f->remote) { if (!f->closed) conn_kick(f->conn); return; }   /* its op accepts */
    if (!f->closed && f->open < FWD_MAX_CONNS) uv_poll_start(&f->poll, UV_READABLE, on_accept);
}

static void on_tunnel_done(void *arg, struct tunnel *t)
{
    struct fwd *f = arg;
    for (struct fwd_link **p = &f->links; *p; p = &(*p)->next) {
        if ((*p)->t == t) {
            struct fwd_link *l = *p;
            *p = l->next;
            free(l);
            f->open--;
            break;
        }
    }
    resume_accepting(f);
    maybe_free(f);
}

static void on_accept(uv_poll_t *h, int status, int events)
{
    struct fwd *f = h->data;
    if (f->closed) return;
    /* A bounded slice per wake-up: the loop serves the tunnels in between. */
    for (int i = 0; i < 64 && f->open < FWD_MAX_CONNS; i++) {
        int fd = accept4(f->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break;
        if (conn_state(f->conn) != C_READY) { close(fd); continue; }
        struct fwd_link *l = malloc(sizeof *l);
        if (!l) { close(fd); break; }
        l->t = tunnel_attach(f->conn, fd, f->thost, f->tport, f->label, on_tunnel_done, f);
        if (!l->t) { free(l); break; }
        l->next = f->links;
        f->links = l;
        f->open++;
        f->accepted++;
    }
    if (f->open >= FWD_MAX_CONNS) uv_poll_stop(&f->poll);   /* resumed as tunnels end */
}

static void poll_closed(uv_handle_t *h)
{
    struct fwd *f = h->data;
    f->poll_closed = 1;
    close(f->fd);
    f->fd = -1;
    maybe_free(f);
}

struct fwd *fwd_listen(struct conn *c, const char *lhost, int lport, const char *thost, int tport,
                       char *err, size_t errlen)
{
    struct fwd *f = calloc(1, sizeof *f);
    char label[300];
    snprintf(label, sizeof label, "forward %s:%d -> %s:%d", lhost, lport, thost, tport);
    if (!f || !(f->thost = strdup(thost))) {
        free(f);
        snprintf(err, errlen, "%s: out of memory", label);
        return NULL;
    }
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof ss);
    const char *numeric = strcmp(lhost, "localhost") == 0 ? "127.0.0.1" : lhost;
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, numeric, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)lport);
        sl = sizeof *s4;
    } else if (inet_pton(AF_INET6, numeric, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)lport);
        sl = sizeof *s6;
    } else {
        snprintf(err, errlen, "%s: the listen address must be numeric (or localhost), not \"%s\"", label, lhost);
        free(f->thost);
        free(f);
        return NULL;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 128) < 0) {
        snprintf(err, errlen, "%s: cannot listen on %s:%d: %s", label, lhost, lport, strerror(errno));
        if (fd >= 0) close(fd);
        free(f->thost);
        free(f);
        return NULL;
    }
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        f->port = ntohs(ss.ss_family == AF_INET ? s4->sin_port : s6->sin6_port);
    snprintf(f->label, sizeof f->label, "forward %s:%d -> %s:%d", lhost, f->port, thost, tport);
    f->fd = fd;
    f->tport = tport;
    f->conn = c;
    conn_retain(c);
    uv_poll_init(sched_loop(), &f->poll, fd);
    f->poll.data = f;
    resume_accepting(f);
    f->next_all = all_fwds;
    all_fwds = f;
    return f;
}

int fwd_port(const struct fwd *f) { return f->port; }
unsigned long fwd_accepted(const struct fwd *f) { return f->accepted; }
int fwd_open_count(const struct fwd *f) { return f->open; }

void fwd_close(struct fwd *f)
{
    if (f->closed) return;
    f->closed = 1;
    f->waiter = NULL;
    if (!f->remote) {
        uv_poll_stop(&f->poll);
        uv_close((uv_handle_t *)&f->poll, poll_closed);
    }
    for (struct fwd_link *l = f->links; l; l = l->next) tunnel_stop(l->t);
    if (f->remote && !f->op.finished) conn_kick(f->conn);   /* the op cancels, then ends */
    struct conn *c = f->conn;
    maybe_free(f);
    conn_release(c);
}

/* ---- remote forwards ---- */

static void rf_settle(struct fwd *f, int state)
{
    f->state = state;
    if (f->waiter) { sched_wake(f->waiter); f->waiter = NULL; }
}

/* A non-blocking connect to thost:tport; the tunnel meets a refusal as its socket's error. */
static int local_connect(const struct fwd *f)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof ss);
    const char *numeric = strcmp(f->thost, "localhost") == 0 ? "127.0.0.1" : f->thost;
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, numeric, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET; s4->sin_port = htons((uint16_t)f->tport); sl = sizeof *s4;
    } else if (inet_pton(AF_INET6, numeric, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6; s6->sin6_port = htons((uint16_t)f->tport); sl = sizeof *s6;
    } else {
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS)
        fprintf(stderr, "sshs: %s: cannot connect to %s:%d: %s\n", f->label, f->thost, f->tport, strerror(errno));
    return fd;                    /* a failed one reads as closed: the tunnel ends that connection */
}

static struct fwd *fwd_of(struct ssh_op *op) { return (struct fwd *)((char *)op - offsetof(struct fwd, op)); }

static enum ssh_step rf_listen(struct ssh_op *op)
{
    struct fwd *f = fwd_of(op);
    LIBSSH2_SESSION *s = conn_session(f->conn);
    if (f->closed) { rf_settle(f, -1); op_finish(op); return SSH_STEP_DONE; }
    if (!conn_request_begin(f->conn, op)) return SSH_STEP_WAITING;
    int bound = 0;
    f->listener = libssh2_channel_forward_listen_ex(s, f->rhost, f->rport, &bound, 16);
    if (!f->listener) {
        int e = libssh2_session_last_errno(s);
        if (e == LIBSSH2_ERROR_EAGAIN) return SSH_STEP_AGAIN;      /* the lock stays ours */
        conn_request_end(f->conn, op);
        char *msg = NULL;
        libssh2_session_last_error(s, &msg, NULL, 0);
        snprintf(f->err, sizeof f->err, "%s: %s refused to listen on %s:%d (%s; is AllowTcpForwarding "
                 "off, or the port in use there?)", f->label, conn_display(f->conn), f->rhost, f->rport,
                 msg && *msg ? msg : "refused");
        rf_settle(f, -1);
        op_finish(op);
        return conn_step_of(e) == SSH_STEP_LOST ? SSH_STEP_LOST : SSH_STEP_DONE;
    }
    conn_request_end(f->conn, op);
    f->port = bound > 0 ? bound : f->rport;
    snprintf(f->label, sizeof f->label, "forward remote %s:%d -> %s:%d", f->rhost, f->port, f->thost, f->tport);
    op->progress = 1;
    rf_settle(f, 1);
    return op_next(op, RF_ACCEPT);
}

/* A socket that reads as closed, so the tunnel closes the channel at once. */
static int closed_socket(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) return -1;
    close(sv[1]);
    return sv[0];
}

/* A bounded slice of the server's connections per step, each carried by a tunnel. */
static enum ssh_step rf_accept(struct ssh_op *op)
{
    struct fwd *f = fwd_of(op);
    for (int i = 0; i < 64 && !f->closed && f->open < FWD_MAX_CONNS; i++) {
        LIBSSH2_CHANNEL *ch = libssh2_channel_forward_accept(f->listener);
        if (!ch) {
            int e = libssh2_session_last_errno(conn_session(f->conn));
            if (e == LIBSSH2_ERROR_EAGAIN) break;
            return conn_step_of(e);
        }
        op->progress = 1;
        int fd = local_connect(f);
        if (fd < 0) {
            fprintf(stderr, "sshs: %s: cannot reach %s:%d from here (a numeric address or localhost)\n",
                    f->label, f->thost, f->tport);
            if ((fd = closed_socket()) < 0) return SSH_STEP_AGAIN;
        }
        struct fwd_link *l = malloc(sizeof *l);
        if (!l) { close(fd); break; }
        l->t = tunnel_attach_channel(f->conn, fd, ch, f->label, on_tunnel_done, f);
        if (!l->t) { free(l); break; }
        l->next = f->links;
        f->links = l;
        f->open++;
        f->accepted++;
    }
    if (!f->closed) return SSH_STEP_AGAIN;
    return op_next(op, RF_CANCEL);
}

static enum ssh_step rf_cancel(struct ssh_op *op)
{
    struct fwd *f = fwd_of(op);
    if (libssh2_channel_forward_cancel(f->listener) == LIBSSH2_ERROR_EAGAIN) return SSH_STEP_AGAIN;
    f->listener = NULL;
    op_finish(op);
    return SSH_STEP_DONE;
}

static const struct op_stage rf_stages[] = {
    [RF_LISTEN] = {"listen", rf_listen}, [RF_ACCEPT] = {"accept", rf_accept},
    [RF_CANCEL] = {"cancel", rf_cancel},
};

static void rf_abort(struct ssh_op *op, const char *why)
{
    struct fwd *f = fwd_of(op);
    if (f->state == 0) {
        snprintf(f->err, sizeof f->err, "%s: %s", f->label, why);
        rf_settle(f, -1);
    }
    f->listener = NULL;           /* gone with the session */
    op_finish(op);
}

static void rf_free(struct ssh_op *op) { free_fwd(fwd_of(op)); }

static const struct ssh_op_type rf_type = {
    .name = "forward", .stages = rf_stages, .abort = rf_abort, .free = rf_free};

struct fwd *fwd_remote(struct conn *c, const char *rhost, int rport, const char *thost, int tport,
                       char *err, size_t errlen)
{
    struct fwd *f = calloc(1, sizeof *f);
    if (!f || !(f->thost = strdup(thost)) || !(f->rhost = strdup(rhost))) {
        if (f) { free(f->thost); free(f); }
        snprintf(err, errlen, "forward remote %s:%d -> %s:%d: out of memory", rhost, rport, thost, tport);
        return NULL;
    }
    f->remote = 1;
    f->poll_closed = 1;
    f->fd = -1;
    f->rport = rport;
    f->tport = tport;
    snprintf(f->label, sizeof f->label, "forward remote %s:%d -> %s:%d", rhost, rport, thost, tport);
    f->conn = c;
    conn_retain(c);
    op_init(&f->op, &rf_type, c);
    f->next_all = all_fwds;
    all_fwds = f;
    op_start(&f->op);
    return f;
}

int fwd_remote_state(const struct fwd *f, const char **err)
{
    if (err) *err = f->err;
    return f->state;
}

void fwd_set_waiter(struct fwd *f, struct sched_waiter *w) { f->waiter = w; }

void fwd_shutdown_all(void)
{
    for (struct fwd *f = all_fwds; f; f = f->next_all) fwd_close(f);
}
