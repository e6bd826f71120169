/* Channel opens and channel requests under the connection's request lock (see ssh_chan.h). */
#include "ssh_chan.h"
#include <stdio.h>
#include <string.h>

void chan_init(struct chan *c, struct ssh_op *op)
{
    /* Field by field: zeroing the message buffers costs more than the rest of a command's
       bookkeeping (they are written only on failure). */
    c->op = op;
    c->ch = NULL;
    c->locked = c->closing = 0;
    c->error[0] = c->reason[0] = 0;
}

int chan_busy(const struct chan *c) { return c->locked; }

static LIBSSH2_SESSION *session_of(struct chan *c) { return conn_session(c->op->conn); }

/* Records a failed call: c->reason gets libssh2's words, c->error the whole sentence. */
static enum ssh_step failed(struct chan *c, const char *what, int rc)
{
    char *msg = NULL;
    libssh2_session_last_error(session_of(c), &msg, NULL, 0);
    snprintf(c->reason, sizeof c->reason, "%s", msg ? msg : "");
    snprintf(c->error, sizeof c->error, "%s on %s failed: %s (%d)", what,
             conn_display(c->op->conn), c->reason[0] ? c->reason : "libssh2 error", rc);
    return conn_step_of(rc) == SSH_STEP_LOST ? SSH_STEP_LOST : SSH_STEP_FAILED;
}

enum ssh_step chan_lock(struct chan *c)
{
    if (!c->locked) {
        if (!conn_request_begin(c->op->conn, c->op)) return SSH_STEP_WAITING;
        c->locked = 1;
    }
    return SSH_STEP_DONE;
}

static void unlock(struct chan *c)
{
    c->locked = 0;
    conn_request_end(c->op->conn, c->op);
    c->op->progress = 1;
}

enum ssh_step chan_opened(struct chan *c, int ok, const char *what)
{
    struct conn *conn = c->op->conn;
    int uses_channel = c->op->type->uses_channel;
    unlock(c);
    if (ok) {
        conn_quick_ack_off(conn);
        if (uses_channel) conn_channel_opened(conn);
        return SSH_STEP_DONE;
    }
    int rc = libssh2_session_last_errno(session_of(c));
    if (rc == LIBSSH2_ERROR_CHANNEL_FAILURE && uses_channel) {
        /* The unused channel opened ahead holds a slot: it goes, and the open is made again
           (chan_lock_open closes it first). */
        if (conn_close_spare(conn)) return SSH_STEP_AGAIN;
        /* Over MaxSessions: wait for a free slot, unless nothing else holds one. */
        if (conn_channel_refused(conn, c->op)) return SSH_STEP_REQUEUED;
        snprintf(c->reason, sizeof c->reason, "refused to open a session channel");
        snprintf(c->error, sizeof c->error, "%s refused to open a session channel "
                 "(its MaxSessions allows none, or no more)", conn_display(conn));
        return SSH_STEP_FAILED;
    }
    return failed(c, what, rc ? rc : LIBSSH2_ERROR_CHANNEL_FAILURE);
}

/* One open attempt: NULL with EAGAIN keeps the lock for the repeat. */
static enum ssh_step open_result(struct chan *c, const char *what)
{
    if (!c->ch && libssh2_session_last_errno(session_of(c)) == LIBSSH2_ERROR_EAGAIN)
        return SSH_STEP_AGAIN;
    return chan_opened(c, c->ch != NULL, what);
}

enum ssh_step chan_lock_open(struct chan *c)
{
    enum ssh_step r = chan_lock(c);
    if (r != SSH_STEP_DONE) return r;
    return conn_spare_closed(c->op->conn);
}

enum ssh_step chan_open_session(struct chan *c, unsigned window)
{
    enum ssh_step r = chan_lock_open(c);
    if (r != SSH_STEP_DONE) return r;
    /* The channel opened with the auth request is the first session op's (its window is
       libssh2's default). */
    if (!window || window == LIBSSH2_CHANNEL_WINDOW_DEFAULT) c->ch = conn_take_spare(c->op->conn);
    if (c->ch) return chan_opened(c, 1, "opening a channel");
    c->ch = libssh2_channel_open_ex(session_of(c), "session", 7,
                                    window ? window : LIBSSH2_CHANNEL_WINDOW_DEFAULT,
                                    LIBSSH2_CHANNEL_PACKET_DEFAULT, NULL, 0);
    return open_result(c, "opening a channel");
}

enum ssh_step chan_open_direct_tcpip(struct chan *c, const char *host, int port,
                                     const char *shost, int sport)
{
    enum ssh_step r = chan_lock(c);
    if (r != SSH_STEP_DONE) return r;
    c->ch = libssh2_channel_direct_tcpip_ex(session_of(c), host, port,
                                            shost ? shost : "127.0.0.1", shost ? sport : 22);
    return open_result(c, "opening a tunnel");
}

/* The end of a request that awaited its reply (rc from libssh2). */
static enum ssh_step request_result(struct chan *c, int rc, const char *what)
{
    if (rc == LIBSSH2_ERROR_EAGAIN) return SSH_STEP_AGAIN;
    unlock(c);
    return rc ? failed(c, what, rc) : SSH_STEP_DONE;
}

enum ssh_step chan_request_pty(struct chan *c, const char *term, int cols, int rows,
                               const char *modes, size_t modes_len)
{
    enum ssh_step r = chan_lock(c);
    if (r != SSH_STEP_DONE) return r;
    if (!term) term = "xterm";
    int rc = libssh2_channel_request_pty_ex(c->ch, term, (unsigned)strlen(term), modes,
                                            (unsigned)modes_len, cols, rows, 0, 0);
    return request_result(c, rc, "requesting a pty");
}

enum ssh_step chan_request_env(struct chan *c, const char *name, const char *value)
{
    enum ssh_step r = chan_lock(c);
    if (r != SSH_STEP_DONE) return r;
    int rc = libssh2_channel_setenv_ex(c->ch, name, (unsigned)strlen(name), value,
                                       (unsigned)strlen(value));
    return request_result(c, rc, "setting an environment variable");
}

enum ssh_step chan_request_agent(struct chan *c)
{
#if LIBSSH2_VERSION_NUM >= 0x010b00
    enum ssh_step r = chan_lock(c);
    if (r != SSH_STEP_DONE) return r;
    return request_result(c, libssh2_channel_request_auth_agent(c->ch), "requesting agent forwarding");
#else
    snprintf(c->reason, sizeof c->reason, "libssh2 %s cannot forward the agent", LIBSSH2_VERSION);
    snprintf(c->error, sizeof c->error, "%s", c->reason);
    return SSH_STEP_FAILED;
#endif
}

enum ssh_step chan_request(struct chan *c, const char *request, const char *arg)
{
    enum ssh_step r = chan_lock(c);
    if (r != SSH_STEP_DONE) return r;
    int rc = libssh2_channel_process_startup(c->ch, request, (unsigned)strlen(request), arg,
                                             arg ? (unsigned)strlen(arg) : 0);
    const char *what = strcmp(request, "exec") == 0 ? "starting the command"
                     : strcmp(request, "shell") == 0 ? "starting a shell" : "starting a subsystem";
    return request_result(c, rc, what);
}

enum ssh_step chan_pty_size(struct chan *c, int cols, int rows)
{
    int rc = libssh2_channel_request_pty_size_ex(c->ch, cols, rows, 0, 0);
    if (rc == LIBSSH2_ERROR_EAGAIN) return SSH_STEP_AGAIN;
    c->op->progress = 1;
    return rc ? failed(c, "resizing the pty", rc) : SSH_STEP_DONE;
}

enum ssh_step chan_signal(struct chan *c, const char *name)
{
#if LIBSSH2_VERSION_NUM >= 0x010b00
    int rc = libssh2_channel_signal_ex(c->ch, name, strlen(name));
    if (rc == LIBSSH2_ERROR_EAGAIN) return SSH_STEP_AGAIN;
    c->op->progress = 1;
    return rc ? failed(c, "sending a signal", rc) : SSH_STEP_DONE;
#else
    (void)name;
    snprintf(c->error, sizeof c->error, "libssh2 %s cannot send channel signals", LIBSSH2_VERSION);
    return SSH_STEP_FAILED;
#endif
}

enum ssh_step chan_send_close(struct chan *c)
{
    if (!c->ch || c->closing) return SSH_STEP_DONE;
    if (libssh2_channel_close(c->ch) == LIBSSH2_ERROR_EAGAIN) return SSH_STEP_AGAIN;
    c->closing = 1;
    return SSH_STEP_DONE;
}

enum ssh_step chan_wait_closed(struct chan *c)
{
    enum ssh_step r = chan_send_close(c);
    if (r != SSH_STEP_DONE || !c->ch || c->closing == 2) return r;
    if (libssh2_channel_wait_closed(c->ch) == LIBSSH2_ERROR_EAGAIN) return SSH_STEP_AGAIN;
    c->closing = 2;
    return SSH_STEP_DONE;
}

enum ssh_step chan_close(struct chan *c)
{
    enum ssh_step r = chan_send_close(c);
    if (r != SSH_STEP_DONE || !c->ch) return r;
    if (libssh2_channel_free(c->ch) == LIBSSH2_ERROR_EAGAIN) return SSH_STEP_AGAIN;
    c->ch = NULL;
    c->closing = 0;
    return SSH_STEP_DONE;
}

void chan_forget(struct chan *c)
{
    c->ch = NULL;               /* freed with the session */
    c->locked = 0;              /* the connection dropped its lock holder too */
}
