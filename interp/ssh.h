/* The connection side as the Lua bindings (l_*) see it: opaque connections, plain C types,
   no libssh2. Op implementers include ssh_conn.h, which includes this. */
#ifndef SSHS_SSH_FACE_H
#define SSHS_SSH_FACE_H
#include "scheduler.h"
#include "ssh_params.h"

struct conn;

enum conn_state { C_RESOLVING, C_CONNECTING, C_HANDSHAKE, C_AUTH, C_READY, C_CLOSING, C_DEAD };

/* Starts connecting (takes the strings of p). `transport_fd` >= 0 uses that socket (a
   tunnel's end) instead of TCP. The waiter is woken when the connection is ready or has
   failed (conn_error()). NULL when out of memory. */
struct conn *conn_start(struct ssh_params *p, int transport_fd, struct sched_waiter *w);
enum conn_state conn_state(const struct conn *c);
const char *conn_error(const struct conn *c);
/* "user@host[:port]", for messages. */
const char *conn_display(const struct conn *c);

/* Can this build forward the agent (connect{forward_agent})? libssh2 >= 1.11 hands us the
   auth-agent channels a server opens; 1.10 has no way to accept them. */
int conn_agent_forwarding_supported(void);

/* Reference counting: the Lua userdata, tunnels riding on it and inner connections each
   hold one. The last release disconnects (politely, in the background) and frees. */
void conn_retain(struct conn *c);
void conn_release(struct conn *c);
/* Closes the connection now: every op gets why as its error. */
void conn_fail(struct conn *c, const char *why);
/* The connecting thread's waiter is going away (its object was collected). */
void conn_forget_waiter(struct conn *c, struct sched_waiter *w);

/* Ctrl-C and exit: every connection drops its ops (channels close, remote commands get
   SIGHUP when they have a pty). */
void conn_interrupt_all(void);
void conn_shutdown_all(void);
/* Ctrl-C: every operation that can be stopped (commands, transfers) is; each ends within its
   own bounded escalation. At exit: the same, with up to 2 s for the clean-up (ssh_op.c). */
void ops_interrupt_all(void);
void ops_shutdown(void);

#endif
