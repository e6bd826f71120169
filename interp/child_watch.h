/* Telling the loop when a child process ends, for everything sshs spawns and waits for
   (local commands, local ptys, ProxyCommands): through a pidfd where there is one, else
   (kernels before 5.3, valgrind, SSHS_NO_PIDFD=1) by asking waitpid on a loop timer, every
   1 ms at first, doubling up to 100 ms. It never kills: stopping a child is its owner's call. */
#ifndef SSHS_CHILD_WATCH_H
#define SSHS_CHILD_WATCH_H
#include <sys/types.h>
#include <uv.h>

struct child_watch {
    pid_t pid;                       /* 0 until started */
    int pidfd;                       /* -1: the timer asks */
    int active;                      /* started and not yet closed */
    uint64_t every;                  /* the timer's interval now (ms) */
    union { uv_handle_t handle; uv_poll_t poll; uv_timer_t timer; } h;
    void (*on_exit)(void *data, int wstatus);
    uv_close_cb closed;
};

/* Watches pid (a child not yet reaped) on the loop: once it has ended it is reaped and
   on_exit(data, wstatus) called (wstatus 0 if someone else reaped it). The watch holds one
   libuv handle whose data is `data`: the owner counts it as its own and lets it go with
   child_watch_close. Cannot fail. */
void child_watch_start(struct child_watch *w, pid_t pid, void (*on_exit)(void *data, int wstatus), void *data);
/* Stops watching (before or after on_exit; again is a no-op, as is a watch never started);
   closed(handle) is called once libuv has let go of it, handle->data being the owner's data. */
void child_watch_close(struct child_watch *w, uv_close_cb closed);

/* Reaps pid if it has ended: 1 and *wstatus set (0 when someone else reaped it), or 0 while
   it runs. */
int child_reap(pid_t pid, int *wstatus);
/* pidfd_open(pid), or -1 (ENOSYS) where there is none: old kernels, valgrind, and whenever
   SSHS_NO_PIDFD=1 (so tests reach the fallbacks). */
int child_pidfd_open(pid_t pid);

#endif
