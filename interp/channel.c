/* A remote command as a state machine on its connection: open a channel, (pty), exec,
   write stdin + EOF while draining stdout and stderr together, close, read the exit status.
   Each stage retries its libssh2 call with the same arguments after EAGAIN. */
#include "channel.h"
#include "ssh.h"
#include "cmdout.h"
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXEC_MT "sshs.remoteop"
/* A large window lets bulk output stream at full speed (throughput <= window / RTT). */
#define CHANNEL_WINDOW (16u * 1024 * 1024)
#define CHANNEL_PACKET 32768

enum stage { S_OPEN, S_PTY, S_EXEC, S_IO, S_CLOSE, S_WAIT_CLOSED, S_FREE, S_DONE };

struct exec_op {
    struct ssh_op op;
    struct sched_waiter w;
    struct conn *conn;               /* retained while the op lives */
    LIBSSH2_CHANNEL *ch;
    enum stage stage;
    char *cmd;
    char *in_data;
    size_t in_len, in_off;
    int eof_sent, pty, got_eof;
    int opening;                     /* inside libssh2_channel_open_ex (holds the open right) */
    struct cmdout co;
    int exitcode, has_exit;
    char signal[32];
    int timed_out, timeout_pending;
    uv_timer_t timer;
    int timer_open;
    char error[700];                 /* the connection failed under us */
    uint64_t t_start, t_end;
    int done, lua_owned;
};

static void exec_free(struct exec_op *e)
{
    cmdout_free(&e->co);
    free(e->cmd);
    free(e->in_data);
    if (e->conn) conn_release(e->conn);
    free(e);
}

static void timer_closed(uv_handle_t *h)
{
    struct exec_op *e = h->data;
    e->timer_open = 0;
    if (!e->lua_owned) exec_free(e);
}

/* The op is over (finished, or its connection died): stop the timer, wake the waiter. */
static void complete(struct exec_op *e)
{
    e->done = 1;
    e->stage = S_DONE;
    e->t_end = uv_hrtime();
    cmdout_finish(&e->co);
    if (e->timer_open && !uv_is_closing((uv_handle_t *)&e->timer))
        uv_close((uv_handle_t *)&e->timer, timer_closed);
    sched_wake(&e->w);
}

static int last_errno(struct exec_op *e)
{
    return libssh2_session_last_errno(conn_session(e->conn));
}

static void record_error(struct exec_op *e, const char *what, int rc)
{
    char *msg = NULL;
    libssh2_session_last_error(conn_session(e->conn), &msg, NULL, 0);
    snprintf(e->error, sizeof e->error, "%s on %s failed: %s (%d)", what, conn_display(e->conn),
             msg && *msg ? msg : "libssh2 error", rc);
}

/* Reads everything buffered for both streams. Returns EAGAIN when both are drained for now,
   0 at EOF, or a libssh2 error. */
static int drain(struct exec_op *e)
{
    char tmp[65536];
    for (int stream = 0; stream <= 1; stream++) {
        for (;;) {
            ssize_t n = libssh2_channel_read_ex(e->ch, stream, tmp, sizeof tmp);
            if (n > 0) {
                cmdout_data(&e->co, stream, tmp, (size_t)n, &e->w);
                e->op.progress = 1;
                continue;
            }
            if (n == LIBSSH2_ERROR_EAGAIN) break;
            if (n < 0) return (int)n;
            break;                                   /* 0: nothing more on this stream */
        }
    }
    return libssh2_channel_eof(e->ch) ? 0 : LIBSSH2_ERROR_EAGAIN;
}

static int exec_step(struct ssh_op *op)
{
    struct exec_op *e = (struct exec_op *)op;
    LIBSSH2_SESSION *s = conn_session(e->conn);
    int r;
    /* A timeout never abandons a libssh2 call half-way: mid-open or mid-send it waits. */
    if (e->timeout_pending && e->stage < S_CLOSE && !e->opening && !conn_is_owner(e->conn, op)) {
        e->timeout_pending = 0;
        e->timed_out = 1;
        /* Closing the channel is all libssh2 1.10 offers: with a pty the command gets SIGHUP. */
        e->stage = e->ch ? S_CLOSE : S_DONE;
        if (!e->ch) { complete(e); return 0; }
    }
    switch (e->stage) {
    case S_OPEN:
        if (!e->opening) {
            int wait;
            e->ch = conn_take_spare(e->conn, op, &wait);
            if (!e->ch) {
                /* wait for the channel being opened ahead, or for another op's open to end */
                if (wait || !conn_open_begin(e->conn, op)) return SSH_OP_WAITING;
                e->opening = 1;
            }
        }
        if (e->opening) {
            e->ch = libssh2_channel_open_ex(s, "session", 7, CHANNEL_WINDOW, CHANNEL_PACKET, NULL, 0);
            if (!e->ch && last_errno(e) == LIBSSH2_ERROR_EAGAIN) return LIBSSH2_ERROR_EAGAIN;
            e->opening = 0;
            conn_open_end(e->conn, op);
            e->op.progress = 1;
        }
        if (!e->ch) {
            r = last_errno(e);
            if (r == LIBSSH2_ERROR_CHANNEL_FAILURE) {
                conn_channel_refused(e->conn, op);   /* over MaxSessions: wait for a free slot */
                return SSH_OP_REQUEUED;
            }
            record_error(e, "opening a channel", r);
            complete(e);
            return r;
        }
        e->stage = e->pty ? S_PTY : S_EXEC;
        /* fall through */
    case S_PTY:
        if (e->stage == S_PTY) {
            r = libssh2_channel_request_pty_ex(e->ch, "xterm", 5, NULL, 0, 200, 50, 0, 0);
            if (r == LIBSSH2_ERROR_EAGAIN) return r;
            if (r) { record_error(e, "requesting a pty", r); e->stage = S_CLOSE; return LIBSSH2_ERROR_EAGAIN; }
            e->stage = S_EXEC;
        }
        /* fall through */
    case S_EXEC:
        r = libssh2_channel_process_startup(e->ch, "exec", 4, e->cmd, (unsigned)strlen(e->cmd));
        if (r == LIBSSH2_ERROR_EAGAIN) return r;
        if (r) { record_error(e, "starting the command", r); e->stage = S_CLOSE; return LIBSSH2_ERROR_EAGAIN; }
        e->stage = S_IO;
        e->op.progress = 1;
        /* fall through */
    case S_IO:
        while (e->in_off < e->in_len) {
            ssize_t n = libssh2_channel_write(e->ch, e->in_data + e->in_off, e->in_len - e->in_off);
            if (n == LIBSSH2_ERROR_EAGAIN) return (int)n;   /* half-sent: nothing else may send */
            if (n < 0) { e->in_off = e->in_len; break; }     /* the command closed its stdin */
            e->in_off += (size_t)n;
            e->op.progress = 1;
        }
        if (!e->eof_sent) {
            r = libssh2_channel_send_eof(e->ch);
            if (r == LIBSSH2_ERROR_EAGAIN) return r;
            e->eof_sent = 1;
        }
        r = drain(e);
        if (r == LIBSSH2_ERROR_EAGAIN) return r;
        if (r < 0) return r;                                 /* transport: the connection fails */
        e->stage = S_CLOSE;
        /* fall through */
    case S_CLOSE:
        r = libssh2_channel_close(e->ch);
        if (r == LIBSSH2_ERROR_EAGAIN) return r;
        e->stage = S_WAIT_CLOSED;
        /* fall through */
    case S_WAIT_CLOSED:
        if (!e->timed_out) {
            r = drain(e);                                    /* late stderr after EOF */
            if (r < 0 && r != LIBSSH2_ERROR_EAGAIN) return r;
        }
        r = libssh2_channel_wait_closed(e->ch);
        if (r == LIBSSH2_ERROR_EAGAIN) return r;
        if (!e->timed_out && !e->error[0]) {
            char *sig = NULL;
            size_t siglen = 0;
            libssh2_channel_get_exit_signal(e->ch, &sig, &siglen, NULL, NULL, NULL, NULL);
            if (sig && siglen) {
                snprintf(e->signal, sizeof e->signal, "%.*s", (int)siglen, sig);
            } else {
                e->exitcode = libssh2_channel_get_exit_status(e->ch);
                e->has_exit = 1;
            }
            free(sig);
        }
        e->stage = S_FREE;
        /* fall through */
    case S_FREE:
        r = libssh2_channel_free(e->ch);
        if (r == LIBSSH2_ERROR_EAGAIN) return r;
        e->ch = NULL;
        complete(e);
        conn_command_done(e->conn);
        return 0;
    case S_DONE:
        return 0;
    }
    return 0;
}

static void exec_abort(struct ssh_op *op, const char *why)
{
    struct exec_op *e = (struct exec_op *)op;
    e->ch = NULL;                         /* freed with the session */
    if (!e->error[0]) snprintf(e->error, sizeof e->error, "%s", why);
    if (!e->done) complete(e);
}

static const struct ssh_op_type exec_type = {exec_step, exec_abort, 1};

static void on_timeout(uv_timer_t *t)
{
    struct exec_op *e = t->data;
    if (e->done) return;
    e->timeout_pending = 1;
    if (!e->op.active) {                  /* still queued for a channel: nothing to close */
        conn_remove_op(e->conn, &e->op);
        e->timed_out = 1;
        complete(e);
        return;
    }
    conn_kick(e->conn);
}

static struct exec_op *check_exec(lua_State *L)
{
    struct exec_op **ud = luaL_checkudata(L, 1, EXEC_MT);
    if (!*ud) luaL_error(L, "command object already released");
    return *ud;
}

static int exec_wait_k(lua_State *L, int status, lua_KContext ctx)
{
    struct exec_op *e = check_exec(L);
    int n = cmdout_next_event(L, &e->co, e->done);
    if (n) {
        if (e->done && e->error[0] && n == 1) {
            if (sched_interrupted) sched_check_interrupt(L);
            lua_pushstring(L, e->error);      /* no position: the runtime names the user's line */
            return lua_error(L);
        }
        return n;
    }
    return sched_wait(L, &e->w, exec_wait_k, 0);
}

static int exec_wait(lua_State *L) { return exec_wait_k(L, LUA_OK, 0); }

static int exec_result(lua_State *L)
{
    struct exec_op *e = check_exec(L);
    if (!e->done) return luaL_error(L, "command still running");
    cmdout_push_result(L, &e->co, (double)(e->t_end - e->t_start) / 1e9);
    if (e->has_exit) { lua_pushinteger(L, e->exitcode); lua_setfield(L, -2, "exitcode"); }
    if (e->signal[0]) { lua_pushstring(L, e->signal); lua_setfield(L, -2, "signal"); }
    if (e->timed_out) {
        lua_pushboolean(L, 1); lua_setfield(L, -2, "timed_out");
        if (!e->signal[0]) { lua_pushliteral(L, "HUP"); lua_setfield(L, -2, "signal"); }
    }
    return 1;
}

/* __gc / __close: an abandoned command's channel is closed (as a timeout would). */
static int exec_gc(lua_State *L)
{
    struct exec_op **ud = luaL_checkudata(L, 1, EXEC_MT);
    struct exec_op *e = *ud;
    if (!e) return 0;
    *ud = NULL;
    e->lua_owned = 0;
    e->w.thread = NULL;
    e->co.stream = 0;
    if (!e->done) {
        if (!e->op.active) { conn_remove_op(e->conn, &e->op); complete(e); }
        else { e->timeout_pending = 1; conn_kick(e->conn); }
        return 0;                         /* freed when the timer closes after completion */
    }
    if (!e->timer_open) exec_free(e);
    return 0;
}

int channel_lua_exec(lua_State *L, struct conn *c)
{
    const char *cmd = luaL_checkstring(L, 2);
    if (conn_state(c) == C_DEAD) return luaL_error(L, "%s", conn_error(c));
    struct exec_op **ud = lua_newuserdatauv(L, sizeof *ud, 0);
    *ud = NULL;
    luaL_setmetatable(L, EXEC_MT);
    struct exec_op *e = calloc(1, sizeof *e);
    if (!e || !(e->cmd = strdup(cmd))) { free(e); return luaL_error(L, "out of memory"); }
    *ud = e;
    e->lua_owned = 1;
    e->op.type = &exec_type;
    e->conn = c;
    conn_retain(c);
    cmdout_init(L, &e->co, 3);
    double timeout = 0;
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "stdin");
        size_t n;
        const char *in = lua_tolstring(L, -1, &n);
        if (in && n) {
            e->in_data = malloc(n);
            if (e->in_data) { memcpy(e->in_data, in, n); e->in_len = n; }
        }
        lua_getfield(L, 3, "pty");
        e->pty = lua_toboolean(L, -1);
        lua_getfield(L, 3, "timeout");
        timeout = lua_tonumber(L, -1);
        lua_pop(L, 3);
    }
    uv_timer_init(sched_loop(), &e->timer);
    e->timer.data = e;
    e->timer_open = 1;
    if (timeout > 0) uv_timer_start(&e->timer, on_timeout, (uint64_t)(timeout * 1000 + 0.5), 0);
    e->t_start = uv_hrtime();
    conn_add_op(c, &e->op);
    return 1;
}

void channel_init(lua_State *L)
{
    static const luaL_Reg methods[] = {{"wait", exec_wait}, {"result", exec_result}, {NULL, NULL}};
    luaL_newmetatable(L, EXEC_MT);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, exec_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, exec_gc);
    lua_setfield(L, -2, "__close");
    lua_pop(L, 1);
}
