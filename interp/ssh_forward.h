/* Local port forwards (ssh -L): a listening socket on the loop; each accepted connection is
   carried over a direct-tcpip channel of the connection (a tunnel, ssh_tunnel.c), with the
   tunnel's bounded buffers and the channel window as flow control. No libssh2 here. */
#ifndef SSHS_SSH_FORWARD_H
#define SSHS_SSH_FORWARD_H
#include <stddef.h>

struct conn;
struct fwd;

/* Listens on lhost:lport (a numeric address or "localhost"; port 0: any free one) and carries
   every connection to thost:tport as seen from the server. NULL with err ("forward
   127.0.0.1:8080 -> db:5432: cannot listen on 127.0.0.1:8080: Address already in use"). */
struct fwd *fwd_listen(struct conn *c, const char *lhost, int lport, const char *thost, int tport,
                       char *err, size_t errlen);
/* The port it listens on (the one chosen when asked for 0). */
int fwd_port(const struct fwd *f);
/* Connections carried so far, and open now. */
unsigned long fwd_accepted(const struct fwd *f);
int fwd_open_count(const struct fwd *f);
/* Stops listening and ends its connections; the forward is freed once they are gone.
   Safe to call once only. */
void fwd_close(struct fwd *f);
/* Exit: closes every forward still open. */
void fwd_shutdown_all(void);

#endif
