/* A channel pumped to and from a socket: jump-host tunnels and port forwards (ssh_tunnel.c)
   and remote ptys (ssh_pty.c) all move bytes this way, on the loop, through two bounded
   buffers, so a slow side backs the other one up and nothing grows. */
#ifndef SSHS_SSH_BRIDGE_H
#define SSHS_SSH_BRIDGE_H
#include "ssh_conn.h"

#define BRIDGE_BUF 65536

struct bridge {
    struct ssh_op *op;                 /* its progress flag is set when bytes move */
    struct conn *conn;                 /* kicked when the socket is ready */
    void *owner;                       /* for the owner's close callback (poll.data is us) */
    int fd;                            /* the socket, ours (closed by bridge_finish) */
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
};

/* Takes fd (made non-blocking by its creator) and starts its poll handle. */
void bridge_init(struct bridge *b, struct ssh_op *op, struct conn *conn, int fd, int turns,
                 void *owner);

/* Moves bytes both ways, at most b->turns rounds: LIBSSH2_ERROR_EAGAIN while the bridge
   lives, 0 once it has ended (one side gone; with half_close, both directions ended, or an
   error on the socket), or a libssh2 error. */
int bridge_pump(struct bridge *b, LIBSSH2_CHANNEL *ch);

/* Stops polling, closes the socket (the other side reads EOF) and closes the poll handle;
   closed(h) runs when libuv lets go of it (h->data is the bridge). */
void bridge_finish(struct bridge *b, uv_close_cb closed);

#endif
