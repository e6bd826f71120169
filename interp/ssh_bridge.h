/* The bridged-channel op: a channel pumped to and from a socket, on the loop, through two
   bounded buffers, so a slow side backs the other one up and nothing grows. Jump-host tunnels
   and port forwards' connections (ssh_tunnel.c) and remote ptys (ssh_pty.c) are this one op,
   configured:

     open (a session channel, a direct-tcpip one, or one the server opened)
       → [agent] → [pty] → [start: shell or exec]  (session channels; agent: when the
                                                    connection forwards the agent)
       → pump → close

   Its lifecycle is the op base's (ssh_op.h): the stages trace under SSHS_TRACE=1, it is freed
   once finished and released (a tunnel releases itself when created; a pty when Lua lets go),
   after its socket's poll handle has closed. */
#ifndef SSHS_SSH_BRIDGE_H
#define SSHS_SSH_BRIDGE_H
#include "ssh_chan.h"

#define BRIDGE_BUF 65536
/* A pty's input is paced: at most this many bytes sent and not yet known to have left sshd's
   buffer. OpenSSH answers each write into a pty with ECHO off and ICANON on (a console) with
   an SSH_MSG_IGNORE as big as the write, and writes all it has buffered at once: a loaded sshd
   that buffered more than ~40 KB sent an IGNORE libssh2 (1.10 and 1.11) rejects as too long
   (-41), which ended the connection. Acknowledgements: those IGNOREs, channel data coming back
   (echo, output) and window adjustments. A wait with no acknowledgement for BRIDGE_PACE_WAIT_MS
   sends the next piece anyway while no IGNORE has been this pty's (a raw-mode reader without
   echo or output acknowledges nothing); after one has, it waits as a full pipe does. */
#define BRIDGE_PACE_LIMIT (24 * 1024)
#define BRIDGE_PACE_WAIT_MS 2000

/* BRIDGE_AGENT: an auth-agent channel the server opened (ssh_agent_fwd.c), as BRIDGE_ACCEPTED
   but weak (ssh_conn.h): it holds no reference on its connection, so a remote process keeping
   the forwarded agent open does not keep a session the script closed alive. */
enum bridge_open { BRIDGE_SESSION, BRIDGE_DIRECT_TCPIP, BRIDGE_ACCEPTED, BRIDGE_AGENT };

struct bridge;

/* What the configuring file hears (each may be NULL). */
struct bridge_hooks {
    void (*opened)(struct bridge *b);              /* the channel is open */
    void (*open_failed)(struct bridge *b);         /* refused: b->chan.error / .reason say why */
    void (*lost)(struct bridge *b, const char *why); /* the connection died under it */
    void (*free)(struct bridge *b);                /* the end: free the containing object */
};

struct bridge {
    struct ssh_op op;
    struct chan chan;
    const struct bridge_hooks *hooks;
    enum bridge_open how;
    char *host;                        /* BRIDGE_DIRECT_TCPIP: host:port, seen from the server */
    int port;
    char *term;                        /* BRIDGE_SESSION: a pty of cols x rows (NULL: none) */
    int cols, rows;
    char *cmd;                         /* BRIDGE_SESSION: exec cmd, or a shell when NULL */
    int resize_pending, new_cols, new_rows;
    int stop;                          /* bridge_stop: end at the next step */
    char error[600];                   /* why it ended before it ran ("" when it did not fail) */
    /* the pump */
    int fd;                            /* the socket, ours (closed when the op finishes) */
    uv_poll_t poll;
    int poll_events;
    int turns;                         /* rounds per pump: the slice bound, turns x 2 buffers */
    int half_close;                    /* each direction ends on its own (forwards, as ssh -L) */
    char up[BRIDGE_BUF];               /* socket -> channel */
    size_t up_len, up_off;
    char down[BRIDGE_BUF];             /* channel -> socket */
    size_t down_len, down_off;
    int local_eof, remote_eof;         /* each side has said it sends no more */
    int eof_sent, shut_sent;           /* ... and the other side has been told (half-close) */
    int eof_pending;                   /* send_eof said EAGAIN: repeat it before anything else */
    int broken;                        /* the socket failed (a read or write error) */
    size_t write_len;                  /* the length of a write libssh2 holds half-sent */
    /* pacing (a pty: see BRIDGE_PACE_LIMIT): bytes sent, how many of them each kind of
       acknowledgement covers (each counts the same bytes: the largest wins), the last values
       seen (the connection's pty_written, the channel's send window), and the wait's timer */
    int pace, saw_ignore, waiting;     /* waiting: bytes in flight (counted in the conn) */
    uint64_t sent, ack_ignore, ack_window, ack_data, ack_forgiven;
    uint64_t written_seen;
    unsigned long window_seen;
    uv_timer_t pace_timer;
};

/* Sets up b (zeroed, inside its user's object) on c with fd (non-blocking, taken over) and
   turns rounds per step; the caller fills in host/port or term/cmd, then bridge_start. */
void bridge_init(struct bridge *b, const struct bridge_hooks *hooks, struct conn *c,
                 enum bridge_open how, int fd, int turns);
/* Queues it on its connection. BRIDGE_ACCEPTED, BRIDGE_AGENT: ch is the channel the server
   opened. */
void bridge_start(struct bridge *b, LIBSSH2_CHANNEL *ch);
/* Ends it soon (its channel closes, then its socket); the hooks still run. */
void bridge_stop(struct bridge *b);
/* A new pty size for the remote side (BRIDGE_SESSION with a pty). */
void bridge_resize(struct bridge *b, int cols, int rows);

#endif
