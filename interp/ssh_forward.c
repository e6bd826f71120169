/* Local port forwards (see ssh_forward.h). */
#include "ssh_forward.h"
#include "ssh_conn.h"
#include "ssh_tunnel.h"
#include <arpa/inet.h>
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
};

static struct fwd *all_fwds;

static void maybe_free(struct fwd *f)
{
    if (!f->closed || !f->poll_closed || f->links) return;
    for (struct fwd **p = &all_fwds; *p; p = &(*p)->next_all)
        if (*p == f) { *p = f->next_all; break; }
    free(f->thost);
    free(f);
}

static void on_accept(uv_poll_t *h, int status, int events);

static void resume_accepting(struct fwd *f)
{
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
    uv_poll_stop(&f->poll);
    uv_close((uv_handle_t *)&f->poll, poll_closed);
    for (struct fwd_link *l = f->links; l; l = l->next) tunnel_stop(l->t);
    conn_release(f->conn);
}

void fwd_shutdown_all(void)
{
    for (struct fwd *f = all_fwds; f; f = f->next_all) fwd_close(f);
}
