/* A remote pty: the bridged-channel op (ssh_bridge.c) configured with a session channel, a
   pty request and a shell or a command, pumped to and from a socketpair. */
#include "ssh_pty.h"
#include "ssh_bridge.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Rounds of the pump per step: 16 x 64 KiB, at most 1 MiB each way per step. */
#define PTY_TURNS 16

struct ssh_pty {
    struct bridge b;                   /* first: the bridge's free hook frees the pty */
};

static void pty_free(struct bridge *b) { free(b); }

static const struct bridge_hooks pty_hooks = {.free = pty_free};

int ssh_pty_open(struct conn *c, const char *term, int cols, int rows, const char *cmd,
                 struct ssh_pty **out)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) return -1;
    struct ssh_pty *p = calloc(1, sizeof *p);
    char *t = strdup(term ? term : "xterm"), *cm = cmd ? strdup(cmd) : NULL;
    if (!p || !t || (cmd && !cm)) {
        free(p);
        free(t);
        free(cm);
        close(sv[0]);
        close(sv[1]);
        errno = ENOMEM;
        return -1;
    }
    bridge_init(&p->b, &pty_hooks, c, BRIDGE_SESSION, sv[1], PTY_TURNS);
    p->b.term = t;
    p->b.cmd = cm;
    p->b.cols = cols > 0 ? cols : 80;
    p->b.rows = rows > 0 ? rows : 24;
    *out = p;
    bridge_start(&p->b, NULL);
    return sv[0];
}

void ssh_pty_resize(struct ssh_pty *p, int cols, int rows) { bridge_resize(&p->b, cols, rows); }

const char *ssh_pty_error(const struct ssh_pty *p) { return p->b.error; }

void ssh_pty_release(struct ssh_pty *p)
{
    if (!p->b.op.finished) conn_kick(p->b.op.conn);   /* it sees our end closed and hangs up */
    op_release(&p->b.op);
}
