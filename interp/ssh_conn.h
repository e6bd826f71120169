/* One SSH connection on the shared loop: resolve, TCP connect, handshake, host key, auth,
   keepalive, and the operations (channels, tunnels) multiplexed on it. This header is for
   the ops (ssh_* files); the Lua bindings see only ssh.h.
   libssh2 1.10 rules (DESIGN.md): after EAGAIN retry the same call with the same arguments;
   while one packet is half-sent no other operation may send, so the op that blocked on
   output "owns" the session until it gets past it. */
#ifndef SSHS_SSH_H
#define SSHS_SSH_H
#include <libssh2.h>
#include <uv.h>
#include "ssh.h"
#include "ssh_op.h"


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

/* The libssh2 session, for the ops' calls (only from a step function). */
LIBSSH2_SESSION *conn_session(struct conn *c);

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
