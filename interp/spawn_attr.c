/* See spawn_attr.h. */
#include "spawn_attr.h"
#include <signal.h>

void spawn_attr_init(posix_spawnattr_t *attr, enum spawn_leader leader, int reset_all)
{
    sigset_t none, dfl;
    sigemptyset(&none);
    if (reset_all) {
        sigfillset(&dfl);
        sigdelset(&dfl, SIGKILL);
        sigdelset(&dfl, SIGSTOP);
    } else {
        sigemptyset(&dfl);
        sigaddset(&dfl, SIGPIPE);
    }
    posix_spawnattr_init(attr);
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    flags |= leader == SPAWN_SESSION ? POSIX_SPAWN_SETSID : POSIX_SPAWN_SETPGROUP;
    posix_spawnattr_setflags(attr, flags);
    if (leader == SPAWN_GROUP) posix_spawnattr_setpgroup(attr, 0);
    posix_spawnattr_setsigmask(attr, &none);
    posix_spawnattr_setsigdefault(attr, &dfl);
}
