/* One SSH connection on the shared loop: resolve, TCP connect, handshake, host key, auth,
   keepalive, and the operations (channels, tunnels) multiplexed on it. This header is for
   the ops (ssh_* files); the Lua bindings see only ssh.h.
   libssh2 1.10 rules (DESIGN.md): after EAGAIN retry the same call with the same arguments;
   while one packet is half-sent no other operation may send, so the op that blocked on
   output "owns" the session until it gets past it. */
#ifndef SSHS_SSH_H
#define SSHS_SSH_H
#include <libssh2.h>
#include <stdint.h>
#include <uv.h>
#include "ssh.h"

struct ssh_op;

/* ---- an op: what a connection multiplexes (its lifecycle functions: ssh_op.h) ---- */

/* What a step returns, kept apart from libssh2's codes (a libssh2 code never leaves the op
   that got it: conn_step_of() turns one into a step result). */
enum ssh_step {
    SSH_STEP_DONE,      /* finished (or, from a stage that moved the op on: run the next stage) */
    SSH_STEP_FAILED,    /* finished with an error the op recorded itself; the connection is fine */
    SSH_STEP_AGAIN,     /* libssh2 said EAGAIN: step again (same call, same arguments) when the
                           socket is ready; if it blocked half-way sending, only this op runs */
    SSH_STEP_WAITING,   /* waits for another op (the request lock) or for Lua; did no I/O, so it
                           holds no half-sent packet */
    SSH_STEP_REQUEUED,  /* moved itself back to the queue (its channel open was refused) */
    SSH_STEP_LOST,      /* the transport failed: the connection dies with libssh2's last error */
};

/* One stage: its name (for the trace) and the function that runs it. A stage function either
   returns a step result for the connection, or moves the op on (op_set_stage) and returns
   SSH_STEP_DONE to run the next stage at once. */
struct op_stage {
    const char *name;
    enum ssh_step (*run)(struct ssh_op *op);
};

struct ssh_op_type {
    const char *name;                   /* for traces and messages */
    const struct op_stage *stages;      /* indexed by op->stage; stage 0 runs first */
    int uses_channel;                   /* counts against max_channels (MaxSessions) */
    int weak;                           /* lives as long as its connection (the SFTP channel):
                                           holds no reference, so the connection can close */
    /* Each hook may be NULL. */
    void (*before)(struct ssh_op *op);  /* on every step, before the stages (a pending stop) */
    /* The connection died: record why, op_finish. The op is already detached. */
    void (*abort)(struct ssh_op *op, const char *why);
    /* Stop politely (a time limit, Ctrl-C, the owner gone); NULL: Ctrl-C leaves it alone. */
    void (*stop)(struct ssh_op *op);
    /* Another op waits for a channel slot: an idle op that holds one and can do without it
       (the SFTP link between transfers) gives it up. */
    void (*yield_slot)(struct ssh_op *op);
    /* The connection is done with the op (op_finish): wake whoever waits. */
    void (*finished)(struct ssh_op *op);
    /* Finished, released and every handle closed: free what the op owns (not the conn). */
    void (*free)(struct ssh_op *op);
};

struct ssh_op {
    const struct ssh_op_type *type;
    struct conn *conn;                  /* retained from op_start until the op is freed (not weak) */
    /* the connection's scheduling (ssh_conn.c) */
    struct ssh_op *next;                /* in the active list or the queue */
    int progress;
    int queued, active;
    int idle;                           /* holds its channel but waits on nothing (the SFTP
                                           channel between transfers): not polled for */
    /* the lifecycle (ssh_op.c) */
    int stage;
    unsigned id;                        /* for trace lines: "host exec#3" */
    int started, stopping, finished, released, freeing;
    int given_up;                       /* reported as ended while its clean-up still waits on
                                           the server: exit does not wait for it */
    int handles;                        /* open libuv handles tied to the op (the timer, …) */
    uv_timer_t timer;                   /* op_arm: the time limit, then the stop escalation */
    void (*on_timer)(struct ssh_op *op);
    struct ssh_op *prev_live, *next_live;
};

/* ---- the connection, for its ops ---- */

/* A libssh2 return code as a step result: 0 DONE, EAGAIN AGAIN, a transport/crypto error
   LOST, any other negative code FAILED (the caller records the message first). */
enum ssh_step conn_step_of(int rc);

/* SSHS_TRACE=1 in the environment: ops report their stage changes ("host exec#3: open ->
   exec") on stderr, for debugging. conn_trace prints one such line when from != to. */
int  conn_tracing(void);
void conn_trace(const struct conn *c, const char *op, unsigned id, const char *from, const char *to);
/* Does a "signal" channel request stop a command here? Needs libssh2 >= 1.11 and a server
   known to act on it: OpenSSH >= 7.9 signals the command's whole process group (killpg), but
   not in a root session. */
int conn_signals_work(struct conn *c);
/* Bytes the server has reported writing to ptys (OpenSSH's SSH_MSG_IGNORE echo stand-ins for
   a pty with ECHO off and ICANON on), a running total for the connection. IGNOREs name no
   channel: one that arrives while a single paced pty has bytes in flight is that pty's
   (conn_pty_ignored says whether the last such one was pty's). A pty reports going in (+1)
   and out (-1) of having bytes in flight, and is forgotten when it ends. */
uint64_t conn_pty_written(const struct conn *c);
int  conn_pty_ignored(const struct conn *c, const void *pty);
void conn_pty_waiting(struct conn *c, const void *pty, int delta);
void conn_pty_forget(struct conn *c, const void *pty);

/* Agent forwarding (ssh_agent_fwd.c): should a channel that runs a command on c ask for it
   (before its pty and command)? Each does, except on OpenSSH once one was granted: sshd grants
   it once per connection and every later session gets that agent (it refuses a repeat), while
   Dropbear wants it asked per session. conn_agent_answer: what came of asking; a refusal
   before any grant is a warning, once per connection, naming the host; the command runs on
   without the agent (as with ssh). */
int  conn_forwards_agent(const struct conn *c);
void conn_agent_answer(struct conn *c, int granted, const char *reason);

/* The libssh2 session, for the ops' calls (only from a step function). */
LIBSSH2_SESSION *conn_session(struct conn *c);
/* The session channel opened ahead with the auth request (ssh_connect.c), for the first op
   that opens one; NULL when there is none (any more). */
LIBSSH2_CHANNEL *conn_take_spare(struct conn *c);
/* Another session channel was refused while that channel sits unused (the server's MaxSessions
   counts it): it is to be closed. 1 if there was one; conn_spare_closed then closes it. */
int conn_close_spare(struct conn *c);
/* Closes the channel conn_close_spare gave up: SSH_STEP_AGAIN until the server confirmed the
   close, then SSH_STEP_DONE (at once when there is none). From an op's open step. */
enum ssh_step conn_spare_closed(struct conn *c);

/* An op waits in the queue for a channel slot. */
int conn_slot_wanted(const struct conn *c);
/* Adds an op: it runs on the loop's next turn if a slot is free, else waits its turn (MaxSessions). */
void conn_add_op(struct conn *c, struct ssh_op *op);
/* Removes a finished or abandoned op; frees its channel slot and starts a queued op. */
void conn_remove_op(struct conn *c, struct ssh_op *op);
/* Runs the ops again soon (after an op gained new work, e.g. stdin to write). */
void conn_kick(struct conn *c);
/* A channel open was refused: when other channels are open, lower the limit, requeue op
   and return 1; when op was alone (the server allows no more), return 0: a real refusal. */
int conn_channel_refused(struct conn *c, struct ssh_op *op);
/* A channel opened: refusals in a row are over. */
void conn_channel_opened(struct conn *c);
/* A channel is open: sshd's socket has TCP_NODELAY from its first session on, so reads need
   no quick acknowledgement any more (see quick_ack in ssh_connect.c). */
void conn_quick_ack_off(struct conn *c);

/* The request lock. libssh2 1.10 keeps the state of a channel open in the session, not the
   channel, and a channel request waiting for its reply fails when another channel's reply
   comes first: so one open (session, direct-tcpip) or request (pty-req, exec) is in flight
   per connection. conn_request_begin: 1 if op may make its call now (it holds the lock until
   conn_request_end), 0 to wait. */
int  conn_request_begin(struct conn *c, struct ssh_op *op);
void conn_request_end(struct conn *c, struct ssh_op *op);
/* Is op half-way through sending a packet (so it must repeat its call before anything else)? */
int  conn_is_owner(const struct conn *c, const struct ssh_op *op);


#endif
