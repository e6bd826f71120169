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
/* Remote forwards (ssh -R): asks the server to listen on rhost:rport (port 0: it chooses) and
   carries each connection it accepts to thost:tport here (a numeric address or "localhost").
   Returns at once; the request goes out on the loop: fwd_remote_state says how it went. */
struct fwd *fwd_remote(struct conn *c, const char *rhost, int rport, const char *thost, int tport,
                       char *err, size_t errlen);
/* 0 while the server has not answered, 1 listening (fwd_port is the server's port), -1 failed
   (err set: "forward remote 127.0.0.1:9000 -> localhost:3000: the server refused: …"). */
int fwd_remote_state(const struct fwd *f, const char **err);
/* A waiter woken when the remote forward's state changes (NULL: none). */
struct sched_waiter;
void fwd_set_waiter(struct fwd *f, struct sched_waiter *w);
/* Exit: closes every forward still open. */
void fwd_shutdown_all(void);

#endif
