/* Agent forwarding (see ssh_agent_fwd.h). */
#include "ssh_agent_fwd.h"
#include "ssh_bridge.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Channels bridged per step (the loop runs between slices), and pump rounds per bridge step:
   agent messages are small (a sign request and its answer are a few KB). */
#define ACCEPT_SLICE 16
#define AGENT_TURNS 4

struct agent_fwd {
    struct ssh_op op;                  /* first */
    char *sock;                        /* the local agent (SSH_AUTH_SOCK at connect) */
    LIBSSH2_CHANNEL **pending;         /* opened by the server, not yet bridged */
    size_t npending, cap;              /* grows only with channels libssh2 already holds */
    int bridges;                       /* bridges made and not yet freed */
    int op_freed;
    int granted;                       /* the server said yes to a request */
    int read_wanted;                   /* agentfwd_wake: read what has arrived */
    int warned_refused, warned_unreachable;
};

struct agent_link {
    struct bridge b;                   /* first: the bridge's free hook frees the link */
    struct agent_fwd *af;
};

int conn_agent_forwarding_supported(void)
{
#if LIBSSH2_VERSION_NUM >= 0x010b00
    return 1;
#else
    return 0;
#endif
}

static void maybe_free(struct agent_fwd *af)
{
    if (!af->op_freed || af->bridges > 0) return;
    free(af->pending);
    free(af->sock);
    free(af);
}

static void link_free(struct bridge *b)
{
    struct agent_fwd *af = ((struct agent_link *)b)->af;
    free(b);
    af->bridges--;
    maybe_free(af);
}

static const struct bridge_hooks link_hooks = {.free = link_free};

/* A connection to the local agent (a Unix socket: connect is immediate), or -1 (errno). */
static int agent_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) { errno = ENAMETOOLONG; return -1; }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* A socket that reads as closed: the bridge closes its channel at once. */
static int closed_socket(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) return -1;
    close(sv[1]);
    return sv[0];
}

static enum ssh_step st_accept(struct ssh_op *op)
{
    struct agent_fwd *af = (struct agent_fwd *)op;
#ifdef LIBSSH2_HAVE_SESSION_READ_PACKETS
    if (af->read_wanted) {             /* the opens it reads come to agentfwd_take */
        int rc = libssh2_session_read_packets(conn_session(op->conn));
        if (rc == LIBSSH2_ERROR_EAGAIN) return SSH_STEP_AGAIN;   /* a half-sent packet: repeat */
        af->read_wanted = 0;
        op->progress = 1;
        if (rc < 0 && conn_step_of(rc) == SSH_STEP_LOST) return SSH_STEP_LOST;
    }
#endif
    size_t done = 0;
    while (done < af->npending && done < ACCEPT_SLICE) {
        int fd = agent_connect(af->sock);
        if (fd < 0) {
            if (!af->warned_unreachable) {
                af->warned_unreachable = 1;
                fprintf(stderr, "sshs: agent forwarding to %s: cannot reach the local agent at %s "
                        "(SSH_AUTH_SOCK): %s; the remote agent client finds no agent\n",
                        conn_display(op->conn), af->sock, strerror(errno));
            }
            if ((fd = closed_socket()) < 0) break;     /* out of descriptors: next step */
        }
        struct agent_link *l = calloc(1, sizeof *l);
        if (!l) { close(fd); break; }
        l->af = af;
        af->bridges++;
        bridge_init(&l->b, &link_hooks, op->conn, BRIDGE_AGENT, fd, AGENT_TURNS);
        bridge_start(&l->b, af->pending[done]);
        op_release(&l->b.op);              /* nobody owns it: freed once it has ended */
        done++;
    }
    if (done) {
        memmove(af->pending, af->pending + done, (af->npending - done) * sizeof *af->pending);
        af->npending -= done;
    }
    if (af->npending) {
        conn_kick(op->conn);               /* the rest on the next turn */
        return SSH_STEP_WAITING;
    }
    op->idle = 1;                          /* nothing to wait for: not polled for */
    return SSH_STEP_WAITING;
}

static const struct op_stage stages[] = {{"accept", st_accept}};

/* The connection died: the queued channels went with the session. */
static void agentfwd_abort(struct ssh_op *op, const char *why)
{
    struct agent_fwd *af = (struct agent_fwd *)op;
    af->npending = 0;
    op_finish(op);
}

static void agentfwd_free(struct ssh_op *op)
{
    struct agent_fwd *af = (struct agent_fwd *)op;
    af->op_freed = 1;
    maybe_free(af);
}

static const struct ssh_op_type agentfwd_type = {
    .name = "agentfwd", .stages = stages, .weak = 1, .abort = agentfwd_abort, .free = agentfwd_free};

struct agent_fwd *agentfwd_start(struct conn *c, const char *sock)
{
    struct agent_fwd *af = calloc(1, sizeof *af);
    if (!af || !(af->sock = strdup(sock))) { free(af); return NULL; }
    op_init(&af->op, &agentfwd_type, c);
    af->op.idle = 1;
    op_start(&af->op);
    op_release(&af->op);                   /* the connection's: it ends with it */
    return af;
}

int agentfwd_wake(struct agent_fwd *af)
{
#ifdef LIBSSH2_HAVE_SESSION_READ_PACKETS
    if (af->op.finished) return 0;
    af->read_wanted = 1;
    af->op.idle = 0;
    return 1;
#else
    (void)af;
    return 0;
#endif
}

void agentfwd_take(struct agent_fwd *af, LIBSSH2_CHANNEL *ch)
{
    if (af->op.finished) return;           /* freed with the session */
    if (af->npending == af->cap) {
        size_t cap = af->cap ? af->cap * 2 : 8;
        LIBSSH2_CHANNEL **p = realloc(af->pending, cap * sizeof *p);
        if (!p) {                          /* it stays libssh2's until the session ends */
            fprintf(stderr, "sshs: agent forwarding to %s: out of memory for a channel\n",
                    conn_display(af->op.conn));
            return;
        }
        af->pending = p;
        af->cap = cap;
    }
    af->pending[af->npending++] = ch;
    af->op.idle = 0;
    conn_kick(af->op.conn);
}

int agentfwd_should_ask(const struct agent_fwd *af, int once_is_enough)
{
    return !(af->granted && once_is_enough);
}

void agentfwd_answer(struct agent_fwd *af, int granted, const char *reason)
{
    if (granted) af->granted = 1;
    if (granted || af->granted || af->warned_refused) return;   /* a repeat OpenSSH refuses */
    af->warned_refused = 1;
    fprintf(stderr, "sshs: %s refused agent forwarding (%s; AllowAgentForwarding no in its "
            "sshd_config?); commands run there without the agent\n", conn_display(af->op.conn),
            reason && *reason ? reason : "refused");
}
