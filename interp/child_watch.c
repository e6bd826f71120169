/* Waiting for a child on the loop (see child_watch.h). */
#include "child_watch.h"
#include "loop_timer.h"
#include "scheduler.h"
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define POLL_FIRST_MS 1
#define POLL_MAX_MS 100

int child_reap(pid_t pid, int *wstatus)
{
    int st;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == 0 || (r < 0 && errno == EINTR)) return 0;
    *wstatus = r == pid ? st : 0;
    return 1;
}

int child_pidfd_open(pid_t pid)
{
    static int disabled = -1;
    if (disabled < 0) disabled = getenv("SSHS_NO_PIDFD") && *getenv("SSHS_NO_PIDFD") == '1';
    if (disabled) { errno = ENOSYS; return -1; }
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

static struct child_watch *watch_of(uv_handle_t *h)
{
    return (struct child_watch *)((char *)h - offsetof(struct child_watch, h));
}

/* Reaps the child if it has ended, and tells the owner (who may close the watch then). */
static int check(struct child_watch *w)
{
    int ws;
    if (!child_reap(w->pid, &ws)) return 0;
    if (w->h.handle.type == UV_POLL) uv_poll_stop(&w->h.poll);
    w->on_exit(w->h.handle.data, ws);
    return 1;
}

static void on_pidfd(uv_poll_t *h, int status, int events)
{
    check(watch_of((uv_handle_t *)h));
}

static void on_tick(uv_timer_t *t)
{
    struct child_watch *w = watch_of((uv_handle_t *)t);
    if (check(w)) return;
    w->every = w->every * 2 > POLL_MAX_MS ? POLL_MAX_MS : w->every * 2;
    loop_timer_start(t, on_tick, w->every, 0);
}

void child_watch_start(struct child_watch *w, pid_t pid, void (*on_exit)(void *data, int wstatus), void *data)
{
    w->pid = pid;
    w->on_exit = on_exit;
    w->active = 1;
    w->pidfd = child_pidfd_open(pid);
    if (w->pidfd >= 0 && uv_poll_init(sched_loop(), &w->h.poll, w->pidfd) == 0) {
        w->h.handle.data = data;
        uv_poll_start(&w->h.poll, UV_READABLE, on_pidfd);
        return;
    }
    if (w->pidfd >= 0) close(w->pidfd);
    w->pidfd = -1;
    /* No pidfd: ask. Never kill the child for want of one: it may be doing real work. */
    uv_timer_init(sched_loop(), &w->h.timer);
    w->h.handle.data = data;
    w->every = POLL_FIRST_MS;
    loop_timer_start(&w->h.timer, on_tick, w->every, 0);
}

/* The pidfd goes only once libuv has let go of its poll (a number reused while the old
   watcher is still registered would never be polled). */
static void on_closed(uv_handle_t *h)
{
    struct child_watch *w = watch_of(h);
    if (w->pidfd >= 0) close(w->pidfd);
    w->pidfd = -1;
    w->closed(h);
}

void child_watch_close(struct child_watch *w, uv_close_cb closed)
{
    if (!w->active) return;
    w->active = 0;
    w->closed = closed;
    uv_close(&w->h.handle, on_closed);
}
