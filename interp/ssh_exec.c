/* A remote command as a state machine on its connection: open a channel, (pty), exec,
   write stdin + EOF while draining stdout and stderr together, close, read the exit status.
   One function per stage (the table `stages`); each retries its libssh2 call with the same
   arguments after EAGAIN. */
#include "ssh_exec.h"
#include "ssh_chan.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A large window lets bulk output stream at full speed (throughput <= window / RTT). */
#define CHANNEL_WINDOW (16u * 1024 * 1024)

/* The stages in order; a stage function either returns a step result for the connection, or
   moves the op to a later stage and returns SSH_STEP_DONE to run that one at once. */
enum stage { S_OPEN, S_PTY, S_EXEC, S_IO, S_CLOSE, S_WAIT_CLOSED, S_FREE, S_DONE };

/* Stopping a running command (timeout, Ctrl-C, abandoned). libssh2 1.10 has no
   channel_signal and refuses a second request of that kind on a channel, and closing a
   channel without a pty leaves the command running. So a command (without pty) first
   reports its login shell's pid on stderr ("\036PID\036", stripped again here); sshd
   makes that shell a session leader, so `kill -TERM -PID` on a second channel stops the
   whole command. TERM first, KILL a second later, then the channel is closed regardless.
   With libssh2 >= 1.11 and a server that acts on "signal" requests (OpenSSH: killpg of the
   command's process group) the signals go as channel requests instead; the marker stays, so
   the KILL step also runs the kill on a second channel should the server have ignored them. */
enum stop { STOP_NONE, STOP_TERM_SENT, STOP_KILL_SENT, STOP_CLOSE };
#define PID_MARK '\036'
#define KILL_AFTER_MS 1000
#define GIVE_UP_AFTER_MS 3000

struct exec_op {
    struct command cmd;              /* first: what the Lua object sees */
    struct ssh_op op;
    struct conn *conn;               /* retained while the op lives */
    struct chan chan;
    enum stage stage;
    enum stop stop;
    char *line;                      /* the command line sent */
    char *in_data;
    size_t in_len, in_off;
    int eof_sent, pty;
    int in_hold;                     /* stdin_open: more stdin may come (op:write) */
    int stop_pending;
    double timeout;                  /* seconds; 0: none */
    uv_timer_t timer;                /* the timeout, then the stop escalation */
    int finished;                    /* the connection is done with the op */
    int closing;
    unsigned id;                     /* for SSHS_TRACE lines */
    int internal;                    /* a kill command of ours: no Lua side */
    int want_pid;                    /* stderr starts with the pid marker */
    char pidbuf[24];
    size_t pidlen;
    long remote_pid;
    const char *sig_pending;         /* a signal request to send from the io stage */
    int signalled;                   /* stopping by signal requests (not kill commands) */
    struct exec_op *prev_live, *next_live;   /* unfinished ops, for Ctrl-C and exit */
};

static struct exec_op *live;

static struct exec_op *exec_of(struct ssh_op *op)
{
    return (struct exec_op *)((char *)op - offsetof(struct exec_op, op));
}

static void unlink_live(struct exec_op *e)
{
    if (e->prev_live) e->prev_live->next_live = e->next_live; else if (live == e) live = e->next_live;
    if (e->next_live) e->next_live->prev_live = e->prev_live;
    e->prev_live = e->next_live = NULL;
}

static void exec_free(struct exec_op *e)
{
    cmdout_free(&e->cmd.co);
    free(e->line);
    free(e->in_data);
    if (e->conn) conn_release(e->conn);
    free(e);
}

static void timer_closed(uv_handle_t *h) { exec_free(h->data); }

/* Freed once Lua has let go and the connection is done with it (after the timer closes,
   so never under a running step). */
static void maybe_free(struct exec_op *e)
{
    if (e->cmd.lua_owned || !e->finished || e->closing) return;
    e->closing = 1;
    uv_close((uv_handle_t *)&e->timer, timer_closed);
}

/* The result is ready: wake the waiter. The channel may still be closing behind it. */
static void complete(struct exec_op *e)
{
    if (e->cmd.done) return;
    e->cmd.done = 1;
    e->cmd.t_end = uv_hrtime();
    /* A timed-out command was hung up on, as far as anyone can tell. */
    if (e->cmd.timed_out && !e->cmd.signal[0]) snprintf(e->cmd.signal, sizeof e->cmd.signal, "HUP");
    cmdout_finish(&e->cmd.co);
    sched_wake(&e->cmd.w);
}

/* The connection is done with the op (it returns a final code from step, or was aborted). */
static void finish(struct exec_op *e)
{
    e->stage = S_DONE;
    e->finished = 1;
    unlink_live(e);
    uv_timer_stop(&e->timer);
    complete(e);
    maybe_free(e);
}

/* The channel helper failed: its message becomes the command's error. */
static void take_error(struct exec_op *e)
{
    if (!e->cmd.error[0]) snprintf(e->cmd.error, sizeof e->cmd.error, "%s", e->chan.error);
}

/* Takes the "\036PID\036" marker off the front of stderr; returns how many bytes of p it
   used. Anything unexpected is passed through untouched. */
static size_t take_pid(struct exec_op *e, const char *p, size_t n)
{
    size_t used = 0;
    while (used < n && e->want_pid) {
        char c = p[used];
        if (e->pidlen == 0 && c != PID_MARK) { e->want_pid = 0; break; }
        if (e->pidlen > 0 && c == PID_MARK) {
            e->pidbuf[e->pidlen] = 0;
            e->remote_pid = strtol(e->pidbuf + 1, NULL, 10);
            e->want_pid = 0;
            used++;
            break;
        }
        if (e->pidlen > 0 && (c < '0' || c > '9' || e->pidlen + 2 >= sizeof e->pidbuf)) {
            e->want_pid = 0;             /* not our marker after all */
            break;
        }
        e->pidbuf[e->pidlen++] = c;
        used++;
    }
    return used;
}

/* At most this much is read per step: a sender faster than our decryption never gives us
   EAGAIN, so without a bound one channel would hold the loop (and every other channel,
   timer and host) for as long as it kept sending. The connection steps its ops in turns
   and lets the loop run between slices (ssh_conn.c process()). */
#define DRAIN_SLICE (256u * 1024)

/* Reads what is buffered for both streams, up to DRAIN_SLICE: SSH_STEP_AGAIN when both are
   drained for now or the slice is used up (op.progress set: call again soon), SSH_STEP_WAITING
   when Lua has too much unread, SSH_STEP_DONE at EOF, SSH_STEP_LOST or SSH_STEP_FAILED
   (recorded) on an error. */
static enum ssh_step drain(struct exec_op *e)
{
    char tmp[65536];
    size_t budget = DRAIN_SLICE;
    for (int stream = 0; stream <= 1; stream++) {
        for (;;) {
            if (budget == 0) return SSH_STEP_AGAIN;    /* a full slice: the rest next turn */
            if (cmdout_backlogged(&e->cmd.co)) {   /* unread by Lua: the window throttles the server */
                e->cmd.paused = 1;
                return SSH_STEP_WAITING;
            }
            ssize_t n = libssh2_channel_read_ex(e->chan.ch, stream, tmp, sizeof tmp);
            if (n > 0) {
                size_t skip = stream == 1 && e->want_pid ? take_pid(e, tmp, (size_t)n) : 0;
                if ((size_t)n > skip && cmdout_data(&e->cmd.co, stream, tmp + skip, (size_t)n - skip, &e->cmd.w))
                    e->stop_pending = 1;             /* past max_output: stop it (step's top) */
                e->op.progress = 1;
                budget = (size_t)n < budget ? budget - (size_t)n : 0;
                continue;
            }
            if (n == LIBSSH2_ERROR_EAGAIN) break;
            if (n < 0) {
                enum ssh_step r = conn_step_of((int)n);
                if (r == SSH_STEP_FAILED && !e->cmd.error[0])
                    snprintf(e->cmd.error, sizeof e->cmd.error, "reading the output of a command on %s "
                             "failed (%d)", conn_display(e->conn), (int)n);
                return r;
            }
            break;                                   /* 0: nothing more on this stream */
        }
    }
    return libssh2_channel_eof(e->chan.ch) ? SSH_STEP_DONE : SSH_STEP_AGAIN;
}

static struct exec_op *exec_start(struct conn *c, const char *cmd, int internal);

/* Runs `kill -SIG -PID` on a new channel of the same connection (no "--": dash's kill
   rejects it, and a negative number after the signal is a process group in every shell).
   Where the shell is not a group leader (Dropbear starts it inside its own root-owned
   session process) that fails: then the shell's children and the shell itself. */
static void send_kill(struct exec_op *e, const char *sig)
{
    char cmd[200];
    snprintf(cmd, sizeof cmd, "kill -%s -%ld 2>/dev/null || { pkill -%s -P %ld; kill -%s %ld; } 2>/dev/null",
             sig, e->remote_pid, sig, e->remote_pid, sig, e->remote_pid);
    exec_start(e->conn, cmd, 1);
}

static void on_stop_timer(uv_timer_t *t)
{
    struct exec_op *e = t->data;
    if (e->finished) return;
    if (e->stop == STOP_TERM_SENT) {
        e->stop = STOP_KILL_SENT;
        if (e->signalled) { e->sig_pending = "KILL"; conn_kick(e->conn); }
        if (e->remote_pid > 0) send_kill(e, "KILL");
        uv_timer_start(&e->timer, on_stop_timer, GIVE_UP_AFTER_MS, 0);
        return;
    }
    e->stop = STOP_CLOSE;                /* it would not die: close, and stop waiting for it */
    e->stop_pending = 1;
    complete(e);
    conn_kick(e->conn);
}

static enum ssh_step st_open(struct exec_op *e)
{
    enum ssh_step r = chan_open_session(&e->chan, CHANNEL_WINDOW);
    if (r == SSH_STEP_DONE) {
        e->stage = e->pty ? S_PTY : S_EXEC;
    } else if (r == SSH_STEP_FAILED || r == SSH_STEP_LOST) {
        take_error(e);
        finish(e);
    }
    return r;
}

/* pty-req and exec wait for a reply: the helper takes the request lock for them. */
static enum ssh_step st_pty(struct exec_op *e)
{
    enum ssh_step r = chan_request_pty(&e->chan, "xterm", 200, 50, NULL, 0);
    if (r == SSH_STEP_FAILED) { take_error(e); e->stage = S_CLOSE; return SSH_STEP_DONE; }
    if (r == SSH_STEP_DONE) e->stage = S_EXEC;
    else if (r == SSH_STEP_LOST) take_error(e);
    return r;
}

static enum ssh_step st_exec(struct exec_op *e)
{
    enum ssh_step r = chan_request(&e->chan, "exec", e->line);
    if (r == SSH_STEP_FAILED) { take_error(e); e->stage = S_CLOSE; return SSH_STEP_DONE; }
    if (r == SSH_STEP_DONE) e->stage = S_IO;
    else if (r == SSH_STEP_LOST) take_error(e);
    return r;
}

/* stdin out, then EOF, while stdout and stderr are drained; to S_CLOSE at the command's EOF. */
static enum ssh_step st_io(struct exec_op *e)
{
    LIBSSH2_CHANNEL *ch = e->chan.ch;
    if (e->sig_pending) {
        enum ssh_step r = chan_signal(&e->chan, e->sig_pending);
        if (r == SSH_STEP_AGAIN) return r;
        e->sig_pending = NULL;          /* sent, or it failed: the timer escalates anyway */
    }
    while (e->stop == STOP_NONE && e->in_off < e->in_len) {
        ssize_t n = libssh2_channel_write(ch, e->in_data + e->in_off, e->in_len - e->in_off);
        if (n == LIBSSH2_ERROR_EAGAIN) {
            /* Half-sent: nothing else may send until this call gets through. A full window
               instead (the command is not reading yet): read meanwhile. */
            if (libssh2_session_block_directions(conn_session(e->conn)) & LIBSSH2_SESSION_BLOCK_OUTBOUND)
                return SSH_STEP_AGAIN;
            break;
        }
        if (n < 0) { e->in_off = e->in_len; break; }     /* the command closed its stdin */
        e->in_off += (size_t)n;
        e->op.progress = 1;
    }
    if (!e->eof_sent && !e->in_hold && e->in_off >= e->in_len) {
        int r = libssh2_channel_send_eof(ch);
        if (r == LIBSSH2_ERROR_EAGAIN) return SSH_STEP_AGAIN;
        e->eof_sent = 1;
    }
    enum ssh_step r = drain(e);
    if (r == SSH_STEP_AGAIN || r == SSH_STEP_WAITING || r == SSH_STEP_LOST) return r;
    e->in_off = e->in_len;               /* it ended without reading all its stdin */
    e->stage = S_CLOSE;
    return SSH_STEP_DONE;
}

static enum ssh_step st_close(struct exec_op *e)
{
    enum ssh_step r = chan_send_close(&e->chan);
    if (r == SSH_STEP_DONE) e->stage = S_WAIT_CLOSED;
    return r;
}

/* The server's close: then the exit status (or signal) is final. */
static enum ssh_step st_wait_closed(struct exec_op *e)
{
    if (e->stop != STOP_CLOSE) {
        enum ssh_step r = drain(e);                  /* late stderr after EOF */
        if (r == SSH_STEP_WAITING || r == SSH_STEP_LOST) return r;
    }
    enum ssh_step r = chan_wait_closed(&e->chan);
    if (r != SSH_STEP_DONE) return r;
    if (!e->cmd.done && !e->cmd.error[0]) {
        char *sig = NULL;
        size_t siglen = 0;
        libssh2_channel_get_exit_signal(e->chan.ch, &sig, &siglen, NULL, NULL, NULL, NULL);
        if (sig && siglen) {
            snprintf(e->cmd.signal, sizeof e->cmd.signal, "%.*s", (int)siglen, sig);
        } else if (e->stop == STOP_NONE) {
            e->cmd.exitcode = libssh2_channel_get_exit_status(e->chan.ch);
            e->cmd.has_exit = 1;
        }
        if (sig) libssh2_free(conn_session(e->conn), sig);
    }
    e->stage = S_FREE;
    return SSH_STEP_DONE;
}

static enum ssh_step st_free(struct exec_op *e)
{
    enum ssh_step r = chan_close(&e->chan);
    if (r == SSH_STEP_DONE) finish(e);
    return r;
}

static enum ssh_step st_done(struct exec_op *e) { return SSH_STEP_DONE; }

static const struct {
    const char *name;
    enum ssh_step (*run)(struct exec_op *e);
} stages[] = {
    [S_OPEN] = {"open", st_open},          [S_PTY] = {"pty", st_pty},
    [S_EXEC] = {"exec", st_exec},          [S_IO] = {"io", st_io},
    [S_CLOSE] = {"close", st_close},       [S_WAIT_CLOSED] = {"wait-closed", st_wait_closed},
    [S_FREE] = {"free", st_free},          [S_DONE] = {"done", st_done},
};

/* A stop request (timeout, Ctrl-C, abandoned) acts between calls, never half-way through one:
   mid-open, mid-request or mid-send it waits. */
static void apply_stop(struct exec_op *e)
{
    if (!e->stop_pending || chan_busy(&e->chan) || conn_is_owner(e->conn, &e->op)) return;
    e->stop_pending = 0;
    if (e->stage < S_IO) {
        if (!e->chan.ch) { finish(e); return; }
        e->stage = S_CLOSE;              /* opened, nothing started: just close */
    } else if (e->stage == S_IO && e->stop == STOP_NONE && conn_signals_work(e->conn)) {
        e->stop = STOP_TERM_SENT;        /* a signal request; keep draining meanwhile */
        e->signalled = 1;
        e->sig_pending = "TERM";
        uv_timer_start(&e->timer, on_stop_timer, KILL_AFTER_MS, 0);
    } else if (e->stage == S_IO && e->stop == STOP_NONE && e->remote_pid > 0) {
        e->stop = STOP_TERM_SENT;        /* keep draining while the kill does its work */
        send_kill(e, "TERM");
        uv_timer_start(&e->timer, on_stop_timer, KILL_AFTER_MS, 0);
    } else if (e->stage == S_IO) {
        e->stop = STOP_CLOSE;            /* no pid (pty, or not reported yet): close */
        e->stage = S_CLOSE;
        complete(e);
    }
}

static void trace(struct exec_op *e, enum stage from, enum stage to)
{
    conn_trace(e->conn, e->internal ? "kill" : "exec", e->id, stages[from].name, stages[to].name);
}

static enum ssh_step exec_step(struct ssh_op *op)
{
    struct exec_op *e = exec_of(op);
    enum stage at = e->stage;
    enum ssh_step r;
    apply_stop(e);
    for (;;) {
        enum stage s = e->stage;
        trace(e, at, s);
        at = s;
        r = stages[s].run(e);
        if (r != SSH_STEP_DONE || e->stage == S_DONE || e->stage == s) break;
    }
    trace(e, at, e->stage);
    return r;
}

static void exec_abort(struct ssh_op *op, const char *why)
{
    struct exec_op *e = exec_of(op);
    chan_forget(&e->chan);
    if (!e->cmd.done && !e->cmd.error[0]) snprintf(e->cmd.error, sizeof e->cmd.error, "%s", why);
    finish(e);
}

static const struct ssh_op_type exec_type = {
    .name = "exec", .step = exec_step, .abort = exec_abort, .uses_channel = 1};

/* Timeout, Ctrl-C or an abandoned op: stop the command (see enum stop). */
static void request_stop(struct exec_op *e)
{
    if (e->finished || e->stop != STOP_NONE || e->internal) return;
    if (!e->op.active) {                  /* still queued for a channel: nothing to stop */
        conn_remove_op(e->conn, &e->op);
        finish(e);
        return;
    }
    e->stop_pending = 1;
    conn_kick(e->conn);
}

static void on_timeout(uv_timer_t *t)
{
    struct exec_op *e = t->data;
    if (e->cmd.done) return;
    uint64_t wait = cmdout_due(&e->cmd.co);     /* output since: the idle deadline moved on */
    if (wait) { uv_timer_start(&e->timer, on_timeout, wait, 0); return; }
    e->cmd.timed_out = 1;
    request_stop(e);
}

static void exec_resume(struct command *c)
{
    conn_kick(((struct exec_op *)c)->conn);
}

/* The Lua object let go: an abandoned command is stopped (as a timeout would). */
static void exec_release(struct command *c)
{
    struct exec_op *e = (struct exec_op *)c;
    e->cmd.co.echo = 0;
    if (e->cmd.paused) { e->cmd.paused = 0; conn_kick(e->conn); }
    request_stop(e);
    maybe_free(e);
}

/* op:write(): more stdin (see exec_opts.in_open); the IO stage sends it. */
static void exec_write(struct command *c, const char *p, size_t n, int eof)
{
    struct exec_op *e = (struct exec_op *)c;
    if (e->eof_sent || e->finished) return;
    size_t left = e->in_len - e->in_off;
    char *d = malloc(left + n + 1);
    if (!d) return;
    if (left) memcpy(d, e->in_data + e->in_off, left);
    if (n) memcpy(d + left, p, n);
    free(e->in_data);
    e->in_data = d;
    e->in_len = left + n;
    e->in_off = 0;
    if (eof) e->in_hold = 0;
    conn_kick(e->conn);
}

static const struct command_type remote_type = {
    .name = "remote", .resume = exec_resume, .release = exec_release, .write = exec_write};

/* A new exec op for line on c, not yet queued. */
static struct exec_op *exec_alloc(struct conn *c, const char *line, int internal)
{
    struct exec_op *e = calloc(1, sizeof *e);
    if (!e || !(e->line = strdup(line))) { free(e); return NULL; }
    static unsigned next_id;
    e->id = ++next_id;
    e->cmd.type = &remote_type;
    /* No capture file yet: an internal op (the stop channel) never passes cmdout_init, and
       calloc's fd 0 would make cmdout_free close whatever fd 0 is by then (stdin, or a new
       connection's socket: it stalled in its handshake). */
    e->cmd.co.big[0].fd = e->cmd.co.big[1].fd = -1;
    e->op.type = &exec_type;
    chan_init(&e->chan, &e->op);
    e->conn = c;
    e->internal = internal;
    e->cmd.lua_owned = !internal;
    conn_retain(c);
    uv_timer_init(sched_loop(), &e->timer);
    e->timer.data = e;
    return e;
}

/* Queues e on its connection (it may start at once: set everything first). */
static void queue(struct exec_op *e)
{
    e->cmd.t_start = uv_hrtime();
    e->next_live = live;
    if (live) live->prev_live = e;
    live = e;
    conn_add_op(e->conn, &e->op);
}

/* Internal ops (our kill commands) have no Lua side and free themselves when done. */
static struct exec_op *exec_start(struct conn *c, const char *line, int internal)
{
    struct exec_op *e = exec_alloc(c, line, internal);
    if (e) queue(e);
    return e;
}

struct command *exec_new(struct conn *c, const char *line, const struct exec_opts *o)
{
    /* The pid marker (see enum stop) goes first; a pty merges the streams, and closing a
       pty's channel hangs the command up anyway. */
    int mark = o->stoppable && !o->pty;
    struct exec_op *e;
    if (mark) {
        static const char marker[] = "printf '\\036%d\\036' \"$$\" >&2; ";
        size_t n = strlen(line);
        char *full = malloc(sizeof marker + n);
        if (!full) return NULL;
        memcpy(full, marker, sizeof marker - 1);
        memcpy(full + sizeof marker - 1, line, n + 1);
        e = exec_alloc(c, full, 0);
        free(full);
    } else {
        e = exec_alloc(c, line, 0);
    }
    if (!e) return NULL;
    e->want_pid = mark;
    e->pty = o->pty;
    e->in_hold = o->in_open;
    if (o->in_len && (e->in_data = malloc(o->in_len))) {
        memcpy(e->in_data, o->in, o->in_len);
        e->in_len = o->in_len;
    }
    e->timeout = o->timeout;
    return &e->cmd;
}

void exec_submit(struct command *c)
{
    struct exec_op *e = (struct exec_op *)c;
    uint64_t first = cmdout_arm(&e->cmd.co, e->timeout);
    if (first) uv_timer_start(&e->timer, on_timeout, first, 0);
    queue(e);
}

void exec_interrupt_all(void)
{
    for (struct exec_op *e = live, *next; e; e = next) {
        next = e->next_live;
        request_stop(e);
    }
}

static int none_live(void) { return live == NULL; }

void exec_shutdown(void)
{
    exec_interrupt_all();
    sched_drain(none_live, 2000);      /* the stop signals reach the servers; bounded */
}
