/* ProxyCommand processes (see ssh_proxy.h). A child watch tells the loop when one ends. */
#include "ssh_proxy.h"
#include "scheduler.h"
#include "spawn_attr.h"
#include "child_watch.h"
#include "loop_timer.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

extern char **environ;

#define KILL_AFTER_MS 2000   /* SIGTERM, then SIGKILL this much later */

struct proxy {
    pid_t pid;
    int exited, stopped;
    int handles;                     /* open libuv handles: freed when none are left */
    struct child_watch watch;
    uv_timer_t kill_timer;
    char *cmd;
    char why[600];                   /* how it ended, once reaped */
    void (*on_exit)(void *arg, const char *why);
    void *arg;
    struct proxy *prev, *next;       /* every proxy not yet freed */
};

static struct proxy *all_proxies;

static void handle_closed(uv_handle_t *h)
{
    struct proxy *p = h->data;
    if (--p->handles > 0) return;
    if (p->prev) p->prev->next = p->next; else all_proxies = p->next;
    if (p->next) p->next->prev = p->prev;
    free(p->cmd);
    free(p);
}

static void close_handles(struct proxy *p)
{
    child_watch_close(&p->watch, handle_closed);
    if (!uv_is_closing((uv_handle_t *)&p->kill_timer)) uv_close((uv_handle_t *)&p->kill_timer, handle_closed);
}

static void signal_group(struct proxy *p, int sig)
{
    if (p->exited || p->pid <= 0) return;     /* never kill(0): that is our own group */
    if (kill(-p->pid, sig) < 0) kill(p->pid, sig);
}

/* It has been reaped: says how it ended (ws < 0: reaped, status unknown). */
static void ended(struct proxy *p, int ws)
{
    p->exited = 1;
    if (ws < 0) snprintf(p->why, sizeof p->why, "ProxyCommand '%.400s' ended", p->cmd);
    else if (WIFSIGNALED(ws))
        snprintf(p->why, sizeof p->why, "ProxyCommand '%.400s' was killed by signal %d", p->cmd, WTERMSIG(ws));
    else
        snprintf(p->why, sizeof p->why, "ProxyCommand '%.400s' exited with status %d", p->cmd, WEXITSTATUS(ws));
}

/* Reaps it if it has ended: 1 (and p->why set), or 0 while it runs. */
static int reap(struct proxy *p)
{
    if (p->exited) return 1;
    int ws = 0;
    pid_t r = waitpid(p->pid, &ws, WNOHANG);
    if (r == 0) return 0;
    ended(p, r < 0 ? -1 : ws);
    return 1;
}

static void on_child_exit(void *data, int wstatus)
{
    struct proxy *p = data;
    if (!p->exited) ended(p, wstatus);
    void (*cb)(void *, const char *) = p->stopped ? NULL : p->on_exit;
    p->on_exit = NULL;
    close_handles(p);
    if (cb) cb(p->arg, p->why);
}

const char *proxy_ended(struct proxy *p)
{
    return p && reap(p) ? p->why : NULL;
}

static void on_kill_timer(uv_timer_t *t)
{
    signal_group(t->data, SIGKILL);
}

int proxy_start(const char *cmd, void (*on_exit)(void *arg, const char *why), void *arg,
                struct proxy **out)
{
    int sv[2] = {-1, -1}, e = 0;
    struct proxy *p = calloc(1, sizeof *p);
    char *line = NULL;
    if (!p || !(p->cmd = strdup(cmd)) || asprintf(&line, "exec %s", cmd) < 0) { line = NULL; e = ENOMEM; goto fail; }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) { e = errno; goto fail; }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, sv[1], 0);
    posix_spawn_file_actions_adddup2(&fa, sv[1], 1);
    posix_spawnattr_t attr;
    spawn_attr_init(&attr, SPAWN_GROUP, 1);
    char *argv[] = {"/bin/sh", "-c", line, NULL};
    e = posix_spawn(&p->pid, "/bin/sh", &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (e) goto fail;
    close(sv[1]);
    sv[1] = -1;
    free(line);
    line = NULL;
    fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    p->on_exit = on_exit;
    p->arg = arg;
    child_watch_start(&p->watch, p->pid, on_child_exit, p);
    uv_timer_init(sched_loop(), &p->kill_timer);
    p->kill_timer.data = p;
    p->handles = 2;
    uv_unref(&p->watch.h.handle);
    uv_unref((uv_handle_t *)&p->kill_timer);
    p->next = all_proxies;
    if (all_proxies) all_proxies->prev = p;
    all_proxies = p;
    *out = p;
    return sv[0];
fail:
    if (sv[0] >= 0) close(sv[0]);
    if (sv[1] >= 0) close(sv[1]);
    free(line);
    if (p) free(p->cmd);
    free(p);
    errno = e;
    return -1;
}

void proxy_stop(struct proxy *p)
{
    if (!p || p->stopped) return;
    p->stopped = 1;
    p->on_exit = NULL;
    if (p->exited) return;
    signal_group(p, SIGTERM);
    loop_timer_start(&p->kill_timer, on_kill_timer, KILL_AFTER_MS, 0);
}

void proxy_shutdown_all(void)
{
    for (struct proxy *p = all_proxies; p; p = p->next) {
        p->on_exit = NULL;
        p->stopped = 1;
        if (!reap(p)) {
            signal_group(p, SIGKILL);
            waitpid(p->pid, NULL, 0);
            p->exited = 1;
        }
        close_handles(p);
    }
}
