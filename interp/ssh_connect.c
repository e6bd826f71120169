/* How a connection comes up (see ssh_conn.h): resolve (a numeric address without the thread
   pool), non-blocking TCP connect with TCP_NODELAY over each address in turn, handshake, host
   key check, auth, keepalive, all under the connect timeout. */
#include "ssh_conn_impl.h"
#include "ssh_auth.h"
#include "ssh_agent_fwd.h"
#include "ssh_alloc.h"
#include "ssh_hostkey.h"
#include "ssh_proxy.h"
#include "loop_timer.h"
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- keepalive ---- */

static enum ssh_step keepalive_step(struct ssh_op *op)
{
    struct conn *c = op->conn;
    int next;
    int r = libssh2_keepalive_send(c->session, &next);
    if (r == LIBSSH2_ERROR_EAGAIN) return SSH_STEP_AGAIN;
    c->keepalive_pending = 0;
    return conn_step_of(r);
}

static void keepalive_abort(struct ssh_op *op, const char *why)
{
    op->conn->keepalive_pending = 0;
}

static const struct op_stage keepalive_stages[] = {{"keepalive", keepalive_step}};
static const struct ssh_op_type keepalive_type = {
    .name = "keepalive", .stages = keepalive_stages, .abort = keepalive_abort};

/* libssh2's socket reads, counted: any byte from the server shows it is alive. */
/* OpenSSH answers each write to a pty whose ECHO is off and ICANON on with an SSH_MSG_IGNORE
   of the same size ("simulate echo", channels.c): a string of 4 + n random bytes for n bytes
   written. Counting them tells the pty bridge how much of what it sent has left sshd's buffer
   (ssh_bridge.c: they must stay under libssh2's 40000-byte packet limit). */
/* The server's SSH_MSG_DISCONNECT: its reason goes into the error a failed connect reports
   (sshd: "Too many authentication failures"). Its text is the server's: only printable ASCII
   is kept, so it cannot drive the terminal. */
static void on_disconnect(LIBSSH2_SESSION *session, int reason, const char *message, int message_len,
                          const char *language, int language_len, void **abstract)
{
    (void)session; (void)reason; (void)language; (void)language_len;
    struct conn *c = *abstract;
    size_t n = 0;
    for (int i = 0; message && i < message_len && n + 1 < sizeof c->server_said; i++)
        c->server_said[n++] = message[i] >= 0x20 && message[i] < 0x7f ? message[i] : '?';
    c->server_said[n] = 0;
}

static void on_ignore(LIBSSH2_SESSION *session, const char *msg, int len, void **abstract)
{
    struct conn *c = *abstract;
    if (len < 4) return;
    const unsigned char *m = (const unsigned char *)msg;
    uint32_t n = ((uint32_t)m[0] << 24) | ((uint32_t)m[1] << 16) | ((uint32_t)m[2] << 8) | m[3];
    if (n < 4 || (uint64_t)n + 4 > (uint64_t)len) return;
    c->pty_written += n - 4;
    if (c->ptys_waiting == 1 && c->pty_lone) c->pty_ignored = c->pty_lone;   /* it can only be its */
}

uint64_t conn_pty_written(const struct conn *c) { return c->pty_written; }
int conn_pty_ignored(const struct conn *c, const void *pty) { return pty && c->pty_ignored == pty; }

void conn_pty_waiting(struct conn *c, const void *pty, int delta)
{
    c->ptys_waiting += delta;
    if (delta > 0) c->pty_lone = c->ptys_waiting == 1 ? pty : NULL;
    else c->pty_lone = NULL;         /* which one still waits is not known */
}

void conn_pty_forget(struct conn *c, const void *pty)
{
    if (c->pty_lone == pty) c->pty_lone = NULL;
    if (c->pty_ignored == pty) c->pty_ignored = NULL;
}

/* Within one wake-up (conn_process()) at most rx_budget bytes are taken from the socket: past
   it we say "would block", as a non-blocking socket may at any byte. libssh2 (1.10, 1.11) reads
   every packet waiting on the socket inside each channel read, so a sender that keeps the
   socket full would otherwise hold the loop for a whole channel window per call. */
/* What was just read is acknowledged now, not after Linux's delayed-ACK timer (40 ms or more).
   sshd sets TCP_NODELAY only when its first session starts; until then a packet it sends while
   an earlier one is unacknowledged waits for that ACK (Nagle). After auth it sends its
   hostkeys-00 notice and then our first channel's confirmation, and that confirmation waited
   for our delayed ACK of the notice: 40-80 ms on the first command of every connection, on
   loopback as on a real network. Only until the first channel is open (a handful of reads);
   not a TCP socket (ProxyCommand): nothing to do, and the call fails harmlessly. */
static void quick_ack(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
}

static ssize_t counting_recv(libssh2_socket_t fd, void *buf, size_t len, int flags, void **abstract)
{
    struct conn *c = *abstract;
    if (c->processing) {
        if (c->rx_budget == 0) return -EAGAIN;
        if (len > c->rx_budget) len = c->rx_budget;
    }
    ssize_t n = recv(fd, buf, len, flags);
    if (n < 0 && errno != EAGAIN && errno != ENOENT) c->last_sock_errno = errno;
    if (n < 0) return errno == ENOENT ? -EAGAIN : -errno;
    if (n > 0) {
        if (c->quick_ack) quick_ack(fd);
        if (!c->algs.done) algs_capture(&c->algs, buf, (size_t)n);
        c->last_rx = uv_now(sched_loop());
        c->rx_bytes += (uint64_t)n;
        c->keepalive_missed = 0;
        if (c->processing) c->rx_budget -= (size_t)n;
    }
    return n;
}

/* libssh2's own send, noting the error: a server that resets the connection before our
   banner went out (a loaded client runs late) fails the send, not a read, and that reset is
   as retryable as one a read sees. */
static ssize_t noting_send(libssh2_socket_t fd, const void *buf, size_t len, int flags, void **abstract)
{
    struct conn *c = *abstract;
    ssize_t n = send(fd, buf, len, flags);
    if (n < 0 && errno != EAGAIN && errno != ENOENT) c->last_sock_errno = errno;
    if (n < 0) return errno == ENOENT ? -EAGAIN : -errno;
    return n;
}

/* ServerAliveInterval/CountMax: after a silent interval send a keepalive that asks for a
   reply; after keepalive_max unanswered ones the server counts as gone. */
static void on_keepalive(uv_timer_t *t)
{
    struct conn *c = t->data;
    if (c->state != C_READY || c->keepalive_pending) return;
    uint64_t interval_ms = (uint64_t)c->p.keepalive * 1000;
    if (uv_now(sched_loop()) - c->last_rx + 50 < interval_ms) return;
    int max = c->p.keepalive_max;
    if (c->keepalive_missed >= max) {
        char why[400];
        snprintf(why, sizeof why, "connection to %s lost: no answer to %d keepalives in %ds "
                 "(the server or the network is gone)", c->p.display, max, max * c->p.keepalive);
        conn_fail(c, why);
        return;
    }
    c->keepalive_missed++;
    c->keepalive_pending = 1;
    c->keepalive_op.type = &keepalive_type;
    conn_add_op(c, &c->keepalive_op);
}

/* ---- agent forwarding (ssh_agent_fwd.c) ---- */

#if LIBSSH2_VERSION_NUM >= 0x010b00
/* libssh2 has opened an auth-agent@openssh.com channel the server asked for (set only on a
   connection that forwards the agent: on any other, libssh2 refuses such opens). Called in the
   middle of a libssh2 call: queue it, nothing more. */
static void on_agent_channel(LIBSSH2_SESSION *session, LIBSSH2_CHANNEL *channel, void **abstract)
{
    struct conn *c = *abstract;
    if (c->agent_fwd) agentfwd_take(c->agent_fwd, channel);
}
#endif

/* OpenSSH's sshd grants agent forwarding once per connection (see conn_forwards_agent). */
static int server_is_openssh(const struct conn *c)
{
#if LIBSSH2_VERSION_NUM >= 0x010b00
    const char *b = c->session ? libssh2_session_banner_get(c->session) : NULL;
    return b && strstr(b, "OpenSSH_") != NULL;
#else
    (void)c;
    return 0;
#endif
}

int conn_forwards_agent(const struct conn *c)
{
    return c->agent_fwd && agentfwd_should_ask(c->agent_fwd, server_is_openssh(c));
}

void conn_agent_answer(struct conn *c, int granted, const char *reason)
{
    if (c->agent_fwd) agentfwd_answer(c->agent_fwd, granted, reason);
}

/* ---- connecting ---- */

/* The first channel's open rides right behind a signed publickey request (RFC 4252
   5.1; libssh2 patch 0009): its confirmation comes one round trip sooner (the 8b wait in
   docs/reference/performance.md). Only to OpenSSH's sshd, which answers an open that followed
   a refused key with UNIMPLEMENTED, so the next key or the password can still be tried (dropbear
   disconnects: "Received message 90 before userauth"); once per connection. */
#ifdef LIBSSH2_HAVE_CHANNEL_OPEN_AHEAD
static int may_open_ahead(const struct conn *c)
{
    /* Not on a jump host's connection: it only carries tunnels, and a bastion that allows no
       sessions (MaxSessions 0) would log "no more sessions" for every connection. */
    return server_is_openssh(c) && !c->p.tunnel_only;
}
#endif

static void open_ahead(struct conn *c)
{
#ifdef LIBSSH2_HAVE_CHANNEL_OPEN_AHEAD
    if (c->open_ahead != AHEAD_NONE || !auth_signed_waiting(c->auth, c->session) || !may_open_ahead(c))
        return;
    /* exec's window and libssh2's default are both 2 MiB: right for any session op */
    if (libssh2_channel_open_ahead(c->session, LIBSSH2_CHANNEL_WINDOW_DEFAULT,
                                   LIBSSH2_CHANNEL_PACKET_DEFAULT) != 0)
        return;                              /* a packet is half-sent: the next step tries */
    c->open_ahead = AHEAD_SENT;
    libssh2_session_flag(c->session, LIBSSH2_FLAG_PUBKEY_PAUSE_SIGNED, 0);
    auth_follow(c->auth);
    if (conn_tracing()) fprintf(stderr, "sshs: trace: %s: channel open sent with the auth request\n",
                                c->p.display);
#else
    (void)c;
#endif
}

/* Auth is done: an open sent ahead of it is completed (AHEAD_COMPLETING: its request was
   accepted) or forgotten (AHEAD_FORGETTING: refused, the server answered it UNIMPLEMENTED).
   0 settled, LIBSSH2_ERROR_EAGAIN, or the transport's error (the server closed the connection
   right after the auth success). */
static int settle_open_ahead(struct conn *c)
{
#ifdef LIBSSH2_HAVE_CHANNEL_OPEN_AHEAD
    if (c->open_ahead != AHEAD_COMPLETING && c->open_ahead != AHEAD_FORGETTING) return 0;
    int accepted = c->open_ahead == AHEAD_COMPLETING;
    if (!accepted) {
        if (libssh2_channel_open_forget(c->session) == LIBSSH2_ERROR_EAGAIN) return LIBSSH2_ERROR_EAGAIN;
    } else {
        /* Completes the open sent ahead, whatever the arguments. Refused (MaxSessions 0): no
           spare; the first op's own open meets the refusal and reports it. */
        c->spare = libssh2_channel_open_ex(c->session, "session", 7, LIBSSH2_CHANNEL_WINDOW_DEFAULT,
                                           LIBSSH2_CHANNEL_PACKET_DEFAULT, NULL, 0);
        int err = c->spare ? 0 : libssh2_session_last_errno(c->session);
        if (err == LIBSSH2_ERROR_EAGAIN || conn_step_of(err) == SSH_STEP_LOST) return err;
    }
    if (conn_tracing())
        fprintf(stderr, "sshs: trace: %s: channel opened ahead: %s\n", c->p.display,
                !accepted ? "forgotten (its key was refused)" : c->spare ? "open" : "refused");
    c->open_ahead = AHEAD_DONE;
#else
    (void)c;
#endif
    return 0;
}

LIBSSH2_CHANNEL *conn_take_spare(struct conn *c)
{
    if (c->spare_closing) return NULL;
    LIBSSH2_CHANNEL *ch = c->spare;
    c->spare = NULL;
    return ch;
}

int conn_close_spare(struct conn *c)
{
    if (!c->spare || c->spare_closing) return 0;
    c->spare_closing = 1;
    if (conn_tracing())
        fprintf(stderr, "sshs: trace: %s: channel opened ahead: closed (another session was refused)\n",
                c->p.display);
    return 1;
}

enum ssh_step conn_spare_closed(struct conn *c)
{
    if (!c->spare_closing) return SSH_STEP_DONE;
    /* sshd frees the session's slot before it confirms the close: once confirmed, the next
       open finds it free. A failure (the transport) is the next open's to report. */
    if (libssh2_channel_free(c->spare) == LIBSSH2_ERROR_EAGAIN) return SSH_STEP_AGAIN;
    c->spare = NULL;
    c->spare_closing = 0;
    return SSH_STEP_DONE;
}

/* The user answered a passphrase or password prompt: authentication goes on. */
static void on_auth_answer(void *arg)
{
    struct conn *c = arg;
    c->connect_op.idle = 0;
    conn_kick(c);
}

static enum ssh_step connect_step(struct ssh_op *op)
{
    struct conn *c = op->conn;
    if (c->state == C_HANDSHAKE) {
        int r = libssh2_session_handshake(c->session, c->fd);
        if (r == LIBSSH2_ERROR_EAGAIN) return SSH_STEP_AGAIN;
        if (r) {
            char *msg = NULL;
            libssh2_session_last_error(c->session, &msg, NULL, 0);
            char why[1500];
            int closed = r == LIBSSH2_ERROR_SOCKET_DISCONNECT || r == LIBSSH2_ERROR_BANNER_RECV;
            const char *ended = proxy_ended(c->proxy);
            if (ended)
                snprintf(why, sizeof why, "SSH handshake with %s failed: %s", c->p.display, ended);
            else if (c->p.proxy_command)      /* it is ending (not yet reaped): name it */
                snprintf(why, sizeof why, "SSH handshake with %s failed: its ProxyCommand '%.400s' "
                         "closed the connection (%s)", c->p.display, c->p.proxy_command,
                         c->last_sock_errno ? strerror(c->last_sock_errno) : msg ? msg : "unknown error");
            else if (c->last_sock_errno == ECONNRESET)
                snprintf(why, sizeof why, "SSH handshake with %s failed: %s (the server or something "
                         "in between reset the connection)", c->p.display, strerror(ECONNRESET));
            else
                snprintf(why, sizeof why, "SSH handshake with %s failed: %s", c->p.display,
                         closed ? "the server closed the connection (is it an SSH server? is it dropping "
                                  "connections, e.g. MaxStartups?)" : (msg ? msg : "unknown error"));
            algs_explain(&c->algs, why, sizeof why);
            conn_fail(c, why);
            return SSH_STEP_FAILED;
        }
        if (hostkey_verify(c->session, &c->p, c->err, sizeof c->err) != 0) {
            conn_fail(c, c->err);
            return SSH_STEP_FAILED;
        }
        c->state = C_AUTH;
        c->auth = auth_new(&c->p, on_auth_answer, c);
#ifdef LIBSSH2_HAVE_CHANNEL_OPEN_AHEAD
        /* Publickey auth pauses right after its signed request, so the open follows it even
           when the server's answer is already there (loopback, a busy client). */
        if (may_open_ahead(c)) libssh2_session_flag(c->session, LIBSSH2_FLAG_PUBKEY_PAUSE_SIGNED, 1);
#endif
    }
    if (c->state == C_AUTH && !c->authed) {
        char err[600] = "";
        int r = auth_step(c->auth, c->session, err, sizeof err);
        if (r == LIBSSH2_ERROR_EAGAIN) {
            open_ahead(c);
            return SSH_STEP_AGAIN;
        }
        if (r == AUTH_ASKING) {
            /* Waiting for the user, not the server: the socket is only watched for the
               server closing (on_poll), and the connect deadline still runs. */
            c->connect_op.idle = 1;
            return SSH_STEP_WAITING;
        }
        if (r) {
            char why[1100];
            if (c->server_said[0])
                snprintf(why, sizeof why, "authentication to %s failed: the server disconnected: \"%s\"%s. %s",
                         c->p.display, c->server_said,
                         strstr(c->server_said, "Too many authentication failures")
                             ? " (sshd's MaxAuthTries counts every key offered: name the one to use with "
                               "key = ... or IdentityFile)" : "", err);
            else
                snprintf(why, sizeof why, "authentication to %s failed: %s", c->p.display, err);
            conn_fail(c, why);
            return SSH_STEP_FAILED;
        }
        c->authed = 1;
#ifdef LIBSSH2_HAVE_CHANNEL_OPEN_AHEAD
        libssh2_session_flag(c->session, LIBSSH2_FLAG_PUBKEY_PAUSE_SIGNED, 0);
#endif
        if (c->open_ahead == AHEAD_SENT)
            c->open_ahead = auth_followed_accepted(c->auth) ? AHEAD_COMPLETING : AHEAD_FORGETTING;
        auth_free(c->auth);
        c->auth = NULL;
    }
    if (c->state == C_AUTH) {
        int r = settle_open_ahead(c);
        if (r == LIBSSH2_ERROR_EAGAIN) return SSH_STEP_AGAIN;
        if (r) {
            /* e.g. sshd's post-auth process exited (a ChrootDirectory it refuses): its log says why */
            char why[600];
            snprintf(why, sizeof why, "connection to %s closed right after authentication (%s): "
                     "the server ended it (its log may say why)", c->p.display,
                     c->last_sock_errno ? strerror(c->last_sock_errno) : "end of stream");
            conn_fail(c, why);
            return SSH_STEP_FAILED;
        }
        c->state = C_READY;
        ssh_trim_block(c->session);     /* an idle connection keeps only the pages it uses */
        uv_timer_stop(&c->timer);
        if (c->p.keepalive > 0) {
            /* want_reply=1: the replies are what tell a live server from a dead one (libssh2
               queues them unread: a few bytes per silent interval). */
            libssh2_keepalive_config(c->session, 1, (unsigned)c->p.keepalive);
            c->last_rx = uv_now(sched_loop());
            loop_timer_start(&c->keepalive, on_keepalive, (uint64_t)c->p.keepalive * 1000,
                           (uint64_t)c->p.keepalive * 1000);
            uv_unref((uv_handle_t *)&c->keepalive);
        }
        conn_wake_waiter(c);
        conn_start_queued(c);
    }
    return SSH_STEP_DONE;
}

static const struct op_stage connect_stages[] = {{"handshake", connect_step}};
static const struct ssh_op_type connect_type = {.name = "connect", .stages = connect_stages};

static void start_handshake(struct conn *c)
{
    c->session = libssh2_session_init_ex(NULL, NULL, NULL, c);   /* malloc: see ssh_alloc.h */
    if (!c->session) { conn_fail(c, "cannot create an SSH session (out of memory)"); return; }
    libssh2_session_set_blocking(c->session, 0);
#if LIBSSH2_VERSION_NUM >= 0x010b01
    libssh2_session_callback_set2(c->session, LIBSSH2_CALLBACK_RECV, (libssh2_cb_generic *)counting_recv);
    libssh2_session_callback_set2(c->session, LIBSSH2_CALLBACK_SEND, (libssh2_cb_generic *)noting_send);
    libssh2_session_callback_set2(c->session, LIBSSH2_CALLBACK_IGNORE, (libssh2_cb_generic *)on_ignore);
    libssh2_session_callback_set2(c->session, LIBSSH2_CALLBACK_DISCONNECT, (libssh2_cb_generic *)on_disconnect);
#else
    libssh2_session_callback_set(c->session, LIBSSH2_CALLBACK_RECV, (void *)counting_recv);
    libssh2_session_callback_set(c->session, LIBSSH2_CALLBACK_SEND, (void *)noting_send);
    libssh2_session_callback_set(c->session, LIBSSH2_CALLBACK_IGNORE, (void *)on_ignore);
    libssh2_session_callback_set(c->session, LIBSSH2_CALLBACK_DISCONNECT, (void *)on_disconnect);
#endif
    /* Our algorithm order (ssh_algs.c), or the user's lists; a list with nothing this libssh2
       has fails here, naming it. */
    char alg_err[700];
    if (algs_apply(c->session, &c->p, &c->algs, alg_err, sizeof alg_err) != 0) {
        char msg[900];
        snprintf(msg, sizeof msg, "cannot connect to %s: %s", c->p.display, alg_err);
        conn_fail(c, msg);
        return;
    }
    c->state = C_HANDSHAKE;
    c->quick_ack = 1;
    int r = uv_poll_init_socket(sched_loop(), &c->poll, c->fd);
    if (r != 0) {
        char why[300];
        snprintf(why, sizeof why, "cannot watch the socket for %s: %s", c->p.display, uv_strerror(r));
        conn_fail(c, why);
        return;
    }
    c->poll.data = c;
    c->open_handles++;
#if LIBSSH2_VERSION_NUM >= 0x010b00
    if (c->p.agent_fwd_sock) {
        if (!(c->agent_fwd = agentfwd_start(c, c->p.agent_fwd_sock))) {
            conn_fail(c, "cannot forward the agent (out of memory)");
            return;
        }
#if LIBSSH2_VERSION_NUM >= 0x010b01
        libssh2_session_callback_set2(c->session, LIBSSH2_CALLBACK_AUTHAGENT, (libssh2_cb_generic *)on_agent_channel);
#else
        libssh2_session_callback_set(c->session, LIBSSH2_CALLBACK_AUTHAGENT, (void *)on_agent_channel);
#endif
    }
#endif
    c->connect_op.type = &connect_type;
    c->connect_op.conn = c;
    conn_activate(c, &c->connect_op);
    conn_process(c);
}

static void try_next_address(struct conn *c);

static void on_tcp_connected(uv_poll_t *h, int status, int events)
{
    struct conn *c = h->data;
    int err = 0;
    socklen_t len = sizeof err;
    /* libuv reports POLLERR as UV_EBADF: the real cause is in SO_ERROR. */
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    if (!err && status < 0) err = -status;
    conn_stop_connect_poll(c);
    if (c->state == C_DEAD) return;
    if (err) {
        close(c->fd);
        c->fd = -1;
        c->last_connect_errno = err;
        c->ai_cur = c->ai_cur->ai_next;
        try_next_address(c);
        return;
    }
    start_handshake(c);
}

static void try_next_address(struct conn *c)
{
    for (; c->ai_cur; c->ai_cur = c->ai_cur->ai_next) {
        struct addrinfo *ai = c->ai_cur;
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) { c->last_connect_errno = errno; continue; }
        int one = 1;
        /* Without TCP_NODELAY every command pays Nagle + delayed ACK: ~40 ms. */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (c->p.keepalive > 0) {
            /* A peer that stops acknowledging our keepalives is dead after interval × count. */
            unsigned ms = (unsigned)c->p.keepalive * (unsigned)c->p.keepalive_max * 1000u;
            setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof ms);
        }
        c->fd = fd;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) { start_handshake(c); return; }
        if (errno != EINPROGRESS) {
            c->last_connect_errno = errno;
            close(fd);
            c->fd = -1;
            continue;
        }
        uv_poll_t *h = malloc(sizeof *h);
        int r = h ? uv_poll_init_socket(sched_loop(), h, fd) : UV_ENOMEM;
        if (r != 0) {
            free(h);
            char why[300];
            snprintf(why, sizeof why, "cannot watch the socket for %s: %s", c->p.display, uv_strerror(r));
            conn_fail(c, why);
            return;
        }
        h->data = c;
        c->connect_poll = h;
        c->open_handles++;
        uv_poll_start(h, UV_WRITABLE, on_tcp_connected);
        return;
    }
    char why[400];
    snprintf(why, sizeof why, "cannot connect to %s (%s port %d): %s", c->p.display, c->p.hostname,
             c->p.port, strerror(c->last_connect_errno ? c->last_connect_errno : ECONNREFUSED));
    conn_fail(c, why);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct conn *c = req->data;
    c->open_handles--;          /* the request is over */
    if (c->state == C_DEAD) {   /* timed out or interrupted meanwhile */
        if (res) uv_freeaddrinfo(res);
        conn_maybe_free(c);
        return;
    }
    if (status < 0) {
        char why[400];
        snprintf(why, sizeof why, "cannot resolve host name '%s' (for %s): %s", c->p.hostname,
                 c->p.display, uv_strerror(status));
        conn_fail(c, why);
        return;
    }
    c->ai_list = c->ai_cur = res;
    c->state = C_CONNECTING;
    try_next_address(c);
}

static void on_deadline(uv_timer_t *t)
{
    struct conn *c = t->data;
    static const char *const stage[] = {"resolving the host name", "connecting",
                                        "in the SSH handshake", "authenticating"};
    char why[400];
    snprintf(why, sizeof why, "timed out after %gs %s (%s)", c->p.timeout,
             c->state <= C_AUTH ? stage[c->state] : "", c->p.display);
    conn_fail(c, why);
}

/* The ProxyCommand ended while the connection still used it. */
static void on_proxy_exit(void *arg, const char *why)
{
    struct conn *c = arg;
    char msg[900];
    c->proxy = NULL;                     /* it frees itself */
    if (c->state < C_READY)
        snprintf(msg, sizeof msg, "cannot connect to %s: %s before the SSH connection was up", c->p.display, why);
    else
        snprintf(msg, sizeof msg, "connection to %s lost: %s", c->p.display, why);
    conn_fail(c, msg);
}

struct conn *conn_start(struct ssh_params *p, int transport_fd, struct sched_waiter *w)
{
    static int libssh2_ready;
    if (!libssh2_ready) {                 /* OpenSSL's set-up costs ~1 ms: only when needed */
        libssh2_init(0);
        libssh2_ready = 1;
    }
    struct conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->p = *p;
    memset(p, 0, sizeof *p);            /* the connection owns the strings now */
    c->fd = -1;
    c->refs = 1;
    c->connect_waiter = w;
    conn_register(c);

    uv_timer_init(sched_loop(), &c->timer);
    uv_timer_init(sched_loop(), &c->keepalive);
    uv_idle_init(sched_loop(), &c->kick);
    c->timer.data = c->keepalive.data = c->kick.data = c;
    c->open_handles += 3;
    if (c->p.timeout > 0) loop_timer_start(&c->timer, on_deadline, (uint64_t)(c->p.timeout * 1000), 0);

    if (transport_fd < 0 && c->p.proxy_command) {
        transport_fd = proxy_start(c->p.proxy_command, on_proxy_exit, c, &c->proxy);
        if (transport_fd < 0) {
            char why[700];
            snprintf(why, sizeof why, "cannot connect to %s: cannot start ProxyCommand '%.400s': %s",
                     c->p.display, c->p.proxy_command, strerror(errno));
            conn_fail(c, why);
            return c;
        }
    }
    if (transport_fd >= 0) {
        c->fd = transport_fd;
        start_handshake(c);
        return c;
    }
    char port[16];
    snprintf(port, sizeof port, "%d", c->p.port);
    /* A numeric address needs no DNS: resolve it here (AI_NUMERICHOST never blocks) and
       skip the thread pool. */
    struct addrinfo numeric = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                               .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    if (getaddrinfo(c->p.hostname, port, &numeric, &res) == 0) {
        c->ai_list = c->ai_cur = res;
        c->state = C_CONNECTING;
        try_next_address(c);
        return c;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_ADDRCONFIG};
    c->gai.data = c;
    c->state = C_RESOLVING;
    c->open_handles++;
    int r = uv_getaddrinfo(sched_loop(), &c->gai, on_resolved, c->p.hostname, port, &hints);
    if (r) {
        c->open_handles--;
        char why[400];
        snprintf(why, sizeof why, "cannot resolve host name '%s': %s", c->p.hostname, uv_strerror(r));
        conn_fail(c, why);
    }
    return c;
}
