/* A remote command as a state machine on its connection: open a channel, (agent), (pty), exec,
   write stdin + EOF while draining stdout and stderr together, close, read the exit status.
   One function per stage (the table `stages`); each retries its libssh2 call with the same
   arguments after EAGAIN. */
#include "ssh_exec.h"
#include "ssh_chan.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The channel window: what sshd may send ahead of what we have read (throughput is at most
   window / RTT). Not more than OpenSSH's and paramiko's 2 MiB: whenever it cannot send (we
   fell behind: a slow on_stdout callback, a busy loop), sshd reads the command's output into
   its channel buffer as far as the window allows and then re-copies that whole buffer for
   every 32 KiB it reads more, so with 16 MiB a stream to a slow callback stalled at ~1 MB/s
   until EOF (issue 21; docs/reference/performance.md). */
#define CHANNEL_WINDOW (2u * 1024 * 1024)

/* The stages in order (the table `stages`, which the connection runs: see struct op_stage). */
enum stage { S_OPEN, S_AGENT, S_PTY, S_EXEC, S_IO, S_CLOSE, S_WAIT_CLOSED, S_FREE };

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
    struct ssh_op op;                /* the lifecycle: stage, timer, live list (ssh_op.h) */
    struct chan chan;
    enum stop stop;
    char *line;                      /* the command line sent */
    char *in_data;
    size_t in_len, in_off;
    int eof_sent, pty;
    int in_hold;                     /* stdin_open: more stdin may come (op:write) */
    int stop_pending;
    double timeout;                  /* seconds; 0: none */
    int want_pid;                    /* stderr starts with the pid marker */
    char pidbuf[24];
    size_t pidlen;
    long remote_pid;
    const char *sig_pending;         /* a signal request to send from the io stage */
    int signalled;                   /* stopping by signal requests (not kill commands) */
};

static struct exec_op *exec_of(struct ssh_op *op)
{
    return (struct exec_op *)((char *)op - offsetof(struct exec_op, op));
}

static void exec_free(struct ssh_op *op)
{
    struct exec_op *e = exec_of(op);
    cmdout_free(&e->cmd.co);
    free(e->line);
    free(e->in_data);
    free(e);
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

/* The connection is done with the op (op_finish). */
static void exec_finished(struct ssh_op *op) { complete(exec_of(op)); }

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
        /* Each read first reads the socket until EAGAIN, so after stdout's last one whatever
           stderr has is in libssh2's queue already: when none is, a stderr read would only
           cost a recv that says EAGAIN (two of them per wake-up, with the pass that follows). */
        if (stream == 1 && libssh2_poll_channel_read(e->chan.ch, 1) == 0) break;
        for (;;) {
            if (budget == 0) return SSH_STEP_AGAIN;    /* a full slice: the rest next turn */
            if (cmdout_backlogged(&e->cmd.co)) {   /* unread by Lua: the window throttles the server */
                e->cmd.paused = 1;
                return SSH_STEP_WAITING;
            }
            /* A streamed chunk is read in place; the pid marker, a capture or an echo from tmp. */
            size_t room = 0;
            char *into = stream == 1 && e->want_pid ? NULL : cmdout_stream_space(&e->cmd.co, stream, &room);
            ssize_t n = libssh2_channel_read_ex(e->chan.ch, stream, into ? into : tmp, into ? room : sizeof tmp);
            if (into) cmdout_stream_commit(&e->cmd.co, stream, n > 0 ? (size_t)n : 0, &e->cmd.w);
            if (n > 0 && into) {
                e->op.progress = 1;
                budget = (size_t)n < budget ? budget - (size_t)n : 0;
                continue;
            }
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
                             "failed (%d)", conn_display(e->op.conn), (int)n);
                return r;
            }
            break;                                   /* 0: nothing more on this stream */
        }
    }
    return libssh2_channel_eof(e->chan.ch) ? SSH_STEP_DONE : SSH_STEP_AGAIN;
}

static void exec_start(struct conn *c, const char *cmd, int internal);
static const struct ssh_op_type exec_type;

/* Runs `kill -SIG -PID` on a new channel of the same connection (no "--": dash's kill
   rejects it, and a negative number after the signal is a process group in every shell).
   Where the shell is not a group leader (Dropbear starts it inside its own root-owned
   session process) that fails: then the shell's children and the shell itself. */
static void send_kill(struct exec_op *e, const char *sig)
{
    char cmd[200];
    snprintf(cmd, sizeof cmd, "kill -%s -%ld 2>/dev/null || { pkill -%s -P %ld; kill -%s %ld; } 2>/dev/null",
             sig, e->remote_pid, sig, e->remote_pid, sig, e->remote_pid);
    exec_start(e->op.conn, cmd, 1);
}

static void on_stop_timer(struct ssh_op *op)
{
    struct exec_op *e = exec_of(op);
    if (e->stop == STOP_TERM_SENT) {
        e->stop = STOP_KILL_SENT;
        if (e->signalled) { e->sig_pending = "KILL"; conn_kick(op->conn); }
        if (e->remote_pid > 0) send_kill(e, "KILL");
        op_arm(op, GIVE_UP_AFTER_MS, on_stop_timer);
        return;
    }
    e->stop = STOP_CLOSE;                /* it would not die: close, and stop waiting for it */
    e->stop_pending = 1;
    op->given_up = 1;
    complete(e);
    conn_kick(op->conn);
}

static enum ssh_step st_open(struct ssh_op *op)
{
    struct exec_op *e = exec_of(op);
    enum ssh_step r = chan_open_session(&e->chan, CHANNEL_WINDOW);
    if (r == SSH_STEP_DONE) {
        /* Our kill commands need no agent. */
        int agent = op->type == &exec_type && conn_forwards_agent(op->conn);
        op_set_stage(op, agent ? S_AGENT : e->pty ? S_PTY : S_EXEC);
    } else if (r == SSH_STEP_FAILED || r == SSH_STEP_LOST) {
        take_error(e);
        op_finish(op);
    }
    return r;
}

/* pty-req and exec wait for a reply (the helper takes the request lock for them): done, on
   to `next`; refused, the error is the command's and the channel closes. */
static enum ssh_step requested(struct ssh_op *op, enum ssh_step r, int next)
{
    struct exec_op *e = exec_of(op);
    if (r == SSH_STEP_FAILED) { take_error(e); return op_next(op, S_CLOSE); }
    if (r == SSH_STEP_DONE) return op_next(op, next);
    if (r == SSH_STEP_LOST) take_error(e);
    return r;
}

/* A refusal is a warning (conn_agent_answer): the command runs without the agent, as with ssh. */
static enum ssh_step st_agent(struct ssh_op *op)
{
    struct exec_op *e = exec_of(op);
    enum ssh_step r = chan_request_agent(&e->chan);
    if (r == SSH_STEP_LOST) take_error(e);
    if (r == SSH_STEP_AGAIN || r == SSH_STEP_WAITING || r == SSH_STEP_LOST) return r;
    conn_agent_answer(op->conn, r == SSH_STEP_DONE, e->chan.reason);
    return op_next(op, e->pty ? S_PTY : S_EXEC);
}

static enum ssh_step st_pty(struct ssh_op *op)
{
    return requested(op, chan_request_pty(&exec_of(op)->chan, "xterm", 200, 50, NULL, 0), S_EXEC);
}

static enum ssh_step st_exec(struct ssh_op *op)
{
    struct exec_op *e = exec_of(op);
    return requested(op, chan_request(&e->chan, "exec", e->line), S_IO);
}

/* stdin out, then EOF, while stdout and stderr are drained; to S_CLOSE at the command's EOF. */
static enum ssh_step st_io(struct ssh_op *op)
{
    struct exec_op *e = exec_of(op);
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
            if (libssh2_session_block_directions(conn_session(op->conn)) & LIBSSH2_SESSION_BLOCK_OUTBOUND)
                return SSH_STEP_AGAIN;
            break;
        }
        if (n < 0) { e->in_off = e->in_len; break; }     /* the command closed its stdin */
        e->in_off += (size_t)n;
        op->progress = 1;
    }
    if (!e->eof_sent && !e->in_hold && e->in_off >= e->in_len) {
        int r = libssh2_channel_send_eof(ch);
        if (r == LIBSSH2_ERROR_EAGAIN) return SSH_STEP_AGAIN;
        e->eof_sent = 1;
    }
    enum ssh_step r = drain(e);
    if (r == SSH_STEP_AGAIN || r == SSH_STEP_WAITING || r == SSH_STEP_LOST) return r;
    e->in_off = e->in_len;               /* it ended without reading all its stdin */
    return op_next(op, S_CLOSE);
}

static enum ssh_step st_close(struct ssh_op *op)
{
    enum ssh_step r = chan_send_close(&exec_of(op)->chan);
    if (r == SSH_STEP_DONE) op_set_stage(op, S_WAIT_CLOSED);
    return r;
}

/* The server's close: then the exit status (or signal) is final. */
static enum ssh_step st_wait_closed(struct ssh_op *op)
{
    struct exec_op *e = exec_of(op);
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
        if (sig) libssh2_free(conn_session(op->conn), sig);
    }
    return op_next(op, S_FREE);
}

static enum ssh_step st_free(struct ssh_op *op)
{
    enum ssh_step r = chan_close(&exec_of(op)->chan);
    if (r == SSH_STEP_DONE) op_finish(op);
    return r;
}

static const struct op_stage stages[] = {
    [S_OPEN] = {"open", st_open},          [S_AGENT] = {"agent", st_agent},
    [S_PTY] = {"pty", st_pty},
    [S_EXEC] = {"exec", st_exec},          [S_IO] = {"io", st_io},
    [S_CLOSE] = {"close", st_close},       [S_WAIT_CLOSED] = {"wait-closed", st_wait_closed},
    [S_FREE] = {"free", st_free},
};

/* A stop request (timeout, Ctrl-C, abandoned) acts between calls, never half-way through one:
   mid-open, mid-request or mid-send it waits. */
static void apply_stop(struct ssh_op *op)
{
    struct exec_op *e = exec_of(op);
    if (!e->stop_pending || chan_busy(&e->chan) || conn_is_owner(op->conn, op)) return;
    e->stop_pending = 0;
    if (op->stage < S_IO) {
        if (!e->chan.ch) { op_finish(op); return; }
        op_set_stage(op, S_CLOSE);       /* opened, nothing started: just close */
    } else if (op->stage == S_IO && e->stop == STOP_NONE && conn_signals_work(op->conn)) {
        e->stop = STOP_TERM_SENT;        /* a signal request; keep draining meanwhile */
        e->signalled = 1;
        e->sig_pending = "TERM";
        op_arm(op, KILL_AFTER_MS, on_stop_timer);
    } else if (op->stage == S_IO && e->stop == STOP_NONE && e->remote_pid > 0) {
        e->stop = STOP_TERM_SENT;        /* keep draining while the kill does its work */
        send_kill(e, "TERM");
        op_arm(op, KILL_AFTER_MS, on_stop_timer);
    } else if (op->stage == S_IO) {
        e->stop = STOP_CLOSE;            /* no pid (pty, or not reported yet): close */
        op_set_stage(op, S_CLOSE);
        complete(e);
    }
}

static void exec_abort(struct ssh_op *op, const char *why)
{
    struct exec_op *e = exec_of(op);
    chan_forget(&e->chan);
    if (!e->cmd.done && !e->cmd.error[0]) snprintf(e->cmd.error, sizeof e->cmd.error, "%s", why);
    op_finish(op);
}

/* Timeout, Ctrl-C or an abandoned op (op_stop): stop the command (see enum stop) between
   two calls, at the top of its next step. */
static void exec_stop(struct ssh_op *op) { exec_of(op)->stop_pending = 1; }

static const struct ssh_op_type exec_type = {
    .name = "exec", .stages = stages, .uses_channel = 1, .before = apply_stop,
    .abort = exec_abort, .stop = exec_stop, .finished = exec_finished, .free = exec_free};
/* Our kill commands: not stopped by Ctrl-C (they are how a command is stopped). */
static const struct ssh_op_type kill_type = {
    .name = "kill", .stages = stages, .uses_channel = 1, .before = apply_stop,
    .abort = exec_abort, .finished = exec_finished, .free = exec_free};

static void on_timeout(struct ssh_op *op)
{
    struct exec_op *e = exec_of(op);
    if (e->cmd.done) return;
    uint64_t wait = cmdout_due(&e->cmd.co);     /* output since: the idle deadline moved on */
    if (wait) { op_arm(op, wait, on_timeout); return; }
    e->cmd.timed_out = 1;
    op_stop(op);
}

static void exec_resume(struct command *c)
{
    conn_kick(((struct exec_op *)c)->op.conn);
}

/* The Lua object let go: an abandoned command is stopped (as a timeout would). */
static void exec_release(struct command *c)
{
    struct exec_op *e = (struct exec_op *)c;
    e->cmd.co.echo = 0;
    if (e->cmd.paused) { e->cmd.paused = 0; conn_kick(e->op.conn); }
    op_stop(&e->op);
    op_release(&e->op);
}

/* op:write(): more stdin (see exec_opts.in_open); the IO stage sends it. */
static void exec_write(struct command *c, const char *p, size_t n, int eof)
{
    struct exec_op *e = (struct exec_op *)c;
    if (e->eof_sent || e->op.finished) return;
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
    conn_kick(e->op.conn);
}

static const struct command_type remote_type = {
    .name = "remote", .resume = exec_resume, .release = exec_release, .write = exec_write};

/* A new exec op for line on c, not yet started. */
static struct exec_op *exec_alloc(struct conn *c, const char *line, int internal)
{
    struct exec_op *e = calloc(1, sizeof *e);
    if (!e || !(e->line = strdup(line))) { free(e); return NULL; }
    e->cmd.type = &remote_type;
    /* No capture file yet: an internal op (the stop channel) never passes cmdout_init, and
       calloc's fd 0 would make cmdout_free close whatever fd 0 is by then (stdin, or a new
       connection's socket: it stalled in its handshake). */
    e->cmd.co.big[0].fd = e->cmd.co.big[1].fd = -1;
    op_init(&e->op, internal ? &kill_type : &exec_type, c);
    chan_init(&e->chan, &e->op);
    e->cmd.lua_owned = !internal;
    return e;
}

/* Our kill commands have no Lua side: released at once, freed when done. */
static void exec_start(struct conn *c, const char *line, int internal)
{
    struct exec_op *e = exec_alloc(c, line, internal);
    if (!e) return;
    e->cmd.t_start = uv_hrtime();
    op_start(&e->op);
    op_release(&e->op);
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
    if (first) op_arm(&e->op, first, on_timeout);
    e->cmd.t_start = uv_hrtime();
    op_start(&e->op);
}
