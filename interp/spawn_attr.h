/* The posix_spawn attributes every child of sshs starts with (local commands, local ptys,
   ProxyCommands): no signal blocked, signals sshs ignores back to their default actions, and
   a process group or session of its own, so that one signal reaches all it started. */
#ifndef SSHS_SPAWN_ATTR_H
#define SSHS_SPAWN_ATTR_H
#include <spawn.h>

enum spawn_leader {
    SPAWN_GROUP,                 /* leads a new process group (still on our terminal) */
    SPAWN_SESSION                /* leads a new session (for a pty that becomes its terminal) */
};

/* Initialises attr (posix_spawnattr_destroy when done). reset_all: every signal gets its
   default action; else only SIGPIPE, the one sshs ignores (the ones it handles are reset by
   exec itself), which keeps posix_spawn from making ~64 sigaction calls per command. */
void spawn_attr_init(posix_spawnattr_t *attr, enum spawn_leader leader, int reset_all);

#endif
