/* Jump hosts: a direct-tcpip channel on an outer connection, bridged to a socketpair whose
   other end is the inner connection's "socket". Both sides run on the loop. */
#ifndef SSHS_TUNNEL_H
#define SSHS_TUNNEL_H

struct conn;

/* Opens a channel on outer to host:port and returns the fd the inner session should use,
   or -1 with errno set. The tunnel ends when either side closes. */
int tunnel_open(struct conn *outer, const char *host, int port);

#endif
