/* Channels for ssh_ops: every op that opens a channel or sends a channel request (remote
   commands, jump-host tunnels, SFTP, console, port forwards, shell) goes through here, so the
   libssh2 1.10 rules are kept in one place:

   - one channel open or reply-awaited request is in flight per connection (the request lock,
     see conn_request_begin in ssh_conn.h); an op waiting for it gets SSH_STEP_WAITING;
   - after SSH_STEP_AGAIN the op must make the SAME call again with the SAME arguments on its
     next step (nothing else on this channel in between), until it returns something else;
   - a session channel refused while others are open (MaxSessions) puts the op back in the
     queue (SSH_STEP_REQUEUED: return it from step and do nothing more); a refusal with
     nothing else open is retried a few times, then reported.

   Every call returns an enum ssh_step that a step function can return as it is:
     SSH_STEP_DONE      the call completed; go on to the next stage
     SSH_STEP_AGAIN     EAGAIN: return it, repeat the call on the next step
     SSH_STEP_WAITING   another op holds the request lock: return it, repeat the call later
     SSH_STEP_REQUEUED  the open was refused for now and the op is queued again: return it;
                        when it runs again, call the same open
     SSH_STEP_FAILED    failed; chan->error says what, on which host, and why. The channel (if
                        any) is still open: close it (chan_close) before finishing
     SSH_STEP_LOST      the connection broke (transport error): return it; the op's abort()
                        is called with the reason (chan->error has the call's own account)
   A step function typically does:  if ((r = chan_open_session(&x->chan, 0)) != SSH_STEP_DONE)
   { if (r == SSH_STEP_FAILED) ...record, finish...; return r; }

   Usage: embed a struct chan in the op, chan_init() it once with the op, keep it until the op
   is finished. In the op's abort(), call chan_forget() (the session, and with it the channel,
   is gone). Don't stop an op half-way through a call: chan_busy() says one is in flight. */
#ifndef SSHS_SSH_CHAN_H
#define SSHS_SSH_CHAN_H
#include "ssh_op.h"
#include <stddef.h>

struct chan {
    struct ssh_op *op;          /* the op this channel belongs to */
    LIBSSH2_CHANNEL *ch;        /* NULL until opened, and again after chan_close */
    int locked;                 /* a call holding the request lock is in flight */
    int closing;                /* 1: our close is sent, 2: the server's close came */
    char error[600];            /* the last SSH_STEP_FAILED: what, host, why */
    char reason[400];           /* the same failure, the server's/libssh2's words only */
};

/* Ties c to op (call once, before the first use). */
void chan_init(struct chan *c, struct ssh_op *op);
/* Is a call in flight that must be repeated (so the op cannot be stopped right now)? */
int chan_busy(const struct chan *c);

/* Opens a "session" channel (for exec, shell, subsystems). window: the receive window in
   bytes (0: libssh2's default 2 MiB; bulk transfers want more, throughput <= window / RTT).
   The op's type must have uses_channel set (session channels count against MaxSessions). */
enum ssh_step chan_open_session(struct chan *c, unsigned window);
/* Opens a "direct-tcpip" channel: the server connects to host:port (a tunnel, -L forward).
   shost/sport: the originator reported to the server (NULL: 127.0.0.1:22). Not counted
   against MaxSessions; a refusal (nothing listens there, or AllowTcpForwarding no) is
   SSH_STEP_FAILED with the server's words in c->reason. */
enum ssh_step chan_open_direct_tcpip(struct chan *c, const char *host, int port,
                                     const char *shost, int sport);

/* Requests a pty on an open session channel: term (NULL: "xterm"), its size in characters,
   and encoded terminal modes (NULL/0: none). Before exec or shell. */
enum ssh_step chan_request_pty(struct chan *c, const char *term, int cols, int rows,
                               const char *modes, size_t modes_len);
/* Sets an environment variable for the command (the server may refuse: sshd's AcceptEnv;
   a refusal is SSH_STEP_FAILED like any other). Before exec or shell. */
enum ssh_step chan_request_env(struct chan *c, const char *name, const char *value);
/* Asks the server to forward the agent for what runs on this channel (auth-agent-req@openssh.com,
   then plain auth-agent-req; libssh2 >= 1.11, else SSH_STEP_FAILED). Before exec or shell. */
enum ssh_step chan_request_agent(struct chan *c);
/* Starts what runs on the channel: request "exec" with arg = the command line, "shell" with
   arg = NULL, or "subsystem" with arg = its name ("sftp"). */
enum ssh_step chan_request(struct chan *c, const char *request, const char *arg);
/* Tells the server the terminal's new size (no reply is awaited: no lock). */
enum ssh_step chan_pty_size(struct chan *c, int cols, int rows);
/* Sends a "signal" request (name without "SIG": "TERM", "KILL"; no reply is awaited, so
   nothing says whether the server acted on it: see conn_signals_work). libssh2 < 1.11 cannot:
   SSH_STEP_FAILED. */
enum ssh_step chan_signal(struct chan *c, const char *name);

/* For a libssh2 call that opens a channel itself (libssh2_sftp_init): take the lock with
   chan_lock_open (SSH_STEP_DONE: go ahead, SSH_STEP_WAITING or SSH_STEP_AGAIN: return that),
   make the call, repeat it while it says EAGAIN, then report its outcome with
   chan_opened(c, ok, what): it releases the lock and returns SSH_STEP_DONE, SSH_STEP_AGAIN
   (refused while the channel opened ahead sat unused: that one is closed, then the call is
   made again), SSH_STEP_REQUEUED (refused, queued again: take the lock again when you run),
   SSH_STEP_FAILED (c->error: "what on HOST failed: …") or SSH_STEP_LOST.
   (libssh2 reports a refused subsystem like a refused open: both read as a refusal.) */
enum ssh_step chan_lock(struct chan *c);
enum ssh_step chan_lock_open(struct chan *c);
enum ssh_step chan_opened(struct chan *c, int ok, const char *what);

/* Closing, in the order a command needs it (each returns SSH_STEP_AGAIN until done, then
   SSH_STEP_DONE; errors while closing are not reported: the channel is going anyway):
   chan_send_close sends our close once; chan_wait_closed sends it if not yet, then waits for
   the server's close (exit status and signal are final only after it, and still readable);
   chan_close sends close if not yet sent (it does not wait for the server's) and frees the
   channel (c->ch is NULL after it).
   Does nothing without a channel. */
enum ssh_step chan_send_close(struct chan *c);
enum ssh_step chan_wait_closed(struct chan *c);
enum ssh_step chan_close(struct chan *c);
/* The session is gone (the op's abort): drop the channel without touching libssh2. */
void chan_forget(struct chan *c);

#endif
