/* The stages of a file or folder request (see ssh_sftp_op.h): open; for GET fstat and read,
   for PUT write, set attributes, close and rename the temporary into place (posix-rename, or
   a plain rename with the old file moved aside); for LIST readdir; and the clean-up after a
   failure (close, remove the temporary, put the old file back).

   Throughput: libssh2 splits a write into 30000-byte SFTP packets and keeps as many in flight
   as the buffer it is given holds; reads ask ahead up to 4x the buffer (capped at 8 MiB). So
   the buffers are several MiB, a multiple of 30000. */
#include "ssh_sftp_op.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define XFER_BUF (30000u * 128)         /* 3.84 MB: 128 write packets in flight */
/* Buffers of all transfers together stay near XFER_TOTAL: once it is taken, a new transfer
   gets XFER_MIN (16 packets in flight, still ~10 MB/s per host at 50 ms RTT), so a fan-out
   to many hosts does not hold 2 x 3.84 MB per host (ours and libssh2's in-flight copies). */
#define XFER_TOTAL (32u * 1024 * 1024)
#define XFER_MIN (30000u * 16)
#define SLICE (16u * 1024 * 1024)       /* bytes moved per step before the loop breathes */
#define READDIR_SLICE 1000              /* names per step */

static size_t xfer_taken;               /* bytes of the buffers of live transfers */

void sftp_release_buf(struct xop *o)
{
    if (o->buf) xfer_taken -= o->cap;
    free(o->buf);
    o->buf = NULL;
    o->cap = 0;
}

/* The transfer buffer: XFER_BUF while the budget lasts, then XFER_MIN. */
static int take_buf(struct xop *o)
{
    size_t cap = xfer_taken + XFER_BUF <= XFER_TOTAL ? XFER_BUF : XFER_MIN;
    if (!(o->buf = malloc(cap))) return -1;
    o->cap = cap;
    xfer_taken += cap;
    return 0;
}

/* Fills o->buf for PUT from the local file or the string; keeps the unacknowledged part. */
static int refill(struct xop *o)
{
    if (o->boff) {
        memmove(o->buf, o->buf + o->boff, o->blen - o->boff);
        o->blen -= o->boff;
        o->boff = 0;
    }
    while (!o->eof && o->blen < o->cap) {
        if (o->r.fd < 0) {
            size_t sent = (size_t)o->r.bytes + o->blen;
            size_t n = o->r.data.len - sent;
            if (n > o->cap - o->blen) n = o->cap - o->blen;
            if (n) memcpy(o->buf + o->blen, o->r.data.data + sent, n);   /* data may be NULL when empty */
            o->blen += n;
            if (sent + n >= o->r.data.len) o->eof = 1;
            continue;
        }
        ssize_t n = read(o->r.fd, o->buf + o->blen, o->cap - o->blen);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            snprintf(o->r.error, sizeof o->r.error, "reading the local file failed: %s", strerror(errno));
            o->r.failed = 1;
            return -1;
        }
        if (n == 0) o->eof = 1;
        o->blen += (size_t)n;
    }
    return 0;
}

/* Writes what GET received to the local file or the string. */
static int sink(struct xop *o, const char *p, size_t n)
{
    if (o->r.fd < 0) {
        if (buf_append(&o->r.data, p, n) == 0) return 0;
        sftp_fail(o, "out of memory");
        return -1;
    }
    while (n > 0) {
        ssize_t w = write(o->r.fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
            snprintf(o->r.error, sizeof o->r.error, "writing the local file failed: %s",
                     errno == ENOSPC ? "disk full" : strerror(errno));
            o->r.failed = 1;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The file is in place: the temporary is gone, the request is done. */
static enum ssh_step committed(struct xop *o)
{
    o->tmp_made = 0;
    op_finish(&o->op);
    return SSH_STEP_DONE;
}

/* The server's SFTP status after a refused call (0: another error). */
static unsigned long status_of(struct xop *o, int rc)
{
    return rc == LIBSSH2_ERROR_SFTP_PROTOCOL ? libssh2_sftp_last_error(o->link->sftp) : 0;
}

static int rename_paths(struct xop *o, const char *from, const char *to)
{
    return libssh2_sftp_rename_ex(o->link->sftp, from, (unsigned)strlen(from), to, (unsigned)strlen(to), 0);
}

enum ssh_step xf_open(struct ssh_op *op)
{
    struct xop *o = xop_of(op);
    struct sftp_req *r = &o->r;
    LIBSSH2_SESSION *s = conn_session(op->conn);
    unsigned long flags = LIBSSH2_FXF_READ;
    long mode = 0;
    int type = r->what == SFTP_LIST ? LIBSSH2_SFTP_OPENDIR : LIBSSH2_SFTP_OPENFILE;
    if (r->what == SFTP_PUT) {
        flags = LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT | LIBSSH2_FXF_EXCL;
        mode = (long)(r->mode & 07777);
    } else if (r->what == SFTP_LIST) {
        flags = 0;
    }
    if (!sftp_lock(o, K_OPEN)) return SSH_STEP_WAITING;
    o->h = libssh2_sftp_open_ex(o->link->sftp, r->path, (unsigned)strlen(r->path), flags, mode, type);
    if (!o->h && libssh2_session_last_errno(s) == LIBSSH2_ERROR_EAGAIN) return SSH_STEP_AGAIN;
    sftp_unlock(o);
    if (!o->h) {
        int rc = libssh2_session_last_errno(s);
        sftp_record(o, "open", rc);
        if (conn_step_of(rc) == SSH_STEP_LOST) return SSH_STEP_LOST;
        op_finish(op);
        return SSH_STEP_FAILED;
    }
    if (r->what == SFTP_PUT) o->tmp_made = 1;
    if (r->what == SFTP_LIST) return op_next(op, X_READDIR);
    if (take_buf(o) != 0) {
        sftp_fail(o, "out of memory");
        return sftp_fail_path(o);
    }
    return op_next(op, r->what == SFTP_GET ? X_FSTAT : X_WRITE);
}

/* GET: the source's attributes (size for progress, mode and times for preserve). */
enum ssh_step xf_fstat(struct ssh_op *op)
{
    struct xop *o = xop_of(op);
    LIBSSH2_SFTP_ATTRIBUTES la;
    int rc;
    SFTP_CALL(o, K_FSTAT, rc, libssh2_sftp_fstat_ex(o->h, &la, 0));
    if (rc == 0) sftp_fill_attrs(&o->r.attrs, &la);
    return op_next(op, X_READ);
}

/* GET: up to SLICE bytes per step, into the sink; a stop ends it between two reads. */
enum ssh_step xf_read(struct ssh_op *op)
{
    struct xop *o = xop_of(op);
    size_t moved = 0;
    while (moved < SLICE) {
        ssize_t n;
        SFTP_CALL(o, K_DATA, n, libssh2_sftp_read(o->h, o->buf, o->cap));
        if (n < 0) return sftp_call_failed(o, "reading", (int)n);
        if (n == 0) return op_next(op, X_CLOSE);
        if (sink(o, o->buf, (size_t)n) < 0) return sftp_fail_path(o);
        o->r.bytes += (uint64_t)n;
        moved += (size_t)n;
        if (o->stop) {
            sftp_fail(o, "interrupted");
            return sftp_fail_path(o);
        }
    }
    op->progress = 1;
    return SSH_STEP_AGAIN;                 /* a slice: let the loop breathe */
}

/* PUT: up to SLICE bytes per step. Stopped: no more data, but what libssh2 holds is sent and
   acknowledged first (at most one buffer), so the channel is clean for the close and unlink. */
enum ssh_step xf_write(struct ssh_op *op)
{
    struct xop *o = xop_of(op);
    struct sftp_req *r = &o->r;
    size_t moved = 0;
    while (moved < SLICE) {
        if (o->stop) o->eof = 1;
        if (!o->eof && o->blen - o->boff < o->cap / 2 && refill(o) < 0) return sftp_fail_path(o);
        if (o->boff == o->blen) {
            if (o->stop) {
                sftp_fail(o, "interrupted");
                return sftp_fail_path(o);
            }
            return op_next(op, r->set_mode || r->set_times ? X_FSETSTAT : X_CLOSE);
        }
        ssize_t n;
        SFTP_CALL(o, K_DATA, n, libssh2_sftp_write(o->h, o->buf + o->boff, o->blen - o->boff));
        if (n < 0) return sftp_call_failed(o, "writing", (int)n);
        o->boff += (size_t)n;
        r->bytes += (uint64_t)n;
        moved += (size_t)n;
    }
    op->progress = 1;
    return SSH_STEP_AGAIN;
}

enum ssh_step xf_fsetstat(struct ssh_op *op)
{
    struct xop *o = xop_of(op);
    LIBSSH2_SFTP_ATTRIBUTES la;
    int rc;
    sftp_to_attrs(&o->r, &la);
    SFTP_CALL(o, K_FSTAT, rc, libssh2_sftp_fstat_ex(o->h, &la, 1));
    if (rc) return sftp_refused(o, "setting the mode", rc);
    return op_next(op, X_CLOSE);
}

enum ssh_step xf_close(struct ssh_op *op)
{
    struct xop *o = xop_of(op);
    int rc;
    SFTP_CALL(o, K_READ, rc, libssh2_sftp_close_handle(o->h));
    o->h = NULL;                           /* freed even when the close failed */
    if (rc) return sftp_refused(o, "closing", rc);
    if (o->r.what != SFTP_PUT) { op_finish(op); return SSH_STEP_DONE; }
    return op_next(op, X_RENAME);
}

/* posix-rename@openssh.com replaces the destination in one step; an older server (or
   libssh2 < 1.11.1) gets the plain rename. */
enum ssh_step xf_rename(struct ssh_op *op)
{
#if LIBSSH2_VERSION_NUM >= 0x010b01
    struct xop *o = xop_of(op);
    struct sftp_req *r = &o->r;
    int rc;
    SFTP_CALL(o, K_PRENAME, rc, libssh2_sftp_posix_rename_ex(o->link->sftp, r->path, strlen(r->path),
                                                             r->path2, strlen(r->path2)));
    if (status_of(o, rc) != LIBSSH2_FX_OP_UNSUPPORTED) {
        if (rc) return sftp_refused(o, "renaming into place", rc);
        return committed(o);
    }
#endif
    return op_next(op, X_RENAME_PLAIN);
}

/* SFTP v3 rename refuses an existing destination (OpenSSH links, then unlinks): then the old
   file is moved aside, the new one renamed, the old one dropped (the name is missing between
   the two renames, never half-written). */
enum ssh_step xf_rename_plain(struct ssh_op *op)
{
    struct xop *o = xop_of(op);
    int rc;
    SFTP_CALL(o, K_RENAME, rc, rename_paths(o, o->r.path, o->r.path2));
    if (status_of(o, rc) == LIBSSH2_FX_FAILURE) {
        size_t n = strlen(o->r.path) + 8;
        if ((o->aside = malloc(n))) {
            snprintf(o->aside, n, "%s.old", o->r.path);
            return op_next(op, X_ASIDE);
        }
    }
    if (rc) return sftp_refused(o, "renaming into place", rc);
    return committed(o);
}

enum ssh_step xf_aside(struct ssh_op *op)
{
    struct xop *o = xop_of(op);
    int rc;
    SFTP_CALL(o, K_RENAME, rc, rename_paths(o, o->r.path2, o->aside));
    if (rc) {
        free(o->aside);
        o->aside = NULL;
        if (status_of(o, rc) == LIBSSH2_FX_NO_SUCH_FILE && o->renames++ < 5) {
            op_set_stage(op, X_RENAME_PLAIN);     /* the old file went meanwhile: rename again */
            return SSH_STEP_DONE;
        }
        sftp_record(o, "renaming into place", rc);
        return sftp_fail_path(o);
    }
    return op_next(op, X_RENAME2);
}

enum ssh_step xf_rename2(struct ssh_op *op)
{
    struct xop *o = xop_of(op);
    int rc;
    SFTP_CALL(o, K_RENAME, rc, rename_paths(o, o->r.path, o->r.path2));
    if (status_of(o, rc) == LIBSSH2_FX_FAILURE && o->renames++ < 5)
        o->retry = 1;                      /* another writer's file took the name meanwhile */
    else if (rc)
        return sftp_refused(o, "renaming into place", rc);
    else
        o->tmp_made = 0;
    return op_next(op, X_DROP_OLD);
}

enum ssh_step xf_drop_old(struct ssh_op *op)
{
    struct xop *o = xop_of(op);
    int rc;
    SFTP_CALL(o, K_UNLINK, rc, libssh2_sftp_unlink_ex(o->link->sftp, o->aside, (unsigned)strlen(o->aside)));
    free(o->aside);
    o->aside = NULL;
    if (!o->retry) { op_finish(op); return SSH_STEP_DONE; }
    o->retry = 0;
    return op_next(op, X_RENAME_PLAIN);
}

/* LIST: up to READDIR_SLICE names per step ("." and ".." left out). */
enum ssh_step xf_readdir(struct ssh_op *op)
{
    struct xop *o = xop_of(op);
    struct sftp_req *r = &o->r;
    LIBSSH2_SFTP_ATTRIBUTES la;
    for (int count = 0; count < READDIR_SLICE; count++) {
        int rc;
        SFTP_CALL(o, K_READDIR, rc, libssh2_sftp_readdir_ex(o->h, o->name, sizeof o->name, NULL, 0, &la));
        if (rc < 0) return sftp_refused(o, "listing", rc);
        if (rc == 0) return op_next(op, X_CLOSE);
        if (strcmp(o->name, ".") == 0 || strcmp(o->name, "..") == 0) continue;
        if (r->nentries % 64 == 0) {
            void *p = realloc(r->entries, (r->nentries + 64) * sizeof *r->entries);
            if (!p) { sftp_fail(o, "out of memory"); return sftp_fail_path(o); }
            r->entries = p;
        }
        struct sftp_entry *e = &r->entries[r->nentries];
        if (!(e->name = strndup(o->name, (size_t)rc))) continue;
        sftp_fill_attrs(&e->a, &la);
        r->nentries++;
    }
    op->progress = 1;
    return SSH_STEP_AGAIN;
}

/* ---- the clean-up after a failure (sftp_fail_path chooses where it starts) ---- */

void sftp_fail(struct xop *o, const char *why)
{
    if (!o->r.error[0]) snprintf(o->r.error, sizeof o->r.error, "%s", why);
    o->r.failed = 1;
}

enum ssh_step sftp_fail_path(struct xop *o)
{
    int next = o->aside ? X_FAIL_RESTORE : o->h ? X_FAIL_CLOSE : o->tmp_made ? X_FAIL_UNLINK : -1;
    if (next < 0) { op_finish(&o->op); return SSH_STEP_FAILED; }
    return op_next(&o->op, next);
}

enum ssh_step sftp_refused(struct xop *o, const char *what, int rc)
{
    sftp_record(o, what, rc);
    return sftp_fail_path(o);
}

enum ssh_step sftp_call_failed(struct xop *o, const char *what, int rc)
{
    sftp_record(o, what, rc);
    if (conn_step_of(rc) == SSH_STEP_LOST) return SSH_STEP_LOST;
    if (o->link->state != L_READY) { o->h = NULL; op_finish(&o->op); return SSH_STEP_FAILED; }
    return sftp_fail_path(o);
}


enum ssh_step xf_fail_close(struct ssh_op *op)
{
    struct xop *o = xop_of(op);
    int rc;
    SFTP_CALL(o, K_READ, rc, libssh2_sftp_close_handle(o->h));
    o->h = NULL;
    if (!o->tmp_made) { op_finish(op); return SSH_STEP_FAILED; }
    return op_next(op, X_FAIL_UNLINK);
}

enum ssh_step xf_fail_unlink(struct ssh_op *op)
{
    struct xop *o = xop_of(op);
    int rc;
    SFTP_CALL(o, K_UNLINK, rc, libssh2_sftp_unlink_ex(o->link->sftp, o->r.path, (unsigned)strlen(o->r.path)));
    o->tmp_made = 0;
    op_finish(op);
    return SSH_STEP_FAILED;
}

/* The old file was moved aside and the new one could not take its place: put it back. */
enum ssh_step xf_fail_restore(struct ssh_op *op)
{
    struct xop *o = xop_of(op);
    int rc;
    SFTP_CALL(o, K_RENAME, rc, rename_paths(o, o->aside, o->r.path2));
    free(o->aside);
    o->aside = NULL;
    return sftp_fail_path(o);
}
