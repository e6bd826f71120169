/* Shells on a terminal as Lua objects, for console() and shell(): a local pty (the shell
   spawned on its slave side, in a session of its own) or a remote one (ssh_pty.c, seen
   through a socketpair). Either way we hold one non-blocking fd: bytes the shell printed
   are kept (bounded) until Lua reads them; bytes Lua writes are queued and sent as the fd
   takes them. The object owns its handles; the userdata only points at it. */
#include "l_pty.h"
#include "scheduler.h"
#include "sshmod.h"
#include "ssh_pty.h"
#include "l_util.h"
#include "buf.h"
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
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

extern char **environ;

#define PTY_MT "sshs.pty"
static const struct lutil_meta pty_meta;       /* below; made with the first pty */
#define IN_LIMIT (1u << 20)          /* unread output past this: stop reading (flow control) */
#define HANGUP_GRACE_MS 1000

struct lpty {
    int fd;                          /* pty master or socketpair end; -1 once closed */
    int closing_fd;                  /* the fd, until its poll handle has closed */
    uv_poll_t poll;
    int poll_events;
    struct buf in;                   /* what the shell printed, not yet read by Lua */
    struct buf out;                  /* what Lua wrote, not yet taken by the fd */
    size_t out_off;
    int eof;
    struct sched_waiter w;
    uv_timer_t timer;                /* read timeout; then the hang-up grace period */
    int timer_fired;
    pid_t pid;                       /* local: the shell (a session leader) */
    int exited, wstatus;
    struct child_watch exit_watch;   /* local: tells when the shell ends, and reaps it */
    struct ssh_pty *remote;
    char *host;                      /* for messages */
    int handles;                     /* libuv handles not yet closed */
    int lua_owned;
    int bridge;                      /* shell(): output goes to our stdout as it comes */
};

static void lpty_free(struct lpty *p)
{
    buf_free(&p->in);
    buf_free(&p->out);
    free(p->host);
    free(p);
}

static void handle_closed(uv_handle_t *h)
{
    struct lpty *p = h->data;
    if (--p->handles == 0 && !p->lua_owned) lpty_free(p);
}

static void close_handle(struct lpty *p, uv_handle_t *h)
{
    if (!uv_is_closing(h)) uv_close(h, handle_closed);
}

/* The fd goes only once libuv has let go of its poll: a new pty or socket reusing the number
   while the old watcher is still registered would never be polled. */
static void poll_closed(uv_handle_t *h)
{
    struct lpty *p = h->data;
    if (p->closing_fd >= 0) close(p->closing_fd);
    p->closing_fd = -1;
    handle_closed(h);
}

static void on_fd(uv_poll_t *h, int status, int events);

/* Polls for what is wanted now: output while under the limit, input while some is queued. */
static void watch(struct lpty *p)
{
    if (p->fd < 0) return;
    int ev = 0;
    if (!p->eof && (p->in.len < IN_LIMIT || p->bridge)) ev |= UV_READABLE;
    if (p->out_off < p->out.len) ev |= UV_WRITABLE;
    if (ev == p->poll_events) return;
    if (ev) uv_poll_start(&p->poll, ev, on_fd); else uv_poll_stop(&p->poll);
    p->poll_events = ev;
}

static void write_stdout(const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(1, s, n);
        if (w < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

static void on_fd(uv_poll_t *h, int status, int events)
{
    struct lpty *p = h->data;
    if (p->fd < 0) return;
    /* On POLLERR libuv has stopped the handle itself: forget what it polled, so watch()
       below starts it again (else the terminal goes deaf both ways and nothing wakes us);
       the read and write below meet the real error, if there is one. */
    if (status < 0) p->poll_events = 0;
    if (p->out_off < p->out.len) {
        ssize_t n = write(p->fd, p->out.data + p->out_off, p->out.len - p->out_off);
        if (n > 0) {
            p->out_off += (size_t)n;
            if (p->out_off == p->out.len) p->out.len = p->out_off = 0;
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            p->out.len = p->out_off = 0;           /* the shell is gone: nothing to send to */
        }
    }
    /* A bounded slice of output per wake-up: the loop stays fair to the others. */
    char tmp[16384];
    for (int i = 0; i < 8 && !p->eof && (p->in.len < IN_LIMIT || p->bridge); i++) {
        ssize_t n = read(p->fd, tmp, sizeof tmp);
        if (n > 0) {
            if (p->bridge) write_stdout(tmp, (size_t)n);
            else buf_append(&p->in, tmp, (size_t)n);
            sched_wake(&p->w);
            if ((size_t)n < sizeof tmp) break;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        p->eof = 1;                /* 0, or EIO: a pty master whose shell has gone */
        sched_wake(&p->w);
    }
    watch(p);
}

/* ---- local shells ---- */

static void on_shell_exit(void *data, int wstatus)
{
    struct lpty *p = data;
    p->exited = 1;
    p->wstatus = wstatus;
    child_watch_close(&p->exit_watch, handle_closed);
}

/* Spawns argv on a new pty (cols x rows) as a session leader whose controlling terminal it
   is, so Ctrl-C written to the master interrupts its foreground job. */
static int spawn_local(struct lpty *p, char *const argv[], int cols, int rows)
{
    int r = -1, master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    const char *slave = NULL;
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0 || !(slave = ptsname(master))) goto out;
    struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
    ioctl(master, TIOCSWINSZ, &ws);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, slave, O_RDWR, 0);   /* after setsid: the ctty */
    posix_spawn_file_actions_adddup2(&fa, 0, 1);
    posix_spawn_file_actions_adddup2(&fa, 0, 2);
    posix_spawnattr_t attr;
    spawn_attr_init(&attr, SPAWN_SESSION, 1);
    int e = posix_spawn(&p->pid, argv[0], &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (e) { errno = e; goto out; }
    p->fd = master;
    master = -1;
    child_watch_start(&p->exit_watch, p->pid, on_shell_exit, p);
    p->handles++;
    r = 0;
out:
    if (master >= 0) { int keep = errno; close(master); errno = keep; }
    return r;
}

static struct lpty *new_lpty(lua_State *L)
{
    struct lpty **ud = lua_newuserdatauv(L, sizeof *ud, 1);
    *ud = NULL;
    lutil_setmeta(L, &pty_meta);
    struct lpty *p = calloc(1, sizeof *p);
    if (!p) luaL_error(L, "out of memory");
    p->fd = p->closing_fd = -1;
    p->lua_owned = 1;
    *ud = p;
    return p;
}

/* Starts the fd's poll and the timer once the fd is there. */
static int start_io(struct lpty *p)
{
    fcntl(p->fd, F_SETFL, fcntl(p->fd, F_GETFL) | O_NONBLOCK);
    int r = uv_poll_init(sched_loop(), &p->poll, p->fd);
    if (r != 0) return r;
    p->poll.data = p;
    p->handles++;
    uv_timer_init(sched_loop(), &p->timer);
    p->timer.data = p;
    p->handles++;
    watch(p);
    return 0;
}

static void opt_size(lua_State *L, int t, int *cols, int *rows)
{
    *cols = 200;
    *rows = 50;
    if (!lua_istable(L, t)) return;
    lua_getfield(L, t, "cols");
    if (lua_isinteger(L, -1) && lua_tointeger(L, -1) > 0) *cols = (int)lua_tointeger(L, -1);
    lua_getfield(L, t, "rows");
    if (lua_isinteger(L, -1) && lua_tointeger(L, -1) > 0) *rows = (int)lua_tointeger(L, -1);
    lua_pop(L, 2);
}

/* core.pty_local{shell = path, cols =, rows =} -> pty: a local shell on a new pty. */
static int l_pty_local(lua_State *L)
{
    sched_check_interrupt(L);
    int cols, rows;
    opt_size(L, 1, &cols, &rows);
    const char *shell = "/bin/sh";
    if (lua_istable(L, 1)) {
        lua_getfield(L, 1, "shell");
        if (lua_isstring(L, -1)) shell = lua_tostring(L, -1);
    }
    struct lpty *p = new_lpty(L);
    p->host = strdup("local");
    char *argv[] = {(char *)shell, NULL};
    if (spawn_local(p, argv, cols, rows) != 0)
        return luaL_error(L, "cannot start %s on a pty: %s", shell, strerror(errno));
    int r = start_io(p);
    if (r != 0) return luaL_error(L, "cannot watch the pty: %s", uv_strerror(r));
    return 1;
}

int pty_lua_open_remote(lua_State *L, struct conn *c, int opts)
{
    sched_check_interrupt(L);
    if (sshapi->conn_state(c) == C_DEAD) return luaL_error(L, "%s", sshapi->conn_error(c));
    int cols, rows;
    opt_size(L, opts, &cols, &rows);
    const char *term = "xterm", *cmd = NULL;
    if (lua_istable(L, opts)) {
        lua_getfield(L, opts, "term");
        if (lua_isstring(L, -1)) term = lua_tostring(L, -1);
        lua_getfield(L, opts, "cmd");
        if (lua_isstring(L, -1)) cmd = lua_tostring(L, -1);
    }
    struct lpty *p = new_lpty(L);
    p->host = strdup(sshapi->conn_display(c));
    p->fd = sshapi->ssh_pty_open(c, term, cols, rows, cmd, &p->remote);
    if (p->fd < 0) return luaL_error(L, "cannot open a pty on %s: %s", sshapi->conn_display(c), strerror(errno));
    int r = start_io(p);
    if (r != 0) return luaL_error(L, "cannot watch the pty: %s", uv_strerror(r));
    return 1;
}

/* ---- methods ---- */

static struct lpty *check_pty(lua_State *L)
{
    return lutil_checkbox(L, 1, PTY_MT, "this terminal is closed");
}

static void on_read_timeout(uv_timer_t *t)
{
    struct lpty *p = t->data;
    p->timer_fired = 1;
    sched_wake(&p->w);
}

/* Takes everything buffered: pushes it and returns 1, or 0 when there is nothing. */
static int take_input(lua_State *L, struct lpty *p)
{
    if (p->in.len == 0) return 0;
    lua_pushlstring(L, p->in.data, p->in.len);
    int was_full = p->in.len >= IN_LIMIT;
    p->in.len = 0;
    if (was_full) watch(p);
    return 1;
}

static int read_k(lua_State *L, int status, lua_KContext ctx)
{
    struct lpty *p = check_pty(L);
    if (take_input(L, p)) { uv_timer_stop(&p->timer); return 1; }
    if (p->eof) {
        uv_timer_stop(&p->timer);
        lua_pushnil(L);
        lua_pushliteral(L, "eof");
        return 2;
    }
    if (p->timer_fired) { lua_pushliteral(L, ""); return 1; }
    if (sched_interrupted() || sched_cancel_pending(L)) {
        uv_timer_stop(&p->timer);
        sched_check_interrupt(L);
    }
    return sched_wait(L, &p->w, read_k, 0);
}

/* p:read([seconds]) -> what the shell printed since the last read (waits for something),
   "" when the time ran out, or nil, "eof" once the shell has gone and all is read. */
static int l_read(lua_State *L)
{
    struct lpty *p = check_pty(L);
    p->timer_fired = 0;
    if (p->in.len == 0 && !p->eof && !lua_isnoneornil(L, 2)) {
        double s = luaL_checknumber(L, 2);
        loop_timer_start(&p->timer, on_read_timeout, s > 0 ? (uint64_t)(s * 1000 + 0.5) : 0, 0);
    }
    return read_k(L, LUA_OK, 0);
}

/* p:write(text): queued; sent as the terminal takes it. */
static int l_write(lua_State *L)
{
    struct lpty *p = check_pty(L);
    size_t n;
    const char *s = luaL_checklstring(L, 2, &n);
    if (p->eof || p->fd < 0) return 0;
    if (buf_append(&p->out, s, n) != 0) return luaL_error(L, "out of memory");
    watch(p);
    return 0;
}

/* p:resize(cols, rows) */
static int l_resize(lua_State *L)
{
    struct lpty *p = check_pty(L);
    int cols = (int)luaL_checkinteger(L, 2), rows = (int)luaL_checkinteger(L, 3);
    if (p->remote) sshapi->ssh_pty_resize(p->remote, cols, rows);
    else if (p->fd >= 0) {
        struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
        ioctl(p->fd, TIOCSWINSZ, &ws);
    }
    return 0;
}

/* p:eof() -> true once the shell has gone; p:why() -> why a remote one never started. */
static int l_eof(lua_State *L)
{
    struct lpty *p = check_pty(L);
    lua_pushboolean(L, p->eof && p->in.len == 0);
    return 1;
}

static int l_why(lua_State *L)
{
    struct lpty *p = check_pty(L);
    const char *e = p->remote ? sshapi->ssh_pty_error(p->remote) : "";
    if (*e) lua_pushstring(L, e); else lua_pushnil(L);
    return 1;
}

static void on_grace(uv_timer_t *t)
{
    struct lpty *p = t->data;
    if (!p->exited && p->pid > 0) kill(-p->pid, SIGKILL);
    close_handle(p, (uv_handle_t *)t);
}

/* __close / __gc / p:close(): the shell is hung up (its terminal goes away) and reaped. */
static int l_close(lua_State *L)
{
    struct lpty *p = lutil_takebox(L, 1, PTY_MT);
    if (!p) return 0;
    p->lua_owned = 0;
    p->w.thread = NULL;
    if (p->fd >= 0) {
        /* local: SIGHUP to the session; remote: the channel closes (once the fd is closed) */
        uv_poll_stop(&p->poll);
        shutdown(p->fd, SHUT_RDWR);   /* a socketpair's peer sees EOF now (no-op on a pty) */
        p->closing_fd = p->fd;
        p->fd = -1;
        uv_close((uv_handle_t *)&p->poll, poll_closed);
    }
    if (p->remote) { sshapi->ssh_pty_release(p->remote); p->remote = NULL; }
    if (p->pid > 0 && !p->exited) {
        kill(-p->pid, SIGHUP);
        loop_timer_start(&p->timer, on_grace, HANGUP_GRACE_MS, 0);  /* then SIGKILL */
    } else if (p->handles > 0) {
        close_handle(p, (uv_handle_t *)&p->timer);
    }
    if (p->handles == 0) lpty_free(p);
    return 0;
}

/* ---- shell(): our terminal bridged to the pty ---- */

static struct termios saved_tio;
static int tio_saved;
static uv_poll_t stdin_poll;
static uv_signal_t winch;
static struct lpty *bridged;

static void restore_terminal(void)
{
    if (tio_saved) tcsetattr(0, TCSADRAIN, &saved_tio);
    tio_saved = 0;
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) & ~O_NONBLOCK);   /* libuv's poll made it non-blocking */
}

static void on_stdin(uv_poll_t *h, int status, int events)
{
    char tmp[4096];
    ssize_t n = read(0, tmp, sizeof tmp);
    if (n > 0 && bridged && !bridged->eof) {
        buf_append(&bridged->out, tmp, (size_t)n);
        watch(bridged);
    }
}

static void send_size(struct lpty *p)
{
    struct winsize ws;
    if (ioctl(1, TIOCGWINSZ, &ws) != 0 || ws.ws_col == 0) return;
    if (p->remote) sshapi->ssh_pty_resize(p->remote, ws.ws_col, ws.ws_row);
    else if (p->fd >= 0) ioctl(p->fd, TIOCSWINSZ, &ws);
}

static void on_winch(uv_signal_t *h, int sig)
{
    if (bridged) send_size(bridged);
}

static void bridge_end(void)
{
    if (!bridged) return;
    bridged->bridge = 0;
    bridged = NULL;
    uv_close((uv_handle_t *)&stdin_poll, NULL);
    uv_close((uv_handle_t *)&winch, NULL);
    restore_terminal();
}

static int bridge_k(lua_State *L, int status, lua_KContext ctx)
{
    struct lpty *p = check_pty(L);
    if (!p->eof && !sched_interrupted() && !sched_cancel_pending(L)) return sched_wait(L, &p->w, bridge_k, 0);
    bridge_end();
    sched_check_interrupt(L);
    return 0;
}

/* p:bridge(): the user's terminal (raw) is connected to the pty until the shell ends: keys
   go there (Ctrl-C too), its output comes here, window size changes follow. */
static int l_bridge(lua_State *L)
{
    struct lpty *p = check_pty(L);
    if (bridged) return luaL_error(L, "shell: the terminal is already in use by another shell()");
    if (!isatty(0) || !isatty(1)) return luaL_error(L, "shell: needs a terminal (stdin and stdout)");
    if (tcgetattr(0, &saved_tio) != 0) return luaL_error(L, "shell: cannot read the terminal's modes");
    struct termios raw = saved_tio;
    tio_saved = 1;
    cfmakeraw(&raw);
    if (tcsetattr(0, TCSADRAIN, &raw) != 0) { tio_saved = 0; return luaL_error(L, "shell: cannot set raw mode"); }
    fflush(stdout);
    bridged = p;
    p->bridge = 1;
    if (p->in.len) { write_stdout(p->in.data, p->in.len); p->in.len = 0; }
    uv_poll_init(sched_loop(), &stdin_poll, 0);
    uv_poll_start(&stdin_poll, UV_READABLE, on_stdin);
    uv_signal_init(sched_loop(), &winch);
    uv_signal_start(&winch, on_winch, SIGWINCH);
    send_size(p);
    watch(p);
    return bridge_k(L, LUA_OK, 0);
}

void pty_restore_terminal(void)
{
    if (bridged) bridge_end();
    restore_terminal();
}

static const luaL_Reg pty_methods[] = {
    {"read", l_read}, {"write", l_write}, {"resize", l_resize}, {"eof", l_eof},
    {"why", l_why}, {"close", l_close}, {"bridge", l_bridge}, {NULL, NULL}};
static const luaL_Reg pty_metamethods[] = {{"__gc", l_close}, {"__close", l_close}, {NULL, NULL}};
static const struct lutil_meta pty_meta = {PTY_MT, pty_methods, pty_metamethods};

void pty_open(lua_State *L, int core_idx)
{
    lua_pushcfunction(L, l_pty_local);
    lua_setfield(L, core_idx, "pty_local");
}
