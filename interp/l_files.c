/* Lua bindings for file transfer (see l_files.h). Errors of the file system calls come back
   as nil, message, code (as io.open does) so the Lua side can name host, path and cause. */
#include "l_files.h"
#include "l_remote.h"
#include "sshmod.h"
#include "ssh_sftp.h"
#include "scheduler.h"
#include "l_util.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define REQ_MT "sshs.sftpreq"
#define COPY_MT "sshs.localcopy"
/* The metatables, made with the first object of each kind (defined with files_open). */
static const struct lutil_meta req_meta, copy_meta;

/* ---- SFTP requests ---- */

static const struct { const char *name; enum sftp_what what; } whats[] = {
    {"stat", SFTP_STAT}, {"lstat", SFTP_LSTAT}, {"mkdir", SFTP_MKDIR}, {"rmdir", SFTP_RMDIR},
    {"unlink", SFTP_UNLINK}, {"rename", SFTP_RENAME}, {"symlink", SFTP_SYMLINK},
    {"readlink", SFTP_READLINK}, {"setstat", SFTP_SETSTAT}, {"list", SFTP_LIST},
    {"put", SFTP_PUT}, {"get", SFTP_GET}};

static struct sftp_req *check_req(lua_State *L)
{
    return lutil_checkbox(L, 1, REQ_MT, "transfer object already released");
}

static void push_attrs(lua_State *L, const struct sftp_attrs *a)
{
    lua_createtable(L, 0, 5);
    static const char *const types[] = {"file", "dir", "link", "special"};
    const char *t = a->type == 'f' ? types[0] : a->type == 'd' ? types[1]
                  : a->type == 'l' ? types[2] : a->type == 's' ? types[3] : NULL;
    if (t) { lua_pushstring(L, t); lua_setfield(L, -2, "type"); }
    if (a->has_size) { lua_pushinteger(L, (lua_Integer)a->size); lua_setfield(L, -2, "size"); }
    if (a->has_mode) { lua_pushinteger(L, a->mode); lua_setfield(L, -2, "mode"); }
    if (a->has_times) {
        lua_pushinteger(L, a->mtime); lua_setfield(L, -2, "mtime");
        lua_pushinteger(L, a->atime); lua_setfield(L, -2, "atime");
    }
}

/* Pushes what a finished request gives: true/attrs/list/string, or false, error, status. */
static int push_outcome(lua_State *L, struct sftp_req *r)
{
    if (r->failed) {
        lua_pushboolean(L, 0);
        lua_pushstring(L, r->error);
        if (r->status) lua_pushstring(L, sshapi->sftp_status_text(r->status)); else lua_pushnil(L);
        return 3;
    }
    switch (r->what) {
    case SFTP_STAT: case SFTP_LSTAT:
        push_attrs(L, &r->attrs);
        return 1;
    case SFTP_LIST:
        lua_createtable(L, (int)r->nentries, 0);
        for (size_t i = 0; i < r->nentries; i++) {
            push_attrs(L, &r->entries[i].a);
            lua_pushstring(L, r->entries[i].name);
            lua_setfield(L, -2, "name");
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        return 1;
    case SFTP_READLINK:
        lua_pushlstring(L, r->data.data ? r->data.data : "", r->data.len);
        return 1;
    case SFTP_GET:
        push_attrs(L, &r->attrs);
        lua_pushinteger(L, (lua_Integer)r->bytes);
        lua_setfield(L, -2, "bytes");
        if (r->fd < 0 && !r->failed) {
            lua_pushlstring(L, r->data.data ? r->data.data : "", r->data.len);
            lua_setfield(L, -2, "data");
        }
        return 1;
    case SFTP_PUT:
        lua_createtable(L, 0, 1);
        lua_pushinteger(L, (lua_Integer)r->bytes);
        lua_setfield(L, -2, "bytes");
        return 1;
    default:
        lua_pushboolean(L, 1);
        return 1;
    }
}

/* req:wait() -> outcome (see push_outcome). A Ctrl-C or a cancelled thread stops the
   transfer and still waits for its clean-up (the temporary removed), then raises. */
static int req_wait_k(lua_State *L, int status, lua_KContext ctx)
{
    struct sftp_req *r = check_req(L);
    if (!r->done) {
        if (sched_cancel_pending(L) || sched_interrupted()) sshapi->sftp_req_stop(r);
        return sched_wait(L, &r->w, req_wait_k, 0);
    }
    if (sched_cancel_pending(L) || (sched_interrupted() && r->failed)) sched_check_interrupt(L);
    return push_outcome(L, r);
}

static int req_wait(lua_State *L) { return req_wait_k(L, LUA_OK, 0); }

static int req_progress(lua_State *L)
{
    struct sftp_req *r = check_req(L);
    lua_pushinteger(L, (lua_Integer)r->bytes);
    return 1;
}

static int req_gc(lua_State *L)
{
    struct sftp_req *r = lutil_takebox(L, 1, REQ_MT);
    if (r) sshapi->sftp_req_release(r);
    return 0;
}

/* core.sftp(conn, what, {path=, path2=, mode=, set_mode=, atime=, mtime=, data=, source=,
   sink=}) -> request. source: a local file to send (PUT); sink: a new local file to fill
   (GET, created exclusively, mode 0600); without either, PUT sends data and GET returns it. */
static int l_sftp(lua_State *L)
{
    struct conn *c = remote_checkconn(L, 1);
    const char *w = luaL_checkstring(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    sched_check_interrupt(L);                 /* after Ctrl-C nothing new starts */
    int what = -1;
    for (size_t i = 0; i < sizeof whats / sizeof whats[0]; i++)
        if (strcmp(whats[i].name, w) == 0) what = (int)whats[i].what;
    if (what < 0) return luaL_error(L, "core.sftp: unknown request '%s'", w);

    struct sftp_req **ud = lua_newuserdatauv(L, sizeof *ud, 0);
    *ud = NULL;
    lutil_setmeta(L, &req_meta);
    struct sftp_req *r = sshapi->sftp_new((enum sftp_what)what);
    if (!r) return luaL_error(L, "out of memory");
    *ud = r;
    r->path = lutil_strfield(L, 3, "path");
    r->path2 = lutil_strfield(L, 3, "path2");
    if (!r->path) return luaL_error(L, "core.sftp: no path");
    lua_getfield(L, 3, "mode");
    if (lua_isinteger(L, -1)) r->mode = (unsigned)lua_tointeger(L, -1);
    else r->mode = what == SFTP_MKDIR ? 0777 : 0666;
    lua_getfield(L, 3, "set_mode");
    r->set_mode = lua_toboolean(L, -1);
    lua_getfield(L, 3, "mtime");
    if (lua_isinteger(L, -1)) {
        r->set_times = 1;
        r->mtime = lua_tointeger(L, -1);
        lua_getfield(L, 3, "atime");
        r->atime = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : r->mtime;
        lua_pop(L, 1);
    }
    lua_pop(L, 3);
    lua_getfield(L, 3, "timeout");
    r->timeout = lua_tonumber(L, -1);
    lua_pop(L, 1);

    char *source = lutil_strfield(L, 3, "source"), *sinkp = lutil_strfield(L, 3, "sink");
    int err = 0;
    const char *failed_path = NULL;
    if (what == SFTP_PUT && source) {
        r->fd = open(source, O_RDONLY | O_CLOEXEC);
        if (r->fd < 0) { err = errno; failed_path = source; }
    } else if (what == SFTP_PUT) {
        size_t n;
        lua_getfield(L, 3, "data");
        const char *d = lua_tolstring(L, -1, &n);
        if (d && n && buf_append(&r->data, d, n) < 0) err = ENOMEM;
        lua_pop(L, 1);
    } else if (what == SFTP_GET && sinkp) {
        r->fd = open(sinkp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (r->fd < 0) { err = errno; failed_path = sinkp; }
    }
    if (err) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", failed_path ? failed_path : "?", strerror(err));
        free(source);
        free(sinkp);
        return 2;
    }
    free(source);
    free(sinkp);
    sshapi->sftp_submit(c, r);
    return 1;
}

/* ---- the local file system ---- */

static int fs_fail(lua_State *L, int e)
{
    lua_pushnil(L);
    lua_pushstring(L, e == ENOSPC ? "disk full" : strerror(e));
    lua_pushinteger(L, e);
    return 3;
}

static void push_stat(lua_State *L, const struct stat *st)
{
    lua_createtable(L, 0, 5);
    const char *t = S_ISREG(st->st_mode) ? "file" : S_ISDIR(st->st_mode) ? "dir"
                  : S_ISLNK(st->st_mode) ? "link" : "special";
    lua_pushstring(L, t); lua_setfield(L, -2, "type");
    lua_pushinteger(L, (lua_Integer)st->st_size); lua_setfield(L, -2, "size");
    lua_pushinteger(L, st->st_mode & 07777); lua_setfield(L, -2, "mode");
    lua_pushinteger(L, (lua_Integer)st->st_mtime); lua_setfield(L, -2, "mtime");
    lua_pushinteger(L, (lua_Integer)st->st_atime); lua_setfield(L, -2, "atime");
}

/* core.fs_stat(path, follow) -> attrs | nil, err, errno */
static int fs_stat(lua_State *L)
{
    const char *p = luaL_checkstring(L, 1);
    struct stat st;
    if ((lua_toboolean(L, 2) ? stat(p, &st) : lstat(p, &st)) != 0) return fs_fail(L, errno);
    push_stat(L, &st);
    return 1;
}

/* core.fs_list(dir) -> array of {name=, type=, size=, mode=, mtime=} (lstat of each) */
static int fs_list(lua_State *L)
{
    const char *p = luaL_checkstring(L, 1);
    DIR *d = opendir(p);
    if (!d) return fs_fail(L, errno);
    lua_newtable(L);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;   /* gone */
        push_stat(L, &st);
        lua_pushstring(L, e->d_name);
        lua_setfield(L, -2, "name");
        lua_rawseti(L, -2, ++n);
    }
    closedir(d);
    return 1;
}

static int fs_result(lua_State *L, int rc)
{
    if (rc != 0) return fs_fail(L, errno);
    lua_pushboolean(L, 1);
    return 1;
}

static int fs_mkdir(lua_State *L)
{
    return fs_result(L, mkdir(luaL_checkstring(L, 1), (mode_t)luaL_optinteger(L, 2, 0777)));
}
static int fs_rename(lua_State *L) { return fs_result(L, rename(luaL_checkstring(L, 1), luaL_checkstring(L, 2))); }
static int fs_unlink(lua_State *L) { return fs_result(L, unlink(luaL_checkstring(L, 1))); }
static int fs_rmdir(lua_State *L) { return fs_result(L, rmdir(luaL_checkstring(L, 1))); }
static int fs_symlink(lua_State *L) { return fs_result(L, symlink(luaL_checkstring(L, 1), luaL_checkstring(L, 2))); }
static int fs_chmod(lua_State *L)
{
    return fs_result(L, chmod(luaL_checkstring(L, 1), (mode_t)luaL_checkinteger(L, 2)));
}

/* core.fs_utime(path, atime, mtime): whole seconds, as SFTP carries them. */
static int fs_utime(lua_State *L)
{
    struct timespec ts[2] = {{.tv_sec = (time_t)luaL_checkinteger(L, 2)},
                             {.tv_sec = (time_t)luaL_checkinteger(L, 3)}};
    return fs_result(L, utimensat(AT_FDCWD, luaL_checkstring(L, 1), ts, AT_SYMLINK_NOFOLLOW));
}

static int fs_readlink(lua_State *L)
{
    char b[4096];
    ssize_t n = readlink(luaL_checkstring(L, 1), b, sizeof b);
    if (n < 0) return fs_fail(L, errno);
    lua_pushlstring(L, b, (size_t)n);
    return 1;
}

static int fs_umask(lua_State *L)
{
    mode_t m = umask(0);
    umask(m);
    lua_pushinteger(L, m);
    return 1;
}

/* core.fs_write(path, data, mode): a new file (exclusive) holding data. */
static int fs_write(lua_State *L)
{
    size_t n;
    const char *path = luaL_checkstring(L, 1);
    const char *d = luaL_checklstring(L, 2, &n);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)luaL_optinteger(L, 3, 0666));
    if (fd < 0) return fs_fail(L, errno);
    while (n > 0) {
        ssize_t w = write(fd, d, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) { int e = errno; close(fd); return fs_fail(L, e); }
        d += w;
        n -= (size_t)w;
    }
    if (close(fd) != 0) return fs_fail(L, errno);
    lua_pushboolean(L, 1);
    return 1;
}

/* A local copy in slices, so other threads run between them: core.fs_copy(src, dst, mode)
   -> copier; copier:step() -> bytes copied (0 at the end) | nil, err; copier:close(). */
struct copier { int in, out; };

static int fs_copy(lua_State *L)
{
    const char *src = luaL_checkstring(L, 1), *dst = luaL_checkstring(L, 2);
    struct copier *cp = lua_newuserdatauv(L, sizeof *cp, 0);
    cp->in = cp->out = -1;
    lutil_setmeta(L, &copy_meta);
    cp->in = open(src, O_RDONLY | O_CLOEXEC);
    if (cp->in < 0) { fs_fail(L, errno); lua_pushliteral(L, "source"); return 4; }
    cp->out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)luaL_optinteger(L, 3, 0666));
    if (cp->out < 0) { fs_fail(L, errno); lua_pushliteral(L, "target"); return 4; }
    return 1;
}

#define COPY_SLICE (8u * 1024 * 1024)

static int copier_step(lua_State *L)
{
    struct copier *cp = luaL_checkudata(L, 1, COPY_MT);
    if (cp->in < 0 || cp->out < 0) return luaL_error(L, "copy already closed");
    ssize_t n = copy_file_range(cp->in, NULL, cp->out, NULL, COPY_SLICE, 0);
    if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
        static char b[1 << 20];               /* the plain way (other file systems) */
        n = read(cp->in, b, sizeof b);
        if (n > 0) {
            for (ssize_t off = 0; off < n;) {
                ssize_t w = write(cp->out, b + off, (size_t)(n - off));
                if (w < 0 && errno == EINTR) continue;
                if (w < 0) return fs_fail(L, errno);
                off += w;
            }
        }
    }
    if (n < 0) return fs_fail(L, errno);
    lua_pushinteger(L, n);
    return 1;
}

static int copier_close(lua_State *L)
{
    struct copier *cp = luaL_checkudata(L, 1, COPY_MT);
    int rc = 0, e = 0;
    if (cp->in >= 0) close(cp->in);
    if (cp->out >= 0 && close(cp->out) != 0) { rc = -1; e = errno; }
    cp->in = cp->out = -1;
    if (rc) return fs_fail(L, e);
    lua_pushboolean(L, 1);
    return 1;
}

static const luaL_Reg req_methods[] = {
    {"wait", req_wait}, {"progress", req_progress}, {"release", req_gc}, {NULL, NULL}};
static const luaL_Reg req_metamethods[] = {{"__gc", req_gc}, {"__close", req_gc}, {NULL, NULL}};
static const struct lutil_meta req_meta = {REQ_MT, req_methods, req_metamethods};
static const luaL_Reg copy_methods[] = {{"step", copier_step}, {"close", copier_close}, {NULL, NULL}};
static const luaL_Reg copy_metamethods[] = {{"__gc", copier_close}, {"__close", copier_close}, {NULL, NULL}};
static const struct lutil_meta copy_meta = {COPY_MT, copy_methods, copy_metamethods};

void files_open(lua_State *L, int core_idx)
{

    static const luaL_Reg fns[] = {
        {"sftp", l_sftp}, {"fs_stat", fs_stat}, {"fs_list", fs_list}, {"fs_mkdir", fs_mkdir},
        {"fs_rename", fs_rename}, {"fs_unlink", fs_unlink}, {"fs_rmdir", fs_rmdir},
        {"fs_symlink", fs_symlink}, {"fs_readlink", fs_readlink}, {"fs_chmod", fs_chmod},
        {"fs_utime", fs_utime}, {"fs_umask", fs_umask}, {"fs_write", fs_write},
        {"fs_copy", fs_copy}, {NULL, NULL}};
    lua_pushvalue(L, core_idx);
    luaL_setfuncs(L, fns, 0);
    lua_pop(L, 1);
}

/* Transfers end (their temporaries removed) before the forwards and connections go. */
void files_shutdown(void)
{
    if (sshapi) sshapi->ops_shutdown();
}
