/* A running command, local or remote, as its Lua object sees it: the part both sessions share.
   A session (local.c, ssh_exec.c) embeds a struct command in its op, fills it in as the command
   runs and wakes `w`; the Lua half (l_command.c) waits on it, builds the result table and lets
   go of it. */
#ifndef SSHS_COMMAND_H
#define SSHS_COMMAND_H
#include "cmdout.h"
#include <stdint.h>

struct command;

struct command_type {
    const char *name;                 /* "local", "remote": for messages */
    /* Lua caught up with output that was paused (the session set c->paused, the Lua half
       cleared it): read again. */
    void (*resume)(struct command *c);
    /* The Lua object let go (__gc or __close): stop the command if it still runs and free it
       once the session is done with it. w.thread, lua_owned and the streams are cleared. */
    void (*release)(struct command *c);
    /* op:kill(sig); NULL when the session cannot signal its commands. */
    void (*kill)(struct command *c, int sig);
    /* op:write(data [, eof]): more stdin for a command started with stdin_open (a sudo
       password once sudo asks); eof ends its stdin. Ignored once stdin is closed. */
    void (*write)(struct command *c, const char *p, size_t n, int eof);
    /* The waiting thread was cancelled (Ctrl-C on a REPL line): stop the command as a
       terminal's Ctrl-C would, before the object lets go. NULL: release() stops it. */
    void (*interrupt)(struct command *c);
};

struct command {
    const struct command_type *type;
    struct sched_waiter w;            /* the thread in op:wait() */
    struct cmdout co;                 /* captured, echoed, or queued for op:wait() */
    uint64_t t_start, t_end;          /* uv_hrtime() */
    int done;                         /* finished: what follows is final */
    int lua_owned;                    /* a Lua object points here */
    int paused;                       /* the session stopped reading: Lua is behind */
    int has_exit, exitcode;
    char signal[32];                  /* killed by this signal ("TERM") */
    int signo;                        /* ... or by this one, which has no name we know */
    int timed_out;
    char error[700];                  /* op:wait() raises this (e.g. the connection was lost) */
};

#endif
