/* A connection's lifetime and the operations multiplexed on it (see ssh_conn.h); how it
   connects is ssh_connect.c. */
#include "ssh_conn_impl.h"
#include "ssh_agent_fwd.h"
#include "ssh_proxy.h"
#include "ssh_auth.h"
#include "loop_timer.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_PASSES 32            /* op passes per wake-up before letting the loop breathe */
/* One wake-up of a connection steps its ops for at most this long; what is left runs on a
   later loop iteration (conn_kick), after timers and other connections had their turn. */
#define PROCESS_SLICE_NS 3000000u
#define PROCESS_RX_BUDGET (1024u * 1024)   /* socket bytes per wake-up (counting_recv) */
#define CLOSE_TIMEOUT_MS 3000    /* a polite disconnect may take this long */

static struct conn *all_conns;

void conn_register(struct conn *c)
{
    c->next_all = all_conns;
    if (all_conns) all_conns->prev_all = c;
    all_conns = c;
}

static void teardown(struct conn *c);
static void on_poll(uv_poll_t *h, int status, int events);

void ssh_params_free(struct ssh_params *p)
{
    free(p->display); free(p->hostname); free(p->hostkey_name); free(p->user);
    free(p->password); free(p->passphrase); free(p->known_hosts);
    free(p->ciphers); free(p->macs); free(p->kex); free(p->proxy_command);
    free(p->agent_fwd_sock);
    for (int i = 0; i < p->nkeys; i++) free(p->keys[i]);
    for (int i = 0; i < p->ncerts; i++) free(p->cert_files[i]);
    for (int i = 0; i < p->n_global_kh; i++) free(p->global_kh[i]);
    memset(p, 0, sizeof *p);
}

enum conn_state conn_state(const struct conn *c) { return c->state; }
const char *conn_error(const struct conn *c) { return c->err; }
const char *conn_display(const struct conn *c) { return c->p.display; }
LIBSSH2_SESSION *conn_session(struct conn *c) { return c->session; }

/* ---- lifetime ---- */

void conn_maybe_free(struct conn *c)
{
    if (c->refs > 0 || c->state != C_DEAD || c->open_handles > 0) return;
    if (c->prev_all) c->prev_all->next_all = c->next_all; else if (all_conns == c) all_conns = c->next_all;
    if (c->next_all) c->next_all->prev_all = c->prev_all;
    ssh_params_free(&c->p);
    algs_free(&c->algs);
    free(c);
}

static void handle_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    c->open_handles--;
    conn_maybe_free(c);
}

static void close_handle(uv_handle_t *h)
{
    if (h->data && !uv_is_closing(h)) uv_close(h, handle_closed);
}

void conn_retain(struct conn *c) { c->refs++; }

static void begin_close(struct conn *c);

void conn_release(struct conn *c)
{
    if (--c->refs > 0) return;
    if (c->state == C_DEAD) { conn_maybe_free(c); return; }
    if (c->state == C_CLOSING) return;     /* the close op or its deadline finishes it */
    begin_close(c);
}

void conn_forget_waiter(struct conn *c, struct sched_waiter *w)
{
    if (c->connect_waiter == w) c->connect_waiter = NULL;
}

/* ---- failing ---- */

void conn_wake_waiter(struct conn *c)
{
    if (c->connect_waiter) {
        sched_wake(c->connect_waiter);
        c->connect_waiter = NULL;
    }
}

static void connect_poll_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    free(h);
    c->open_handles--;
    conn_maybe_free(c);
}

/* A pending connect's watcher goes before its socket does: libuv must forget the fd
   before the number can be reused by another connection (else "cannot watch a socket"),
   and the conn lives until the close callback (no late callback on freed memory). */
void conn_stop_connect_poll(struct conn *c)
{
    uv_poll_t *h = c->connect_poll;
    if (!h) return;
    c->connect_poll = NULL;
    uv_poll_stop(h);
    uv_close((uv_handle_t *)h, connect_poll_closed);
}

/* Frees the libssh2 session and the socket; the handles close asynchronously. */
static void teardown(struct conn *c)
{
    /* The agent handle belongs to the session (libssh2 frees it with the session's allocator
       and state): it goes first. */
    if (c->auth) { auth_free(c->auth); c->auth = NULL; }
    c->agent_fwd = NULL;                 /* its op was aborted: it frees itself */
    if (c->session) {
        libssh2_session_set_blocking(c->session, 1);   /* nothing left to wait for: don't EAGAIN */
        c->rx_budget = SIZE_MAX;         /* teardown may run inside conn_process(): no read budget */
        if (c->fd >= 0) shutdown(c->fd, SHUT_RDWR);
        libssh2_session_free(c->session);
        c->session = NULL;
    }
    conn_stop_connect_poll(c);
    if (c->poll.data) { uv_poll_stop(&c->poll); close_handle((uv_handle_t *)&c->poll); }
    close_handle((uv_handle_t *)&c->timer);
    close_handle((uv_handle_t *)&c->keepalive);
    close_handle((uv_handle_t *)&c->kick);
    if (c->fd >= 0) { close(c->fd); c->fd = -1; }
    if (c->proxy) { proxy_stop(c->proxy); c->proxy = NULL; }   /* after its socket: it sees EOF */
    if (c->ai_list) { uv_freeaddrinfo(c->ai_list); c->ai_list = NULL; }
}

void conn_fail(struct conn *c, const char *why)
{
    if (c->state == C_DEAD) return;
    if (why && why != c->err) snprintf(c->err, sizeof c->err, "%s", why);
    c->state = C_DEAD;
    conn_retain(c);
    struct ssh_op *lists[2] = {c->active, c->queue_head};
    c->active = c->queue_head = c->queue_tail = NULL;
    c->owner = c->requester = NULL;
    for (int i = 0; i < 2; i++) {
        for (struct ssh_op *op = lists[i], *next; op; op = next) {
            next = op->next;
            op->next = NULL;
            op->active = op->queued = 0;
            if (op->type->abort) op->type->abort(op, c->err);
        }
    }
    conn_wake_waiter(c);
    teardown(c);
    conn_release(c);
}

/* A libssh2 error that ends the whole connection (transport, crypto, timeouts). */
static int fatal_code(int rc)
{
    switch (rc) {
    case LIBSSH2_ERROR_SOCKET_SEND: case LIBSSH2_ERROR_SOCKET_RECV:
    case LIBSSH2_ERROR_SOCKET_DISCONNECT: case LIBSSH2_ERROR_SOCKET_TIMEOUT:
    case LIBSSH2_ERROR_TIMEOUT: case LIBSSH2_ERROR_DECRYPT: case LIBSSH2_ERROR_INVALID_MAC:
    case LIBSSH2_ERROR_KEX_FAILURE: case LIBSSH2_ERROR_PROTO: case LIBSSH2_ERROR_BANNER_RECV:
    case LIBSSH2_ERROR_BANNER_SEND: case LIBSSH2_ERROR_ALLOC: case LIBSSH2_ERROR_BAD_USE:
    case LIBSSH2_ERROR_ENCRYPT: case LIBSSH2_ERROR_COMPRESS: case LIBSSH2_ERROR_HOSTKEY_INIT:
        return 1;
    default:
        return 0;
    }
}

int conn_tracing(void)
{
    static int on = -1;
    if (on < 0) on = getenv("SSHS_TRACE") && *getenv("SSHS_TRACE") && *getenv("SSHS_TRACE") != '0';
    return on;
}

int conn_signals_work(struct conn *c)
{
#if LIBSSH2_VERSION_NUM >= 0x010b00
    const char *b = c->session ? libssh2_session_banner_get(c->session) : NULL;
    const char *v = b ? strstr(b, "OpenSSH_") : NULL;
    int major = 0, minor = 0;
    if (!v || sscanf(v + 8, "%d.%d", &major, &minor) != 2) return 0;
    /* sshd runs a root session in its privileged monitor, where it refuses signal requests
       ("session signalling requires privilege separation"). */
    if (c->p.user && strcmp(c->p.user, "root") == 0) return 0;
    return major > 7 || (major == 7 && minor >= 9);
#else
    (void)c;
    return 0;
#endif
}

void conn_trace(const struct conn *c, const char *op, unsigned id, const char *from, const char *to)
{
    if (!conn_tracing() || from == to) return;
    fprintf(stderr, "sshs: trace: %s %s#%u: %s -> %s\n", c->p.display, op, id, from, to);
}

enum ssh_step conn_step_of(int rc)
{
    if (rc == 0) return SSH_STEP_DONE;
    if (rc == LIBSSH2_ERROR_EAGAIN) return SSH_STEP_AGAIN;
    return fatal_code(rc) ? SSH_STEP_LOST : SSH_STEP_FAILED;
}

/* ---- op scheduling ---- */

static void append(struct ssh_op **head, struct ssh_op *op)
{
    op->next = NULL;
    while (*head) head = &(*head)->next;
    *head = op;
}

static void unlink_op(struct ssh_op **head, struct ssh_op *op)
{
    for (; *head; head = &(*head)->next)
        if (*head == op) { *head = op->next; op->next = NULL; return; }
}

void conn_activate(struct conn *c, struct ssh_op *op)
{
    if (op->type->uses_channel) c->channels++;
    op->active = 1;
    append(&c->active, op);
}

/* Puts op in the queue of ops waiting for a channel slot: at the back, or at the front
   when it already had its turn. */
static void queue_op(struct conn *c, struct ssh_op *op, int front)
{
    /* Slots held by idle ops (the SFTP link between transfers) are given back, else a command
       after a transfer would wait forever on a server with few sessions (MaxSessions 1). */
    for (struct ssh_op *a = c->active; a; a = a->next)
        if (a->idle && a->type->yield_slot) a->type->yield_slot(a);
    op->queued = 1;
    if (front) {
        op->next = c->queue_head;
        c->queue_head = op;
        if (!c->queue_tail) c->queue_tail = op;
        return;
    }
    op->next = NULL;
    if (c->queue_tail) c->queue_tail->next = op; else c->queue_head = op;
    c->queue_tail = op;
}

void conn_start_queued(struct conn *c)
{
    if (c->refusals && uv_is_active((uv_handle_t *)&c->timer)) return;   /* a retry is pending */
    while (c->queue_head && c->state == C_READY && c->channels < c->p.max_channels) {
        struct ssh_op *op = c->queue_head;
        c->queue_head = op->next;
        if (!c->queue_head) c->queue_tail = NULL;
        op->queued = 0;
        conn_activate(c, op);
    }
}

int conn_slot_wanted(const struct conn *c) { return c->queue_head != NULL; }

void conn_add_op(struct conn *c, struct ssh_op *op)
{
    op->conn = c;
    op->progress = 0;
    if (c->state == C_DEAD) {
        if (op->type->abort) op->type->abort(op, c->err);
        return;
    }
    if (op->type->uses_channel && (c->channels >= c->p.max_channels || c->state != C_READY)) {
        queue_op(c, op, 0);
        return;
    }
    conn_activate(c, op);
    conn_kick(c);                        /* it runs on the loop's next turn, never nested */
}

int conn_request_begin(struct conn *c, struct ssh_op *op)
{
    if (c->requester && c->requester != op) return 0;
    c->requester = op;
    return 1;
}

int conn_is_owner(const struct conn *c, const struct ssh_op *op)
{
    return c->owner == op;
}

void conn_request_end(struct conn *c, struct ssh_op *op)
{
    if (c->requester == op) c->requester = NULL;
}

void conn_remove_op(struct conn *c, struct ssh_op *op)
{
    conn_request_end(c, op);
    if (op->active) {
        unlink_op(&c->active, op);
        op->active = 0;
        if (op->type->uses_channel) c->channels--;
        if (c->owner == op) c->owner = NULL;
    } else if (op->queued) {
        unlink_op(&c->queue_head, op);
        c->queue_tail = c->queue_head;
        while (c->queue_tail && c->queue_tail->next) c->queue_tail = c->queue_tail->next;
        op->queued = 0;
    }
    conn_start_queued(c);
}

#define MAX_REFUSALS 6           /* retries of a lone refused open: 10 ms doubling, ~0.6 s */

static void on_retry(uv_timer_t *t)
{
    struct conn *c = t->data;
    conn_start_queued(c);
    conn_process(c);
}

void conn_quick_ack_off(struct conn *c) { c->quick_ack = 0; }

void conn_channel_opened(struct conn *c)
{
    c->refusals = 0;
}

int conn_channel_refused(struct conn *c, struct ssh_op *op)
{
    int others = c->channels - 1;           /* channels open besides op */
    if (others < 1 && c->refusals >= MAX_REFUSALS) return 0;
    /* The server allows fewer sessions than we assumed: remember, and try again when one
       closes. With nothing else open, sshd may not have freed the last session yet (it
       does so lazily): try again shortly. */
    if (others >= 1) c->p.max_channels = others;
    unlink_op(&c->active, op);
    op->active = 0;
    c->channels--;
    queue_op(c, op, 1);
    if (others < 1) {
        loop_timer_start(&c->timer, on_retry, 10u << c->refusals, 0);
        c->refusals++;
        return 1;
    }
    conn_start_queued(c);
    return 1;
}

static void on_kick(uv_idle_t *h)
{
    struct conn *c = h->data;
    uv_idle_stop(h);
    conn_process(c);
}

void conn_kick(struct conn *c)
{
    if (c->state != C_DEAD && c->kick.data) uv_idle_start(&c->kick, on_kick);
}

/* Does an active op wait on the network (idle ones only hold a channel)? */
static int busy(const struct conn *c)
{
    for (const struct ssh_op *op = c->active; op; op = op->next)
        if (!op->idle) return 1;
    return 0;
}

static void update_poll(struct conn *c)
{
    if (c->state == C_DEAD || !c->poll.data || c->fd < 0) return;
    int events = UV_READABLE;       /* idle: notice the server closing */
    if (busy(c) && c->session) {
        int dir = libssh2_session_block_directions(c->session);
        events = 0;
        if (dir & LIBSSH2_SESSION_BLOCK_INBOUND) events |= UV_READABLE;
        if (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND) events |= UV_WRITABLE;
        if (!events) events = UV_READABLE | UV_WRITABLE;
    }
    if (!c->poll_started || events != c->poll_events) {
        uv_poll_start(&c->poll, events, on_poll);
        c->poll_started = 1;
        c->poll_events = events;
    }
}

/* Runs op's stages from op->stage until one waits (see struct op_stage). */
static enum ssh_step run_op(struct ssh_op *op)
{
    if (op->type->before) op->type->before(op);
    for (;;) {
        if (op->finished) return SSH_STEP_DONE;
        int s = op->stage;
        enum ssh_step r = op->type->stages[s].run(op);
        if (r != SSH_STEP_DONE || op->finished || op->stage == s) return r;
    }
}

/* Steps every active op until a whole pass makes no progress: libssh2 may read another
   channel's data while serving one, so one pass is not enough. The op that blocked on
   output is the only one stepped until it gets through (libssh2 1.10 rule). */
void conn_process(struct conn *c)
{
    if (c->processing) { c->again = 1; return; }
    c->processing = 1;
    conn_retain(c);
    int passes = 0, progress = 0;
    uint64_t deadline = uv_hrtime() + PROCESS_SLICE_NS;
    c->rx_budget = PROCESS_RX_BUDGET;
    do {
        c->again = 0;
        progress = 1;
        while (progress && c->state != C_DEAD && passes++ < MAX_PASSES && uv_hrtime() < deadline) {
            progress = 0;
            /* A call may read what another op waits for (another channel's data, another SFTP
               request's reply) and still say EAGAIN: a pass that received anything is
               followed by another, so every op sees what arrived. */
            uint64_t rx0 = c->rx_bytes;
            int waiting = 0;
            struct ssh_op *op = c->owner ? c->owner : c->active;
            while (op && c->state != C_DEAD) {
                struct ssh_op *next = op->next;
                op->progress = 0;
                enum ssh_step r = run_op(op);
                if (c->state == C_DEAD) break;
                if (r == SSH_STEP_REQUEUED || r == SSH_STEP_WAITING) { waiting = 1; op = next; continue; }
                if (r == SSH_STEP_AGAIN) {
                    waiting = 1;
                    int dir = c->session ? libssh2_session_block_directions(c->session) : 0;
                    if (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND) c->owner = op;
                    else if (c->owner == op) c->owner = NULL;
                    if (op->progress) progress = 1;
                } else if (r == SSH_STEP_LOST) {
                    char *msg = NULL;
                    if (c->session) libssh2_session_last_error(c->session, &msg, NULL, 0);
                    char why[600];
                    snprintf(why, sizeof why, "connection to %s lost: %s", c->p.display,
                             msg && *msg ? msg : "transport error");
                    conn_fail(c, why);
                    break;
                } else {
                    if (c->owner == op) c->owner = NULL;
                    conn_remove_op(c, op);
                    progress = 1;
                }
                if (c->owner) break;
                op = next;
            }
            if (waiting && c->rx_bytes != rx0) progress = 1;
        }
        if (progress && c->state != C_DEAD) conn_kick(c);   /* more to do: after the loop breathes */
        update_poll(c);
    } while (c->again && c->state != C_DEAD && uv_hrtime() < deadline);
    if (c->again && c->state != C_DEAD) conn_kick(c);
    c->processing = 0;
    conn_release(c);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct conn *c = h->data;
    if (status < 0) {
        /* POLLERR (reported as UV_EBADF): let libssh2 meet the error, so a dropped handshake
           reads as one; if nothing fails that way, fail with the socket's own error. */
        conn_process(c);
        if (c->state == C_DEAD) return;
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        char why[300];
        snprintf(why, sizeof why, "connection to %s lost: %s", c->p.display,
                 err ? strerror(err) : uv_strerror(status));
        conn_fail(c, why);
        return;
    }
    if (!busy(c) && (c->state == C_READY || c->state == C_AUTH)) {
        /* Nobody is reading (or auth waits for the user at a prompt): peek to tell the server
           closing from data for a later step. */
        char b;
        ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            char why[300];
            snprintf(why, sizeof why, "connection to %s closed by the server%s%s", c->p.display,
                     n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
            conn_fail(c, why);
        } else if (n > 0) {
            /* Forwarding the agent: it may be an agent channel's open, for now. */
            if (c->agent_fwd && agentfwd_wake(c->agent_fwd)) { conn_process(c); return; }
            uv_poll_stop(&c->poll);           /* libssh2 reads it with the next op */
            c->poll_started = 0;
        }
        return;
    }
    conn_process(c);
}

/* ---- closing ---- */

static enum ssh_step close_step(struct ssh_op *op)
{
    struct conn *c = op->conn;
    int r = libssh2_session_disconnect(c->session, "sshs: done");
    if (r == LIBSSH2_ERROR_EAGAIN) return SSH_STEP_AGAIN;
    conn_fail(c, "closed");
    return SSH_STEP_DONE;
}

static const struct op_stage close_stages[] = {{"disconnect", close_step}};
static const struct ssh_op_type close_type = {.name = "disconnect", .stages = close_stages};

/* The server did not take our goodbye in time: close regardless. */
static void on_close_deadline(uv_timer_t *t) { conn_fail(t->data, "closed"); }

/* The last user let go: say goodbye in the background, bounded by CLOSE_TIMEOUT_MS. */
static void begin_close(struct conn *c)
{
    c->refs++;                           /* held until the disconnect is over */
    if (c->state != C_READY || busy(c)) {
        c->refs--;
        conn_fail(c, "closed");
        return;
    }
    c->state = C_CLOSING;
    c->refs--;
    loop_timer_start(&c->timer, on_close_deadline, CLOSE_TIMEOUT_MS, 0);
    c->close_op.type = &close_type;
    c->close_op.conn = c;
    conn_activate(c, &c->close_op);
    conn_kick(c);                        /* from the loop: a release never re-enters conn_process() */
}

void conn_interrupt_all(void)
{
    /* Established connections stay up so their running commands can be stopped. */
    for (struct conn *c = all_conns, *next; c; c = next) {
        next = c->next_all;
        if (c->state != C_DEAD && c->state != C_READY && c->state != C_CLOSING) conn_fail(c, "interrupted");
    }
}

void conn_shutdown_all(void)
{
    for (struct conn *c = all_conns, *next; c; c = next) {
        next = c->next_all;
        if (c->state != C_DEAD) conn_fail(c, "closed at exit");
    }
}
