/* A shell (or a command) on a remote pty, bridged to a socketpair: the Lua side reads and
   writes its end like a local pty's master. For console() and shell(). */
#ifndef SSHS_SSH_PTY_H
#define SSHS_SSH_PTY_H

struct conn;
struct ssh_pty;

/* Opens a session channel on c, requests a pty (term, cols x rows) and starts a shell (cmd
   NULL) or cmd. Returns our end of the socketpair (non-blocking), or -1 with errno set; *out
   gets the handle. When the remote side ends (or fails to start: ssh_pty_error) our end reads
   EOF; closing our end hangs the remote side up. */
int ssh_pty_open(struct conn *c, const char *term, int cols, int rows, const char *cmd,
                 struct ssh_pty **out);
/* Tells the remote pty its new size. */
void ssh_pty_resize(struct ssh_pty *p, int cols, int rows);
/* Why it ended before its shell ran ("" when it did not fail). */
const char *ssh_pty_error(const struct ssh_pty *p);
/* The Lua side lets go (after closing its end): freed once the channel is closed too. */
void ssh_pty_release(struct ssh_pty *p);

#endif
