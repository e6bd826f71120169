/* Inside a connection, shared by its two halves: ssh_conn.c (its lifetime, the ops
   multiplexed on it, failing and closing) and ssh_connect.c (resolving, TCP connect,
   handshake, host key, auth, keepalive). Not for the ops: they see ssh_conn.h. */
#ifndef SSHS_SSH_CONN_IMPL_H
#define SSHS_SSH_CONN_IMPL_H
#include "ssh_conn.h"
#include "ssh_algs.h"
#include <netdb.h>

struct auth_state;

struct conn {
    enum conn_state state;
    struct ssh_params p;
    int fd;
    uv_poll_t poll;
    int poll_started, poll_events;
    uv_poll_t *connect_poll;     /* watches a pending TCP connect; counted in open_handles */
    uv_timer_t timer;            /* connect / close deadline */
    uv_timer_t keepalive;
    uv_idle_t kick;
    uv_getaddrinfo_t gai;
    struct addrinfo *ai_list, *ai_cur;
    int last_connect_errno;
    int last_sock_errno;         /* the socket's last read or write error (a reset during the handshake) */
    int quick_ack;               /* acknowledge each read at once (until a channel is open) */
    LIBSSH2_SESSION *session;
    struct ssh_op connect_op, close_op, keepalive_op;
    int keepalive_pending;
    uint64_t last_rx;            /* loop time (ms) of the last byte from the server */
    uint64_t rx_bytes;           /* bytes received so far (see process) */
    uint64_t pty_written;        /* bytes the server says it wrote to a pty (ssh_connect.c) */
    int ptys_waiting;            /* paced ptys with bytes in flight (ssh_bridge.c) */
    const void *pty_lone;        /* the one waiting, when known; only ever compared */
    const void *pty_ignored;     /* the one an IGNORE last came for */
    int keepalive_missed;        /* keepalives sent since then */
    struct ssh_op *active;
    struct ssh_op *queue_head, *queue_tail;
    struct ssh_op *requester;    /* holds the request lock (see conn_request_begin) */
    int refusals;                /* channel opens refused in a row with nothing else open */
    struct ssh_op *owner;        /* blocked half-way through sending a packet */
    int channels;
    /* the first channel's open sent with the auth request (ssh_connect.c): sent, then, once auth
       is done, completed (its request was accepted) or forgotten (refused) */
    enum { AHEAD_NONE, AHEAD_SENT, AHEAD_COMPLETING, AHEAD_FORGETTING, AHEAD_DONE } open_ahead;
    int authed;                  /* auth is done (the open ahead may still be settling) */
    LIBSSH2_CHANNEL *spare;      /* that channel, open, until a session op takes it */
    int spare_closing;           /* ... or until it gives its slot up (MaxSessions) */
    int refs;
    int open_handles;
    int processing, again;
    size_t rx_budget;            /* socket bytes this wake-up may still read (counting_recv) */
    struct sched_waiter *connect_waiter;
    struct auth_state *auth;
    struct proxy *proxy;         /* the ProxyCommand carrying the stream, or NULL */
    struct agent_fwd *agent_fwd; /* forwarding the agent (ssh_agent_fwd.c), or NULL */
    struct algs_seen algs;       /* our algorithm lists and the server's, for errors */
    char server_said[256];       /* the reason of the server's DISCONNECT, printable ASCII */
    char err[1536];
    struct conn *prev_all, *next_all;
};

/* (ssh_conn.c) */
void conn_register(struct conn *c);           /* on the list of all connections */
void conn_maybe_free(struct conn *c);         /* freed once dead, unreferenced, handles closed */
void conn_process(struct conn *c);            /* steps the ops (see process in ssh_conn.c) */
void conn_activate(struct conn *c, struct ssh_op *op);
void conn_start_queued(struct conn *c);
void conn_wake_waiter(struct conn *c);        /* the thread waiting in connect() */
void conn_stop_connect_poll(struct conn *c);

#endif
