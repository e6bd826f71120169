/* The link: one LIBSSH2_SFTP per connection, an op that holds a channel slot (MaxSessions)
   from the first request until the connection closes; between transfers it is "idle" (it
   waits on nothing, so the connection neither polls for it nor keeps it from closing), and it
   holds no reference on its connection. And the call locks that the requests on it share
   (see enum kind in ssh_sftp_op.h). */
#include "ssh_sftp_op.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { LK_OPEN, LK_SERVE };             /* the link's stages */

static struct link *links;              /* open or opening, one per connection */

static void link_unlist(struct link *l)
{
    for (struct link **p = &links; *p; p = &(*p)->next)
        if (*p == l) { *p = l->next; l->next = NULL; return; }
}

static int link_busy(const struct link *l)
{
    for (int k = 0; k < K_COUNT; k++)
        if (l->locks[k]) return 1;
    return l->exclusive != NULL;
}

/* The link's connection is done with it (it failed to open, broke, or the connection died):
   its own reference goes. */
static void link_detach(struct link *l)
{
    link_unlist(l);
    op_finish(&l->op);
    link_unref(l);
}

/* libssh2_sftp_init opens its own channel and sends the "subsystem" request, so it cannot use
   chan_open_session/chan_request: it takes the request lock itself (chan_lock) for the whole
   call, which covers both waits for a reply (libssh2 1.10 keeps their state in the session),
   and reports through chan_opened. */
static enum ssh_step lk_open(struct ssh_op *op)
{
    struct link *l = (struct link *)op;
    LIBSSH2_SESSION *s = conn_session(op->conn);
    enum ssh_step r = chan_lock_open(&l->ch);
    if (r != SSH_STEP_DONE) return r;
    l->sftp = libssh2_sftp_init(s);
    if (!l->sftp && libssh2_session_last_errno(s) == LIBSSH2_ERROR_EAGAIN) return SSH_STEP_AGAIN;
    op->progress = 1;                   /* requests waiting for the link go on */
    r = chan_opened(&l->ch, l->sftp != NULL, "starting SFTP");
    if (r == SSH_STEP_REQUEUED || r == SSH_STEP_LOST || r == SSH_STEP_AGAIN) return r;
    if (r != SSH_STEP_DONE) {
        snprintf(l->error, sizeof l->error, "%s (is SFTP enabled on the server?)", l->ch.error);
        l->state = L_BROKEN;
        link_detach(l);
        return SSH_STEP_FAILED;
    }
    l->state = L_READY;
    op->idle = 1;
    return op_next(op, LK_SERVE);
}

/* Idle while it serves; once broken (the SFTP channel failed under a request) and no call is
   in flight: close it and free the slot. */
static enum ssh_step lk_serve(struct ssh_op *op)
{
    struct link *l = (struct link *)op;
    if (l->state != L_BROKEN || link_busy(l)) return SSH_STEP_WAITING;
    if (l->sftp) {
        if (libssh2_sftp_shutdown(l->sftp) == LIBSSH2_ERROR_EAGAIN) return SSH_STEP_AGAIN;
        l->sftp = NULL;
    }
    link_detach(l);
    return SSH_STEP_DONE;
}

static const struct op_stage link_stages[] = {
    [LK_OPEN] = {"open", lk_open}, [LK_SERVE] = {"serve", lk_serve}};

static void link_abort(struct ssh_op *op, const char *why)
{
    struct link *l = (struct link *)op;
    chan_forget(&l->ch);
    l->sftp = NULL;                     /* freed with the session (channel close callback) */
    if (l->state != L_BROKEN) snprintf(l->error, sizeof l->error, "%s", why);
    l->state = L_GONE;
    link_detach(l);
}

static void link_free(struct ssh_op *op) { free(op); }

/* A command waits for a channel slot: between transfers (no transfer holds the link) the
   link closes; the next transfer opens a new one, waiting its turn. */
static void link_yield_slot(struct ssh_op *op)
{
    struct link *l = (struct link *)op;
    if (l->state != L_READY || l->refs != 1 || link_busy(l)) return;
    if (conn_tracing()) fprintf(stderr, "sshs: trace: %s: SFTP channel closed (a command waits for its slot)\n",
                                conn_display(op->conn));
    op->idle = 0;                       /* stepped again: lk_serve closes it */
    link_broken(l);
}

static const struct ssh_op_type link_type = {
    .name = "sftp", .stages = link_stages, .uses_channel = 1, .weak = 1,
    .abort = link_abort, .free = link_free, .yield_slot = link_yield_slot};

struct link *link_get(struct conn *c)
{
    for (struct link *l = links; l; l = l->next)
        if (l->op.conn == c && (l->state == L_OPENING || l->state == L_READY)) { l->refs++; return l; }
    struct link *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    op_init(&l->op, &link_type, c);
    chan_init(&l->ch, &l->op);
    l->refs = 2;                        /* the caller's, and its connection's while attached */
    l->next = links;
    links = l;
    op_start(&l->op);
    return l;
}

void link_unref(struct link *l)
{
    if (--l->refs == 0) { op_release(&l->op); return; }
    /* The last transfer let go while a command waits for a slot: give it up now. */
    if (l->refs == 1 && l->op.idle && conn_slot_wanted(l->op.conn)) link_yield_slot(&l->op);
}

void link_broken(struct link *l)
{
    if (l->state != L_READY && l->state != L_OPENING) return;
    l->state = L_BROKEN;
    link_unlist(l);
    conn_kick(l->op.conn);
}

void sftp_unlock(struct xop *o)
{
    if (o->held) o->link->locks[o->held - 1] = NULL;
    o->held = 0;
    o->op.progress = 1;                 /* whoever waited for the lock may go on */
}

void sftp_unlock_all(struct xop *o)
{
    if (!o->link) return;
    if (o->held) { o->link->locks[o->held - 1] = NULL; o->held = 0; }
    if (o->link->exclusive == o) o->link->exclusive = NULL;
}

/* The data phases (a file's reads or writes) are exclusive, from the first call to the last:
   sftp_read and sftp_write return as soon as some data is acknowledged, possibly with an SFTP
   packet half-sent on the channel (the server's window took only part of it), and any other
   request sent then would land inside that packet. So a data phase starts only when no other
   call is unfinished, and nothing else is sent until it has ended (every byte acknowledged). */
int sftp_lock(struct xop *o, enum kind k)
{
    struct link *l = o->link;
    if (o->held && o->held - 1 != (int)k) sftp_unlock(o);
    if (k == K_DATA) {
        if (l->exclusive == o) return 1;
        if (l->exclusive) return 0;
        for (int i = 0; i < K_COUNT; i++)
            if (l->locks[i] && l->locks[i] != o) return 0;
        l->exclusive = o;
        return 1;
    }
    if (l->exclusive == o) l->exclusive = NULL;     /* the data phase is over */
    else if (l->exclusive) return 0;
    struct xop **slot = &l->locks[k];
    if (*slot && *slot != o) return 0;
    *slot = o;
    o->held = (int)k + 1;
    return 1;
}

/* ---- status and attributes, for every request ---- */

const char *sftp_status_text(unsigned long st)
{
    switch (st) {
    case LIBSSH2_FX_EOF: return "end of file";
    case LIBSSH2_FX_NO_SUCH_FILE: return "no such file or directory";
    case LIBSSH2_FX_PERMISSION_DENIED: return "permission denied";
    case LIBSSH2_FX_FAILURE: return "failed";
    case LIBSSH2_FX_BAD_MESSAGE: return "bad message (invalid name or argument?)";
    case LIBSSH2_FX_NO_CONNECTION: return "no connection";
    case LIBSSH2_FX_CONNECTION_LOST: return "connection lost";
    case LIBSSH2_FX_OP_UNSUPPORTED: return "operation not supported by the server";
    case LIBSSH2_FX_INVALID_HANDLE: return "invalid handle";
    case LIBSSH2_FX_NO_SUCH_PATH: return "no such path";
    case LIBSSH2_FX_FILE_ALREADY_EXISTS: return "file already exists";
    case LIBSSH2_FX_WRITE_PROTECT: return "read-only file system";
    case LIBSSH2_FX_NO_MEDIA: return "no medium";
    case LIBSSH2_FX_NO_SPACE_ON_FILESYSTEM: return "disk full";
    case LIBSSH2_FX_QUOTA_EXCEEDED: return "disk quota exceeded";
    case LIBSSH2_FX_UNKNOWN_PRINCIPAL: return "unknown user or group";
    case LIBSSH2_FX_LOCK_CONFLICT: return "locked";
    case LIBSSH2_FX_DIR_NOT_EMPTY: return "directory not empty";
    case LIBSSH2_FX_NOT_A_DIRECTORY: return "not a directory";
    case LIBSSH2_FX_INVALID_FILENAME: return "invalid file name";
    case LIBSSH2_FX_LINK_LOOP: return "too many levels of symbolic links";
    default: return "SFTP error";
    }
}

void sftp_record(struct xop *o, const char *what, int rc)
{
    if (conn_step_of(rc) == SSH_STEP_LOST) return;   /* the connection fails: abort() says why */
    if (rc == LIBSSH2_ERROR_SFTP_PROTOCOL && o->link->sftp) {
        o->r.status = libssh2_sftp_last_error(o->link->sftp);
        /* OpenSSH's sftp-server sends ENOSPC and EDQUOT as a bare "failure". */
        int writing = strcmp(what, "writing") == 0 || strcmp(what, "closing") == 0;
        snprintf(o->r.error, sizeof o->r.error, "%s%s", sftp_status_text(o->r.status),
                 writing && o->r.status == LIBSSH2_FX_FAILURE ? " (disk full or quota? the server did not say)" : "");
    } else {
        char *msg = NULL;
        libssh2_session_last_error(conn_session(o->op.conn), &msg, NULL, 0);
        snprintf(o->r.error, sizeof o->r.error, "%s failed: %s (%d)", what,
                 msg && *msg ? msg : "libssh2 error", rc);
        if (rc == LIBSSH2_ERROR_CHANNEL_CLOSED || rc == LIBSSH2_ERROR_CHANNEL_EOF_SENT ||
            rc == LIBSSH2_ERROR_CHANNEL_FAILURE)
            link_broken(o->link);       /* the SFTP channel is gone: the next request opens one */
    }
    o->r.failed = 1;
}

void sftp_fill_attrs(struct sftp_attrs *a, const LIBSSH2_SFTP_ATTRIBUTES *la)
{
    memset(a, 0, sizeof *a);
    if (la->flags & LIBSSH2_SFTP_ATTR_SIZE) { a->has_size = 1; a->size = la->filesize; }
    if (la->flags & LIBSSH2_SFTP_ATTR_PERMISSIONS) {
        unsigned long p = la->permissions;
        a->has_mode = 1;
        a->mode = (unsigned)(p & 07777);
        a->type = LIBSSH2_SFTP_S_ISREG(p) ? 'f' : LIBSSH2_SFTP_S_ISDIR(p) ? 'd'
                : LIBSSH2_SFTP_S_ISLNK(p) ? 'l' : 's';
    }
    if (la->flags & LIBSSH2_SFTP_ATTR_ACMODTIME) {
        a->has_times = 1;
        a->atime = (int64_t)la->atime;
        a->mtime = (int64_t)la->mtime;
    }
}

void sftp_to_attrs(const struct sftp_req *r, LIBSSH2_SFTP_ATTRIBUTES *la)
{
    memset(la, 0, sizeof *la);
    if (r->set_mode) { la->flags |= LIBSSH2_SFTP_ATTR_PERMISSIONS; la->permissions = r->mode & 07777; }
    if (r->set_times) {
        la->flags |= LIBSSH2_SFTP_ATTR_ACMODTIME;
        la->atime = (unsigned long)r->atime;
        la->mtime = (unsigned long)r->mtime;
    }
}
