/* ProxyCommand: a local process whose stdin and stdout carry a connection's SSH stream (ssh -W
   through a bastion, nc, a cloud session manager). Spawned without blocking the loop, reaped
   on it, stopped when the connection ends. */
#ifndef SSHS_SSH_PROXY_H
#define SSHS_SSH_PROXY_H

struct proxy;

/* Starts `/bin/sh -c 'exec CMD'` in a process group of its own (Ctrl-C at the terminal is
   sshs's to handle, not the proxy's), with one end of a socketpair as its stdin and stdout;
   its stderr is sshs's, as with ssh. Returns the other end (non-blocking, close-on-exec) for
   libssh2, or -1 with errno set. on_exit(arg, why) is called on the loop if the command ends
   while still attached; why says how ("ProxyCommand 'nc x 22' exited with status 1"). */
int  proxy_start(const char *cmd, void (*on_exit)(void *arg, const char *why), void *arg,
                 struct proxy **out);
/* How it ended ("ProxyCommand 'cmd' exited with status 1"), or NULL while it runs (checked
   now, without waiting: for a handshake that failed because the command went away). */
const char *proxy_ended(struct proxy *p);
/* The connection is done with it: no more callback; its process group gets SIGTERM now and
   SIGKILL 2 s later if it is still there; freed once reaped. */
void proxy_stop(struct proxy *p);
/* At exit: SIGKILL and reap every command still there (no orphan outlives sshs). */
void proxy_shutdown_all(void);

#endif
