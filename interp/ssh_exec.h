/* Remote commands: one channel per command on a connection, run as an ssh_op. The command's
   Lua object is the shared one (l_command.c); this file runs it. */
#ifndef SSHS_SSH_EXEC_H
#define SSHS_SSH_EXEC_H
#include "command.h"
#include <stddef.h>

struct conn;

struct exec_opts {
    int pty;                 /* a pty (stdout and stderr merge; closing it hangs the command up) */
    int stoppable;           /* report the remote pid first, so a timeout or Ctrl-C can kill the
                                command's process group (ignored with a pty) */
    double timeout;          /* seconds; 0: none. Then it is stopped and timed_out is set */
    const char *in;          /* stdin (copied), in_len bytes, then EOF */
    size_t in_len;
    int in_open;             /* no EOF after `in`: more comes from op:write() */
};

/* A new command for `line` on c, not started: the caller sets up its output (c->co, with
   cmdout_init) and the Lua object pointing at it (lua_owned is set), then calls exec_submit.
   NULL when out of memory. */
struct command *exec_new(struct conn *c, const char *line, const struct exec_opts *o);
/* Starts its timeout and queues it on its connection (it may start at once). */
void exec_submit(struct command *cmd);

#endif
