/* SFTP requests as ops on a connection (see ssh_sftp.h; the engine's parts: ssh_sftp_op.h).

   Each request is an op of its connection on the shared SFTP link. A call takes its kind's
   lock (sftp_lock), keeps it while the call says EAGAIN (it must be repeated with the same
   arguments) and gives it up when the call returns. Calls of different kinds overlap (one
   file's open, another's write, a third's rename), and each call returns as soon as some of
   its data is acknowledged while the requests already sent stay in flight.

   Stopping (a time limit, Ctrl-C, the Lua side gone) acts between calls, never half-way
   through one; a request that cannot get to its clean-up within OP_GIVE_UP_MS (a server that
   stopped answering mid-transfer) is reported as failed then, and finishes its clean-up
   behind, as a command does. */
#include "ssh_sftp_op.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- one-call requests: one function per call kind ---- */

static unsigned len(const char *s) { return (unsigned)strlen(s); }

static int call_stat(struct xop *o, LIBSSH2_SFTP_ATTRIBUTES *la)
{
    int how = o->r.what == SFTP_STAT ? LIBSSH2_SFTP_STAT : LIBSSH2_SFTP_LSTAT;
    return libssh2_sftp_stat_ex(o->link->sftp, o->r.path, len(o->r.path), how, la);
}

static int call_setstat(struct xop *o, LIBSSH2_SFTP_ATTRIBUTES *la)
{
    sftp_to_attrs(&o->r, la);
    return libssh2_sftp_stat_ex(o->link->sftp, o->r.path, len(o->r.path), LIBSSH2_SFTP_SETSTAT, la);
}

static int call_mkdir(struct xop *o, LIBSSH2_SFTP_ATTRIBUTES *la)
{
    return libssh2_sftp_mkdir_ex(o->link->sftp, o->r.path, len(o->r.path), (long)(o->r.mode & 07777));
}

static int call_rmdir(struct xop *o, LIBSSH2_SFTP_ATTRIBUTES *la)
{
    return libssh2_sftp_rmdir_ex(o->link->sftp, o->r.path, len(o->r.path));
}

static int call_unlink(struct xop *o, LIBSSH2_SFTP_ATTRIBUTES *la)
{
    return libssh2_sftp_unlink_ex(o->link->sftp, o->r.path, len(o->r.path));
}

static int call_rename(struct xop *o, LIBSSH2_SFTP_ATTRIBUTES *la)
{
    return libssh2_sftp_rename_ex(o->link->sftp, o->r.path, len(o->r.path), o->r.path2, len(o->r.path2), 0);
}

/* OpenSSH takes (target, link) in this order, as libssh2 sends them. */
static int call_symlink(struct xop *o, LIBSSH2_SFTP_ATTRIBUTES *la)
{
    return libssh2_sftp_symlink_ex(o->link->sftp, o->r.path2, len(o->r.path2), o->r.path, len(o->r.path),
                                   LIBSSH2_SFTP_SYMLINK);
}

static int call_readlink(struct xop *o, LIBSSH2_SFTP_ATTRIBUTES *la)
{
    return libssh2_sftp_symlink_ex(o->link->sftp, o->r.path, len(o->r.path), o->name, sizeof o->name - 1,
                                   LIBSSH2_SFTP_READLINK);
}

static void got_attrs(struct xop *o, int rc, const LIBSSH2_SFTP_ATTRIBUTES *la)
{
    sftp_fill_attrs(&o->r.attrs, la);
}

static void got_target(struct xop *o, int rc, const LIBSSH2_SFTP_ATTRIBUTES *la)
{
    buf_append(&o->r.data, o->name, (size_t)rc);
}

static const struct path_call {
    enum kind kind;                     /* its call lock */
    const char *what;                   /* for the error */
    int (*call)(struct xop *o, LIBSSH2_SFTP_ATTRIBUTES *la);
    void (*got)(struct xop *o, int rc, const LIBSSH2_SFTP_ATTRIBUTES *la);   /* its answer */
} calls[] = {
    [SFTP_STAT] = {K_STAT, "stat", call_stat, got_attrs},
    [SFTP_LSTAT] = {K_STAT, "stat", call_stat, got_attrs},
    [SFTP_SETSTAT] = {K_STAT, "setstat", call_setstat, NULL},
    [SFTP_MKDIR] = {K_MKDIR, "mkdir", call_mkdir, NULL},
    [SFTP_RMDIR] = {K_RMDIR, "rmdir", call_rmdir, NULL},
    [SFTP_UNLINK] = {K_UNLINK, "unlink", call_unlink, NULL},
    [SFTP_RENAME] = {K_RENAME, "rename", call_rename, NULL},
    [SFTP_SYMLINK] = {K_SYMLINK, "symlink", call_symlink, NULL},
    [SFTP_READLINK] = {K_SYMLINK, "readlink", call_readlink, got_target},
};

static enum ssh_step st_call(struct ssh_op *op)
{
    struct xop *o = xop_of(op);
    const struct path_call *pc = &calls[o->r.what];
    LIBSSH2_SFTP_ATTRIBUTES la;
    int rc;
    SFTP_CALL(o, pc->kind, rc, pc->call(o, &la));
    if (rc < 0) {
        sftp_record(o, pc->what, rc);
        if (conn_step_of(rc) == SSH_STEP_LOST) return SSH_STEP_LOST;
        op_finish(op);
        return SSH_STEP_FAILED;
    }
    if (pc->got) pc->got(o, rc, &la);
    op_finish(op);
    return SSH_STEP_DONE;
}

/* ---- the request's stages ---- */

/* Waits for the link, then goes to the request's first call. */
static enum ssh_step st_start(struct ssh_op *op)
{
    struct xop *o = xop_of(op);
    if (o->link->state == L_OPENING) return SSH_STEP_WAITING;
    if (o->link->state != L_READY) {
        sftp_fail(o, o->link->error[0] ? o->link->error : "the SFTP channel is closed");
        op_finish(op);
        return SSH_STEP_FAILED;
    }
    int files = o->r.what == SFTP_PUT || o->r.what == SFTP_GET || o->r.what == SFTP_LIST;
    return op_next(op, files ? X_OPEN : X_CALL);
}

static const struct op_stage stages[] = {
    [X_START] = {"start", st_start},        [X_CALL] = {"call", st_call},
    [X_READDIR] = {"readdir", xf_readdir},  [X_OPEN] = {"open", xf_open},
    [X_FSTAT] = {"fstat", xf_fstat},        [X_READ] = {"read", xf_read},
    [X_WRITE] = {"write", xf_write},        [X_FSETSTAT] = {"fsetstat", xf_fsetstat},
    [X_CLOSE] = {"close", xf_close},        [X_RENAME] = {"rename", xf_rename},
    [X_RENAME_PLAIN] = {"rename-plain", xf_rename_plain},  [X_ASIDE] = {"aside", xf_aside},
    [X_RENAME2] = {"rename2", xf_rename2},  [X_DROP_OLD] = {"drop-old", xf_drop_old},
    [X_FAIL_CLOSE] = {"fail-close", xf_fail_close},  [X_FAIL_UNLINK] = {"fail-unlink", xf_fail_unlink},
    [X_FAIL_RESTORE] = {"fail-restore", xf_fail_restore},
};

/* Before every step, between two calls (none half-way, no data phase open): a stop goes to
   the clean-up (once the file is being renamed into place it completes instead), and a link
   that broke under the request ends it. */
static void xop_before(struct ssh_op *op)
{
    struct xop *o = xop_of(op);
    if (o->held || o->link->exclusive == o) return;
    if (o->stop && op->stage < X_RENAME) {
        sftp_fail(o, "interrupted");
        sftp_fail_path(o);
    }
    if (!op->finished && op->stage != X_START && o->link->state != L_READY) {
        sftp_fail(o, o->link->error[0] ? o->link->error : "the SFTP channel closed");
        o->h = NULL;                    /* went with the channel */
        op_finish(op);
    }
}

/* ---- the lifecycle ---- */

/* The result is ready: wake the waiter (once). */
static void report(struct xop *o)
{
    if (o->r.done) return;
    o->r.done = 1;
    sched_wake(&o->r.w);
}

static void xop_finished(struct ssh_op *op)
{
    struct xop *o = xop_of(op);
    sftp_unlock_all(o);
    if (o->r.fd >= 0) { close(o->r.fd); o->r.fd = -1; }
    sftp_release_buf(o);
    report(o);
}

static void xop_abort(struct ssh_op *op, const char *why)
{
    struct xop *o = xop_of(op);
    if (o->h) {
        /* The session is going away: free the handle now, briefly blocking (a dead socket
           fails at once, a silent server after 200 ms), or libssh2 would keep its memory. */
        LIBSSH2_SESSION *s = conn_session(op->conn);
        if (s) {
            libssh2_session_set_timeout(s, 200);
            libssh2_session_set_blocking(s, 1);
            libssh2_sftp_close_handle(o->h);
            libssh2_session_set_blocking(s, 0);
            libssh2_session_set_timeout(s, 0);
        }
        o->h = NULL;
    }
    if (!o->r.failed || !o->r.error[0]) snprintf(o->r.error, sizeof o->r.error, "%s", why);
    o->r.failed = 1;
    op_finish(op);
}

/* The stop has not ended it (the server stopped answering half-way through a call): the
   request fails now; its clean-up goes on behind, until the server answers or the
   connection ends. */
static void give_up(struct ssh_op *op)
{
    struct xop *o = xop_of(op);
    sftp_fail(o, "interrupted");
    op->given_up = 1;
    report(o);
}

static void xop_stop(struct ssh_op *op)
{
    xop_of(op)->stop = 1;
    op_arm(op, OP_GIVE_UP_MS, give_up);
}

static void xop_free(struct ssh_op *op)
{
    struct xop *o = xop_of(op);
    if (o->r.fd >= 0) close(o->r.fd);
    free(o->r.path);
    free(o->r.path2);
    buf_free(&o->r.data);
    for (size_t i = 0; i < o->r.nentries; i++) free(o->r.entries[i].name);
    free(o->r.entries);
    sftp_release_buf(o);
    free(o->aside);
    if (o->link) link_unref(o->link);
    free(o);
}

static const struct ssh_op_type xop_type = {
    .name = "sftp-request", .stages = stages, .before = xop_before, .abort = xop_abort,
    .stop = xop_stop, .finished = xop_finished, .free = xop_free};

/* ---- the interface ---- */

struct sftp_req *sftp_new(enum sftp_what what)
{
    struct xop *o = calloc(1, sizeof *o);
    if (!o) return NULL;
    o->r.what = what;
    o->r.fd = -1;
    return &o->r;
}

static struct xop *xop_of_req(struct sftp_req *r)
{
    return (struct xop *)((char *)r - offsetof(struct xop, r));
}

static void on_timeout(struct ssh_op *op)
{
    struct xop *o = xop_of(op);
    snprintf(o->r.error, sizeof o->r.error, "timed out after %gs", o->r.timeout);
    op_stop(op);
}

void sftp_submit(struct conn *c, struct sftp_req *r)
{
    struct xop *o = xop_of_req(r);
    op_init(&o->op, &xop_type, c);
    if (r->timeout > 0) op_arm(&o->op, (uint64_t)(r->timeout * 1000 + 0.5), on_timeout);
    if (conn_state(c) != C_DEAD && !(o->link = link_get(c))) {
        sftp_fail(o, "out of memory");
        op_finish(&o->op);
        return;
    }
    op_start(&o->op);                   /* on a dead connection: aborted at once */
}

void sftp_req_stop(struct sftp_req *r)
{
    struct xop *o = xop_of_req(r);
    if (o->op.type) op_stop(&o->op);
}

void sftp_req_release(struct sftp_req *r)
{
    struct xop *o = xop_of_req(r);
    o->r.w.thread = NULL;
    if (!o->op.type) { xop_free(&o->op); return; }   /* never submitted */
    op_stop(&o->op);
    op_release(&o->op);
}
