/* Jump hosts: a direct-tcpip channel on an outer connection, bridged to a socketpair whose
   other end is the inner connection's "socket". Both sides run on the loop. */
#ifndef SSHS_TUNNEL_H
#define SSHS_TUNNEL_H

struct conn;

struct tunnel;

/* Opens a channel on outer to host:port and returns the fd the inner session should use,
   or -1 with errno set; *t gets the tunnel. The tunnel ends when either side closes. */
int tunnel_open(struct conn *outer, const char *host, int port, struct tunnel **t);
/* The connection riding on the tunnel: if the jump host cannot open it, that connection
   fails with the jump host's reason (rather than a mute closed socket). */
void tunnel_set_inner(struct tunnel *t, struct conn *inner);

/* A port forward's connection: carries the already connected socket fd (taken over) over a
   direct-tcpip channel on c to host:port. label names the forward in the warning printed when
   the channel cannot be opened; done(arg, t) is called once the tunnel has ended (before it is
   freed). NULL when out of memory (fd is closed). */
struct tunnel *tunnel_attach(struct conn *c, int fd, const char *host, int port, const char *label,
                             void (*done)(void *arg, struct tunnel *t), void *arg);
/* The same for a channel the server opened (a remote forward's connection): the tunnel starts
   pumping at once and closes ch when it ends. */
struct _LIBSSH2_CHANNEL;
struct tunnel *tunnel_attach_channel(struct conn *c, int fd, struct _LIBSSH2_CHANNEL *ch, const char *label,
                                     void (*done)(void *arg, struct tunnel *t), void *arg);
/* Ends the tunnel soon (its channel is closed, its socket too); done is still called. */
void tunnel_stop(struct tunnel *t);

#endif
