/* Local commands. Each op owns its child and its pipes; the Lua userdata only points at it,
   so a collected userdata never frees handles libuv still uses (freed in the last close cb). */
#include "local.h"
#include "scheduler.h"
#include "command.h"
#include "l_command.h"
#include "spawn_attr.h"
#include "child_watch.h"
#include "loop_timer.h"
#include <lauxlib.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define KILL_GRACE_MS 1000

struct local_op {
    struct command cmd;                         /* first: what the Lua object sees */
    pid_t pid;
    int fd_out, fd_err, fd_in;                  /* -1 once closed */
    uv_poll_t poll_out, poll_err, poll_in;
    uv_timer_t timer;                           /* timeout, then the SIGKILL grace period */
    struct child_watch exit_watch;              /* a child that closed its output, running on */
    int open_handles;                           /* handles still to be closed by libuv */
    int exited, wstatus, killed;
    char *in_data; size_t in_len, in_off;
    int in_hold;                                /* stdin_open: more stdin may come (op:write) */
    struct local_op *prev_live, *next_live;
};

static struct local_op *live_ops;

const char *local_signal_name(int sig)
{
    static const struct { int sig; const char *name; } names[] = {
        {SIGHUP, "HUP"}, {SIGINT, "INT"}, {SIGQUIT, "QUIT"}, {SIGILL, "ILL"}, {SIGTRAP, "TRAP"},
        {SIGABRT, "ABRT"}, {SIGBUS, "BUS"}, {SIGFPE, "FPE"}, {SIGKILL, "KILL"}, {SIGUSR1, "USR1"},
        {SIGSEGV, "SEGV"}, {SIGUSR2, "USR2"}, {SIGPIPE, "PIPE"}, {SIGALRM, "ALRM"},
        {SIGTERM, "TERM"}, {SIGCHLD, "CHLD"}, {SIGCONT, "CONT"}, {SIGSTOP, "STOP"},
        {SIGTSTP, "TSTP"}, {SIGTTIN, "TTIN"}, {SIGTTOU, "TTOU"}, {SIGXCPU, "XCPU"},
        {SIGXFSZ, "XFSZ"}, {SIGVTALRM, "VTALRM"}, {SIGPROF, "PROF"}, {SIGWINCH, "WINCH"},
        {SIGSYS, "SYS"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].sig == sig) return names[i].name;
    return NULL;
}

static void local_resume(struct command *c);
static void local_release(struct command *c);
static void local_kill(struct command *c, int sig);
static void local_write(struct command *c, const char *p, size_t n, int eof);
static void local_interrupt(struct command *c);
static const struct command_type local_type = {
    .name = "local", .resume = local_resume, .release = local_release, .kill = local_kill,
    .write = local_write, .interrupt = local_interrupt};

static void op_free(struct local_op *op)
{
    cmdout_free(&op->cmd.co);
    free(op->in_data);
    free(op);
}

static void handle_closed(uv_handle_t *h)
{
    struct local_op *op = h->data;
    if (--op->open_handles == 0 && !op->cmd.lua_owned) op_free(op);
}

static void close_handle(struct local_op *op, uv_handle_t *h)
{
    if (!uv_is_closing(h)) uv_close(h, handle_closed);
}

static void unlink_live(struct local_op *op)
{
    if (op->prev_live) op->prev_live->next_live = op->next_live;
    else if (live_ops == op) live_ops = op->next_live;
    if (op->next_live) op->next_live->prev_live = op->prev_live;
    op->prev_live = op->next_live = NULL;
}

static void on_child_exit(void *data, int wstatus);
static void on_timer(uv_timer_t *t);
static void signal_group(struct local_op *op, int sig);
static int start_poll(struct local_op *op, uv_poll_t *h, int fd, int events, uv_poll_cb cb);

/* Both pipes are at EOF: the child has almost always exited by now, so reap it without a
   watch; only a child that closed its output and runs on is watched until it ends. */
static void reap_or_watch(struct local_op *op)
{
    int st;
    pid_t r = waitpid(op->pid, &st, WNOHANG);
    if (r == op->pid) { op->exited = 1; op->wstatus = st; return; }
    if (r < 0 && errno != EINTR) { op->exited = 1; return; }
    if (op->exit_watch.pid) return;            /* already watched */
    child_watch_start(&op->exit_watch, op->pid, on_child_exit, op);
    op->open_handles++;
}

/* The op is complete once the child is reaped and both output pipes reached EOF. */
static void maybe_done(struct local_op *op)
{
    if (op->cmd.done || op->fd_out >= 0 || op->fd_err >= 0) return;
    if (!op->exited) reap_or_watch(op);
    if (!op->exited) return;
    op->cmd.done = 1;
    op->cmd.t_end = uv_hrtime();
    if (WIFEXITED(op->wstatus)) {
        op->cmd.has_exit = 1;
        op->cmd.exitcode = WEXITSTATUS(op->wstatus);
    } else if (WIFSIGNALED(op->wstatus)) {
        const char *name = local_signal_name(WTERMSIG(op->wstatus));
        if (name) snprintf(op->cmd.signal, sizeof op->cmd.signal, "%s", name);
        else op->cmd.signo = WTERMSIG(op->wstatus);
    }
    if (op->fd_in >= 0) { close_handle(op, (uv_handle_t *)&op->poll_in); close(op->fd_in); op->fd_in = -1; }
    uv_timer_stop(&op->timer);
    close_handle(op, (uv_handle_t *)&op->timer);
    cmdout_finish(&op->cmd.co);
    unlink_live(op);
    sched_wake(&op->cmd.w);
}

/* A capture went past max_output: stop the command as a timeout would (TERM, then KILL). */
static void stop_overflowing(struct local_op *op)
{
    if (op->killed || op->cmd.done) return;
    op->killed = 1;
    signal_group(op, SIGTERM);
    loop_timer_start(&op->timer, on_timer, KILL_GRACE_MS, 0);
}

/* At most this many reads per wake-up: a writer faster than us never starves the loop
   (the poll is level-triggered, so what is left is read on the next iteration). */
#define READS_PER_WAKE 16

static void on_readable(uv_poll_t *h, int status, int events)
{
    struct local_op *op = h->data;
    int is_err = h == &op->poll_err;
    int *fd = is_err ? &op->fd_err : &op->fd_out;
    char tmp[65536];
    for (int reads = 0; reads < READS_PER_WAKE; reads++) {
        ssize_t n = read(*fd, tmp, sizeof tmp);
        if (n > 0) {
            if (cmdout_data(&op->cmd.co, is_err, tmp, (size_t)n, &op->cmd.w)) stop_overflowing(op);
            if (cmdout_backlogged(&op->cmd.co)) {    /* Lua is behind: let the pipe fill up */
                uv_poll_stop(h);
                op->cmd.paused = 1;
                return;
            }
            if ((size_t)n < sizeof tmp) return;   /* drained for now; the poll calls again */
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        goto eof;                                  /* EOF or a hard error: this stream is over */
    }
    return;                                        /* a full slice: the rest on the next wake-up */
eof:
    close_handle(op, (uv_handle_t *)h);
    close(*fd);
    *fd = -1;
    maybe_done(op);
}

static void on_writable(uv_poll_t *h, int status, int events)
{
    struct local_op *op = h->data;
    while (op->in_off < op->in_len) {
        ssize_t n = write(op->fd_in, op->in_data + op->in_off, op->in_len - op->in_off);
        if (n > 0) { op->in_off += (size_t)n; continue; }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        break;                                     /* EPIPE: the command stopped reading */
    }
    if (op->in_off >= op->in_len && op->in_hold) { uv_poll_stop(h); return; }   /* more may come */
    close_handle(op, (uv_handle_t *)h);
    close(op->fd_in);
    op->fd_in = -1;
}

/* Appends to what is left to write (the written part is dropped first). */
static int append_stdin(char **data, size_t *len, size_t *off, const char *p, size_t n)
{
    size_t left = *len - *off;
    char *d = malloc(left + n + 1);
    if (!d) return -1;
    if (left) memcpy(d, *data + *off, left);
    if (n) memcpy(d + left, p, n);
    free(*data);
    *data = d;
    *len = left + n;
    *off = 0;
    return 0;
}

static void local_write(struct command *c, const char *p, size_t n, int eof)
{
    struct local_op *op = (struct local_op *)c;
    if (op->fd_in < 0 || append_stdin(&op->in_data, &op->in_len, &op->in_off, p, n) < 0) return;
    if (eof) op->in_hold = 0;
    uv_poll_start(&op->poll_in, UV_WRITABLE, on_writable);
}

static void on_child_exit(void *data, int wstatus)
{
    struct local_op *op = data;
    op->exited = 1;
    op->wstatus = wstatus;
    child_watch_close(&op->exit_watch, handle_closed);
    maybe_done(op);
}

static void signal_group(struct local_op *op, int sig)
{
    if (op->pid <= 0) return;             /* never kill(0) or kill(-0): that is our own group */
    /* The child leads its own process group, so pipelines and subshells go too. */
    if (kill(-op->pid, sig) < 0 && !op->exited) kill(op->pid, sig);
}

static void on_timer(uv_timer_t *t)
{
    struct local_op *op = t->data;
    if (op->cmd.done) return;
    if (!op->killed) {
        uint64_t wait = cmdout_due(&op->cmd.co);    /* output since: the idle deadline moved on */
        if (wait) { loop_timer_start(&op->timer, on_timer, wait, 0); return; }
        op->cmd.timed_out = 1;
        op->killed = 1;
        signal_group(op, SIGTERM);
        loop_timer_start(&op->timer, on_timer, KILL_GRACE_MS, 0);
    } else {
        signal_group(op, SIGKILL);
    }
}

/* Ctrl-C: SIGINT to the command's group, SIGKILL after the grace period. */
static void interrupt_one(struct local_op *op)
{
    if (op->cmd.done || op->killed) return;
    op->killed = 1;
    signal_group(op, SIGINT);
    loop_timer_start(&op->timer, on_timer, KILL_GRACE_MS, 0);
}

static void interrupt_all(void)
{
    for (struct local_op *op = live_ops; op; op = op->next_live) interrupt_one(op);
}

/* ---- starting a command ---- */

static int shell_builtin(const char *w, size_t n)
{
    /* dash's builtins (and keywords); true/false behave the same as /bin/true and /bin/false. */
    static const char *const names[] = {
        ".", ":", "[", "alias", "bg", "break", "cd", "chdir", "command", "continue", "echo",
        "eval", "exec", "exit", "export", "fc", "fg", "getopts", "hash", "jobs", "kill",
        "local", "printf", "pwd", "read", "readonly", "return", "set", "shift", "test", "times",
        "trap", "type", "ulimit", "umask", "unalias", "unset", "wait", "if", "then", "else",
        "elif", "fi", "for", "while", "until", "do", "done", "case", "esac", "in", "function",
        NULL};
    for (int i = 0; names[i]; i++)
        if (strlen(names[i]) == n && memcmp(names[i], w, n) == 0) return 1;
    return 0;
}

/* Where a program name was found on PATH, as shells remember it ("hash"): a PATH search
   costs one access() per folder. Forgotten when PATH changes; a stale entry only makes us
   fall back to the shell. */
#define PATH_CACHE 64
static struct { char *name, *path; } path_cache[PATH_CACHE];
static char *path_cache_for;          /* the PATH the entries were found with */

static char *path_lookup(const char *name, size_t len, const char *path_env)
{
    if (!path_cache_for || strcmp(path_cache_for, path_env) != 0) {
        for (int i = 0; i < PATH_CACHE; i++) {
            free(path_cache[i].name);
            free(path_cache[i].path);
            path_cache[i].name = path_cache[i].path = NULL;
        }
        free(path_cache_for);
        path_cache_for = strdup(path_env);
    }
    unsigned h = 5381;
    for (size_t i = 0; i < len; i++) h = h * 33 + (unsigned char)name[i];
    int slot = (int)(h % PATH_CACHE);
    if (path_cache[slot].name && strlen(path_cache[slot].name) == len &&
        memcmp(path_cache[slot].name, name, len) == 0)
        return strdup(path_cache[slot].path);
    char *found = NULL;
    for (const char *p = path_env; *p;) {
        size_t dl = strcspn(p, ":");
        char *cand = malloc(dl + len + 3);
        if (!cand) return NULL;
        size_t off = dl ? dl : 1;
        memcpy(cand, dl ? p : ".", off);
        cand[off] = '/';
        memcpy(cand + off + 1, name, len);
        cand[off + 1 + len] = 0;
        if (access(cand, X_OK) == 0) { found = cand; break; }
        free(cand);
        p += dl;
        if (*p == ':') p++;
    }
    if (found && path_cache_for) {
        free(path_cache[slot].name);
        free(path_cache[slot].path);
        path_cache[slot].name = strndup(name, len);
        path_cache[slot].path = strdup(found);
    }
    return found;
}

/* A command made only of plain words ("ls -l /tmp") runs the same with or without a shell;
   exec it directly and save the shell's start-up. Returns argv (one malloc) or NULL. */
static char **simple_argv(const char *cmd, const char *path_env, char **prog)
{
    size_t n = strlen(cmd);
    if (n == 0 || n > 4096) return NULL;
    int words = 0, in_word = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)cmd[i];
        if (c == ' ') { in_word = 0; continue; }
        if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9') &&
            !strchr("-_./,:+@%^", c) && !(c == '=' && words > 0))
            return NULL;
        if (!in_word) { words++; in_word = 1; }
    }
    const char *w0 = cmd + strspn(cmd, " ");
    size_t w0len = strcspn(w0, " ");
    if (shell_builtin(w0, w0len)) return NULL;

    char *found;
    if (memchr(w0, '/', w0len)) {
        found = strndup(w0, w0len);
        if (found && access(found, X_OK) != 0) { free(found); return NULL; }
    } else {
        found = path_lookup(w0, w0len, path_env ? path_env : "/usr/local/bin:/usr/bin:/bin");
    }
    if (!found) return NULL;

    char **argv = malloc((size_t)(words + 1) * sizeof *argv + n + 1);
    if (!argv) { free(found); return NULL; }
    char *copy = (char *)(argv + words + 1);
    memcpy(copy, cmd, n + 1);
    int k = 0;
    for (char *tok = strtok(copy, " "); tok; tok = strtok(NULL, " ")) argv[k++] = tok;
    argv[k] = NULL;
    *prog = found;
    return argv;
}

/* The child's file actions. Each add call asks the system for its fd limit, so they are
   built once and kept while the pipe ends come out as the same fd numbers (the usual case:
   freed numbers are reused). A `cd` makes one-off actions. */
static struct {
    posix_spawn_file_actions_t fa;
    int in, out, err, valid;
} cached_actions;

static void build_actions(posix_spawn_file_actions_t *fa, int in, int out, int err, const char *cwd)
{
    posix_spawn_file_actions_init(fa);
    if (in >= 0) posix_spawn_file_actions_adddup2(fa, in, 0);
    else posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(fa, out, 1);
    posix_spawn_file_actions_adddup2(fa, err, 2);
    if (cwd) posix_spawn_file_actions_addchdir_np(fa, cwd);
}

/* One simple command whose first word is a program on PATH ("grep 'a b' f > out"): the shell
   runs it as "exec CMD", as bash -c (a remote login shell) does with a lone simple command, so
   a signal that kills the program is the command's signal (signal = "TERM", exitcode nil)
   here as there, not the shell's 128+n. NULL when cmd is anything else. */
static char *exec_form(const char *cmd, const char *path_env)
{
    size_t n = strlen(cmd);
    int q = 0;
    if (n == 0 || n > 1u << 20) return NULL;
    for (size_t i = 0; i < n; i++) {
        char c = cmd[i];
        if (q == '\'') { if (c == '\'') q = 0; continue; }
        if (c == '\\') { i++; continue; }
        if (c == '`' || (c == '$' && cmd[i + 1] == '(')) return NULL;
        if (q == '"') { if (c == '"') q = 0; continue; }
        if (c == '\'' || c == '"') { q = c; continue; }
        if (strchr(";&|()\n#{}!", c)) return NULL;
    }
    if (q) return NULL;
    const char *w0 = cmd + strspn(cmd, " \t");
    size_t w0len = strcspn(w0, " \t<>");
    if (w0len == 0) return NULL;
    for (size_t i = 0; i < w0len; i++) {
        unsigned char c = (unsigned char)w0[i];
        if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9') && !strchr("-_./,:+@%^", c))
            return NULL;
    }
    if (shell_builtin(w0, w0len)) return NULL;
    char *found = memchr(w0, '/', w0len) ? strndup(w0, w0len)
                                         : path_lookup(w0, w0len, path_env ? path_env : "/usr/local/bin:/usr/bin:/bin");
    int runnable = found && access(found, X_OK) == 0;
    free(found);
    if (!runnable) return NULL;
    char *s = malloc(n + 6);
    if (s) { memcpy(s, "exec ", 5); memcpy(s + 5, cmd, n + 1); }
    return s;
}

static posix_spawn_file_actions_t *spawn_actions(int in, int out, int err, const char *cwd)
{
    if (cwd) {
        posix_spawn_file_actions_t *fa = malloc(sizeof *fa);
        if (fa) build_actions(fa, in, out, err, cwd);
        return fa;
    }
    if (!cached_actions.valid || cached_actions.in != in || cached_actions.out != out || cached_actions.err != err) {
        if (cached_actions.valid) posix_spawn_file_actions_destroy(&cached_actions.fa);
        build_actions(&cached_actions.fa, in, out, err, NULL);
        cached_actions.in = in;
        cached_actions.out = out;
        cached_actions.err = err;
        cached_actions.valid = 1;
    }
    return &cached_actions.fa;
}

/* The child starts with no blocked signals and SIGPIPE back to its default (we ignore it),
   and leads a new process group (timeouts and Ctrl-C take the whole pipeline) or, with a
   pty, a new session (its terminal's), hence its own group too. Built once per kind. */
static posix_spawnattr_t *spawn_attr(int new_session)
{
    static posix_spawnattr_t attrs[2];
    static int ready[2];
    posix_spawnattr_t *attr = &attrs[new_session != 0];
    if (!ready[new_session != 0]) {
        spawn_attr_init(attr, new_session ? SPAWN_SESSION : SPAWN_GROUP, 0);
        ready[new_session != 0] = 1;
    }
    return attr;
}

/* pty = true: a new pseudo-terminal; the child starts a session with its slave as stdin,
   stdout and stderr (and controlling terminal), as sshd gives a remote command with a pty:
   stdout and stderr merge and its size is 200x50. *master gets the master side. */
static int pty_open(int *master, posix_spawn_file_actions_t **fa, const char *cwd)
{
    char slave[128];
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0) return -1;
    struct winsize ws = {.ws_row = 50, .ws_col = 200};
    if (grantpt(m) || unlockpt(m) || ptsname_r(m, slave, sizeof slave) || ioctl(m, TIOCSWINSZ, &ws)) goto fail;
    *fa = malloc(sizeof **fa);
    if (!*fa) goto fail;
    posix_spawn_file_actions_init(*fa);
    posix_spawn_file_actions_addopen(*fa, 0, slave, O_RDWR, 0);   /* after setsid: the ctty */
    posix_spawn_file_actions_adddup2(*fa, 0, 1);
    posix_spawn_file_actions_adddup2(*fa, 0, 2);
    if (cwd) posix_spawn_file_actions_addchdir_np(*fa, cwd);
    *master = m;
    return 0;
fail:
    close(m);
    return -1;
}


/* Builds envp from environ with the table at idx layered over it (NULL when no overrides). */
static char **build_env(lua_State *L, int idx, const char **path_out)
{
    if (lua_isnoneornil(L, idx)) return NULL;
    size_t n = 0;
    while (environ[n]) n++;
    size_t extra = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) { extra++; lua_pop(L, 1); }
    char **env = lua_newuserdatauv(L, (n + extra + 1) * sizeof *env, 0);   /* GC'd with the call */
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(environ[i], '=');
        if (eq) {
            lua_pushlstring(L, environ[i], (size_t)(eq - environ[i]));
            lua_rawget(L, idx);
            int overridden = !lua_isnil(L, -1);
            lua_pop(L, 1);
            if (overridden) continue;
        }
        env[k++] = environ[i];
    }
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        const char *key = luaL_checkstring(L, -2);
        if (lua_toboolean(L, -1) == 0 && !lua_isstring(L, -1)) { lua_pop(L, 1); continue; }  /* env{X=false} unsets */
        const char *val = luaL_checkstring(L, -1);
        lua_pushfstring(L, "%s=%s", key, val);
        env[k++] = (char *)lua_tostring(L, -1);
        if (strcmp(key, "PATH") == 0) *path_out = val;
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, env[k - 1]);  /* keep the string alive for the spawn */
        lua_pop(L, 2);
    }
    env[k] = NULL;
    return env;
}

static void release_env_strings(lua_State *L, char **env)
{
    if (!env) return;
    for (size_t i = 0; env[i]; i++) {
        lua_pushnil(L);
        lua_rawsetp(L, LUA_REGISTRYINDEX, env[i]);
    }
}

static int start_poll(struct local_op *op, uv_poll_t *h, int fd, int events, uv_poll_cb cb)
{
    int r = uv_poll_init(sched_loop(), h, fd);
    if (r) return r;
    h->data = op;
    op->open_handles++;
    return uv_poll_start(h, events, cb);
}

static int opt_field(lua_State *L, int opts, const char *name)
{
    if (lua_type(L, opts) != LUA_TTABLE) { lua_pushnil(L); return LUA_TNIL; }
    return lua_getfield(L, opts, name);
}

int local_lua_spawn(lua_State *L)
{
    const char *cmd = luaL_checkstring(L, 1);
    sched_check_interrupt(L);             /* after Ctrl-C nothing new starts */
    int opts = 2;
    struct command **ud = command_push(L);
    int ud_idx = lua_gettop(L);

    struct local_op *op = calloc(1, sizeof *op);
    if (!op) return luaL_error(L, "out of memory");
    op->cmd.type = &local_type;
    op->cmd.co.big[0].fd = op->cmd.co.big[1].fd = -1;   /* until cmdout_init (an error before
                                                           it must not close our stdin) */
    op->fd_out = op->fd_err = op->fd_in = -1;
    op->cmd.lua_owned = 1;
    *ud = &op->cmd;

    const char *cwd = NULL, *path_env = getenv("PATH");
    if (opt_field(L, opts, "cwd") == LUA_TSTRING) cwd = lua_tostring(L, -1);
    opt_field(L, opts, "env");
    int env_tbl = lua_gettop(L);
    char **env = lua_istable(L, env_tbl) ? build_env(L, env_tbl, &path_env) : NULL;
    size_t in_len = 0;
    const char *in = NULL;
    if (opt_field(L, opts, "stdin") == LUA_TSTRING) in = lua_tolstring(L, -1, &in_len);
    lua_pop(L, 1);
    int in_open = opt_field(L, opts, "stdin_open") == LUA_TBOOLEAN && lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (in_open && !in) in = "";
    int pty = opt_field(L, opts, "pty") == LUA_TBOOLEAN && lua_toboolean(L, -1);
    lua_pop(L, 1);
    lua_Number timeout = 0;
    if (opt_field(L, opts, "timeout") == LUA_TNUMBER) timeout = lua_tonumber(L, -1);
    lua_pop(L, 1);
    cmdout_init(L, &op->cmd.co, opts);

    int p_out[2] = {-1, -1}, p_err[2] = {-1, -1}, p_in[2] = {-1, -1};
    int err = 0;
    const char *what = "pipe";
    posix_spawn_file_actions_t *fa = NULL;
    posix_spawnattr_t *attr;
    if (pty) {          /* one master: read as stdout, a duplicate written as stdin */
        what = "pty";
        if (pty_open(&p_out[0], &fa, cwd) || (in && (p_in[1] = fcntl(p_out[0], F_DUPFD_CLOEXEC, 0)) < 0)) {
            err = errno;
            if (fa) { posix_spawn_file_actions_destroy(fa); free(fa); }
            goto out;
        }
        attr = spawn_attr(1);
    } else {
        if (pipe2(p_out, O_CLOEXEC) || pipe2(p_err, O_CLOEXEC) || (in && pipe2(p_in, O_CLOEXEC))) {
            err = errno;
            goto out;
        }
        fa = spawn_actions(in ? p_in[0] : -1, p_out[1], p_err[1], cwd);
        attr = spawn_attr(0);
    }

    char *prog = NULL;
    char **argv = pty ? NULL : simple_argv(cmd, path_env, &prog);
    op->cmd.t_start = uv_hrtime();
    if (argv) {
        err = posix_spawn(&op->pid, prog, fa, attr, argv, env ? env : environ);
        free(argv);
        free(prog);
        if (err) argv = NULL;          /* let the shell try, and report, as it would */
    }
    if (!argv) {
        char *ex = exec_form(cmd, path_env);
        char *sh_argv[] = {"sh", "-c", ex ? ex : (char *)cmd, NULL};
        err = posix_spawn(&op->pid, "/bin/sh", fa, attr, sh_argv, env ? env : environ);
        free(ex);
    }
    if (fa && fa != &cached_actions.fa) { posix_spawn_file_actions_destroy(fa); free(fa); }
    release_env_strings(L, env);
    what = cwd ? "spawn (in the cd folder)" : "spawn";
    if (err) goto out;

    if (p_out[1] >= 0) { close(p_out[1]); p_out[1] = -1; }
    if (p_err[1] >= 0) { close(p_err[1]); p_err[1] = -1; }
    op->fd_out = p_out[0]; p_out[0] = -1;
    op->fd_err = p_err[0]; p_err[0] = -1;
    /* (uv_poll_init makes the fds non-blocking.) */
    uv_timer_init(sched_loop(), &op->timer);
    op->timer.data = op;
    op->open_handles++;
    start_poll(op, &op->poll_out, op->fd_out, UV_READABLE, on_readable);
    if (op->fd_err >= 0) start_poll(op, &op->poll_err, op->fd_err, UV_READABLE, on_readable);
    if (in) {
        if (p_in[0] >= 0) { close(p_in[0]); p_in[0] = -1; }
        op->fd_in = p_in[1]; p_in[1] = -1;
        op->in_data = malloc(in_len ? in_len : 1);
        memcpy(op->in_data, in, in_len);
        op->in_len = in_len;
        op->in_hold = in_open;
        start_poll(op, &op->poll_in, op->fd_in, UV_WRITABLE, on_writable);
    }
    uint64_t first = cmdout_arm(&op->cmd.co, timeout);
    if (first) loop_timer_start(&op->timer, on_timer, first, 0);
    op->next_live = live_ops;
    if (live_ops) live_ops->prev_live = op;
    live_ops = op;
    lua_settop(L, ud_idx);
    return 1;

out:
    op->cmd.done = op->exited = 1;            /* nothing runs: __gc must not signal anything */
    op->pid = 0;
    for (int i = 0; i < 2; i++) {
        if (p_out[i] >= 0) close(p_out[i]);
        if (p_err[i] >= 0) close(p_err[i]);
        if (p_in[i] >= 0) close(p_in[i]);
    }
    lua_pushfstring(L, "cannot start command (%s): %s: %s", what, strerror(err), cmd);
    return lua_error(L);
}

/* Output was paused while Lua fell behind (cmdout_backlogged): read again. */
static void resume_reading(struct local_op *op)
{
    op->cmd.paused = 0;
    if (op->fd_out >= 0) uv_poll_start(&op->poll_out, UV_READABLE, on_readable);
    if (op->fd_err >= 0) uv_poll_start(&op->poll_err, UV_READABLE, on_readable);
}

static void local_resume(struct command *c) { resume_reading((struct local_op *)c); }

static void local_kill(struct command *c, int sig) { signal_group((struct local_op *)c, sig); }

static void local_interrupt(struct command *c) { interrupt_one((struct local_op *)c); }

/* The Lua object let go: a child still running is killed; memory goes when libuv lets go. */
static void local_release(struct command *c)
{
    struct local_op *op = (struct local_op *)c;
    if (op->cmd.paused && !op->cmd.done) resume_reading(op);   /* nobody reads any more: drain to the end */
    if (!op->cmd.done) {
        /* Already signalled (Ctrl-C, timeout): the grace timer sends SIGKILL if needed. */
        if (!op->killed) signal_group(op, SIGKILL);
        op->killed = 1;
    } else if (op->open_handles == 0) {
        op_free(op);
    }
}

void local_shutdown(void)
{
    while (live_ops) {
        struct local_op *op = live_ops;
        unlink_live(op);
        if (!op->exited) {
            signal_group(op, SIGKILL);
            waitpid(op->pid, NULL, 0);
            op->exited = 1;
        }
        op->cmd.done = 1;
        op->cmd.w.thread = NULL;
        child_watch_close(&op->exit_watch, handle_closed);
        int *fds[] = {&op->fd_out, &op->fd_err, &op->fd_in};
        uv_poll_t *polls[] = {&op->poll_out, &op->poll_err, &op->poll_in};
        for (int i = 0; i < 3; i++) {
            if (*fds[i] < 0) continue;
            close_handle(op, (uv_handle_t *)polls[i]);
            close(*fds[i]);
            *fds[i] = -1;
        }
        close_handle(op, (uv_handle_t *)&op->timer);
    }
}

void local_init(lua_State *L)
{
    sched_on_interrupt(interrupt_all);
    signal(SIGPIPE, SIG_IGN);
}
