/* SFTP requests as ops on a connection (see ssh_sftp.h).

   The link: one LIBSSH2_SFTP per connection, an op that holds a channel slot (MaxSessions)
   from the first request until the connection closes; between transfers it is "idle" (it
   waits on nothing, so the connection neither polls for it nor keeps it from closing).

   libssh2 keeps the state of an unfinished SFTP call in the LIBSSH2_SFTP, one per kind of
   call (open, read, write, stat …), not in the handle: two reads on two handles must not both
   be half-way. So a call takes its kind's lock (see kind_of), keeps it while the call says
   EAGAIN (it must be repeated with the same arguments) and gives it up when the call
   returns. Calls of different kinds overlap (one file's open, another's write, a third's
   rename), and each call returns as soon as some of its data is acknowledged while the
   requests already sent stay in flight.

   Throughput: libssh2 splits a write into 30000-byte SFTP packets and keeps as many in
   flight as the buffer it is given holds; reads ask ahead up to 4× the buffer (capped at
   8 MiB). So the buffers are several MiB, a multiple of 30000. */
#include "ssh_sftp.h"
#include "compiler.h"
#include "ssh_conn.h"
#include "ssh_chan.h"
#include <libssh2_sftp.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define XFER_BUF (30000u * 128)         /* 3.84 MB: 128 write packets in flight */
/* Buffers of all transfers together stay near XFER_TOTAL: once it is taken, a new transfer
   gets XFER_MIN (16 packets in flight, still ~10 MB/s per host at 50 ms RTT), so a fan-out
   to many hosts does not hold 2 × 3.84 MB per host (ours and libssh2's in-flight copies). */
#define XFER_TOTAL (32u * 1024 * 1024)
#define XFER_MIN (30000u * 16)
static size_t xfer_taken;               /* bytes of the buffers of live transfers */
/* step_once's results besides 0 (done), -1 (failed, recorded and finished), EAGAIN and a
   libssh2 transport code (the connection is lost): */
#define NEXT 100                        /* moved to another stage: go on */
#define WAIT 101                        /* waits for the link or the call lock (no I/O) */
#define SLICE (16u * 1024 * 1024)       /* bytes moved per step before the loop breathes */

/* ---- the link ---- */

enum lstate { L_OPENING, L_READY, L_BROKEN, L_GONE };

struct link {
    struct ssh_op op;
    struct conn *conn;
    LIBSSH2_SFTP *sftp;
    enum lstate state;
    struct chan ch;                     /* for the request lock around libssh2_sftp_init */
    int attached;                       /* an op of the connection (active or queued) */
    struct xop *locks[12];              /* per kind of call: the op with one in flight */
    struct xop *exclusive;              /* in a data phase: nobody else may send meanwhile */
    int refs;                           /* requests using it, +1 while attached */
    char error[700];
    struct link *next;
    uv_idle_t reap;                     /* only for the deferred free */
};

static struct link *links;

static void link_unlist(struct link *l)
{
    for (struct link **p = &links; *p; p = &(*p)->next)
        if (*p == l) { *p = l->next; l->next = NULL; return; }
}

/* Frees an object on the loop's next turn: the connection takes an op off its lists right
   after the step that finished it, so the op must outlive that step. */
static void defer_free(uv_idle_t *h, void *owner, uv_close_cb done)
{
    uv_idle_init(sched_loop(), h);
    h->data = owner;
    uv_close((uv_handle_t *)h, done);
}

static void link_freed(uv_handle_t *h) { free(h->data); }

static void link_unref(struct link *l)
{
    if (--l->refs > 0) return;
    link_unlist(l);
    defer_free(&l->reap, l, link_freed);
}

static int link_busy(const struct link *l)
{
    for (size_t i = 0; i < sizeof l->locks / sizeof l->locks[0]; i++)
        if (l->locks[i]) return 1;
    return l->exclusive != NULL;
}

static enum ssh_step link_step(struct ssh_op *op)
{
    struct link *l = (struct link *)op;
    LIBSSH2_SESSION *s = conn_session(l->conn);
    if (l->state == L_OPENING) {
        /* libssh2_sftp_init opens its own channel and sends the "subsystem" request, so it
           cannot use chan_open_session/chan_request: it takes the request lock itself
           (chan_lock) for the whole call, which covers both waits for a reply (libssh2 1.10
           keeps their state in the session), and reports through chan_opened. */
        enum ssh_step r = chan_lock(&l->ch);
        if (r != SSH_STEP_DONE) return r;
        l->sftp = libssh2_sftp_init(s);
        if (!l->sftp && libssh2_session_last_errno(s) == LIBSSH2_ERROR_EAGAIN) return SSH_STEP_AGAIN;
        op->progress = 1;                 /* requests waiting for the link go on */
        r = chan_opened(&l->ch, l->sftp != NULL, "starting SFTP");
        if (r == SSH_STEP_REQUEUED || r == SSH_STEP_LOST) return r;
        if (r != SSH_STEP_DONE) {
            snprintf(l->error, sizeof l->error, "%s (is SFTP enabled on the server?)", l->ch.error);
            l->state = L_BROKEN;
            link_unlist(l);
            l->attached = 0;
            link_unref(l);
            return SSH_STEP_FAILED;
        }
        l->state = L_READY;
        op->idle = 1;
    }
    if (l->state == L_BROKEN && !link_busy(l)) {
        /* The SFTP channel failed under a request: close it, free the slot. */
        if (l->sftp) {
            int rc = libssh2_sftp_shutdown(l->sftp);
            if (rc == LIBSSH2_ERROR_EAGAIN) return SSH_STEP_AGAIN;
            l->sftp = NULL;
        }
        l->attached = 0;
        link_unref(l);
        return SSH_STEP_DONE;
    }
    return SSH_STEP_WAITING;
}

static void link_abort(struct ssh_op *op, const char *why)
{
    struct link *l = (struct link *)op;
    chan_forget(&l->ch);
    l->sftp = NULL;                       /* freed with the session (channel close callback) */
    if (l->state != L_BROKEN) snprintf(l->error, sizeof l->error, "%s", why);
    l->state = L_GONE;
    link_unlist(l);
    l->attached = 0;
    link_unref(l);
}

static const struct ssh_op_type link_type = {"sftp", link_step, link_abort, 1};

/* The link of c, started if there is none. */
static struct link *link_get(struct conn *c)
{
    for (struct link *l = links; l; l = l->next)
        if (l->conn == c && (l->state == L_OPENING || l->state == L_READY)) return l;
    struct link *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->op.type = &link_type;
    l->conn = c;
    chan_init(&l->ch, &l->op);
    l->refs = 1;
    l->attached = 1;
    l->next = links;
    links = l;
    conn_add_op(c, &l->op);
    return l;
}

/* ---- requests ---- */

/* A libssh2 code after which the connection is unusable (it fails; abort() follows). */
static int transport_error(int rc)
{
    return rc < 0 && rc != LIBSSH2_ERROR_EAGAIN && conn_step_of(rc) == SSH_STEP_LOST;
}

enum stage {
    X_START,
    X_OPEN, X_FSTAT, X_READ, X_WRITE, X_FSETSTAT, X_CLOSE,
    X_RENAME, X_RENAME_PLAIN, X_ASIDE, X_RENAME2, X_DROP_OLD,
    X_READDIR,
    X_CALL,
    X_FAIL_CLOSE, X_FAIL_UNLINK, X_FAIL_RESTORE,
    X_DONE
};

struct xop {
    struct ssh_op op;
    struct sftp_req r;
    struct conn *conn;                  /* retained */
    struct link *link;                  /* a reference */
    enum stage stage;
    LIBSSH2_SFTP_HANDLE *h;
    char *buf;
    size_t cap;                         /* buf's size (see XFER_TOTAL) */
    size_t blen, boff;
    int eof;
    int tmp_made;                       /* PUT: the temporary exists on the server */
    int stop;                           /* stop requested: clean up and finish */
    int finished, lua_owned;
    char *aside;                        /* PUT without posix-rename: the old file, moved aside */
    int renames, retry;                 /* another writer raced us to the name: try again */
    int held;                           /* 1 + the kind of call lock held, 0 none */
    char name[1024];                    /* READDIR scratch */
    struct xop *prev_live, *next_live;
    uv_timer_t timer;                   /* the timeout; its close frees the op */
    int has_timer;
};

static struct xop *live;

struct sftp_req *sftp_new(enum sftp_what what)
{
    struct xop *o = calloc(1, sizeof *o);
    if (!o) return NULL;
    o->r.what = what;
    o->r.fd = -1;
    o->lua_owned = 1;
    return &o->r;
}

static struct xop *xop_of(struct sftp_req *r)
{
    return (struct xop *)((char *)r - offsetof(struct xop, r));
}

static void xop_freed(uv_handle_t *h);

static void release_buf(struct xop *o)
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

static void xop_free(struct xop *o)
{
    if (o->r.fd >= 0) close(o->r.fd);
    free(o->r.path);
    free(o->r.path2);
    buf_free(&o->r.data);
    for (size_t i = 0; i < o->r.nentries; i++) free(o->r.entries[i].name);
    free(o->r.entries);
    release_buf(o);
    free(o->aside);
    if (o->link) link_unref(o->link);
    if (o->conn) conn_release(o->conn);
    free(o);
}

static void xop_freed(uv_handle_t *h) { xop_free(h->data); }

/* Frees o on the loop's next turn (see defer_free), through its timer's close. */
static void xop_defer_free(struct xop *o)
{
    if (o->has_timer) uv_close((uv_handle_t *)&o->timer, xop_freed);
    else xop_free(o);                   /* never submitted: nothing holds it */
}

static void unlink_live(struct xop *o)
{
    if (o->prev_live) o->prev_live->next_live = o->next_live; else if (live == o) live = o->next_live;
    if (o->next_live) o->next_live->prev_live = o->prev_live;
    o->prev_live = o->next_live = NULL;
}

/* The connection is done with the op: wake the waiter; free it if Lua let go already. */
static void finish(struct xop *o)
{
    if (o->finished) return;
    o->finished = 1;
    o->stage = X_DONE;
    unlink_live(o);
    if (o->link && o->held) { o->link->locks[o->held - 1] = NULL; o->held = 0; }
    if (o->link && o->link->exclusive == o) o->link->exclusive = NULL;
    if (o->r.fd >= 0) { close(o->r.fd); o->r.fd = -1; }
    release_buf(o);
    o->r.done = 1;
    if (o->has_timer) uv_timer_stop(&o->timer);
    sched_wake(&o->r.w);
    if (!o->lua_owned) xop_defer_free(o);
}

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

/* The call locks (see the top of the file): libssh2 keeps one unfinished call of each kind
   per SFTP session, so calls of different kinds (one file's open, another's write, a third's
   rename) may be half-way at once, two of the same kind may not. A handle's close resets the
   read state, so it counts as a read. */
enum kind { K_OPEN, K_READ, K_DATA, K_FSTAT, K_READDIR, K_UNLINK, K_RENAME, K_PRENAME, K_MKDIR,
            K_RMDIR, K_STAT, K_SYMLINK };

static enum kind kind_of(const struct xop *o)
{
    switch (o->stage) {
    case X_OPEN: return K_OPEN;
    case X_FSTAT: case X_FSETSTAT: return K_FSTAT;
    case X_READ: case X_WRITE: return K_DATA;
    case X_CLOSE: case X_FAIL_CLOSE: return K_READ;
    case X_RENAME: return K_PRENAME;
    case X_RENAME_PLAIN: case X_ASIDE: case X_RENAME2: case X_FAIL_RESTORE: return K_RENAME;
    case X_DROP_OLD: case X_FAIL_UNLINK: return K_UNLINK;
    case X_READDIR: return K_READDIR;
    default: break;
    }
    switch (o->r.what) {
    case SFTP_MKDIR: return K_MKDIR;
    case SFTP_RMDIR: return K_RMDIR;
    case SFTP_UNLINK: return K_UNLINK;
    case SFTP_RENAME: return K_RENAME;
    case SFTP_SYMLINK: case SFTP_READLINK: return K_SYMLINK;
    default: return K_STAT;
    }
}

static void unlock_call(struct xop *o)
{
    if (o->held) o->link->locks[o->held - 1] = NULL;
    o->held = 0;
    o->op.progress = 1;                 /* whoever waited for the lock may go on */
}

/* 1 when o may make the call of its stage now (it holds that kind's lock until unlock_call).

   The data phases (a file's reads or writes) are exclusive, from the first call to the last:
   sftp_read and sftp_write return as soon as some data is acknowledged, possibly with an SFTP
   packet half-sent on the channel (the server's window took only part of it), and any other
   request sent then would land inside that packet. So a data phase starts only when no other
   call is unfinished, and nothing else is sent until it has ended (every byte acknowledged). */
static int lock_call(struct xop *o)
{
    enum kind k = kind_of(o);
    struct link *l = o->link;
    if (o->held && o->held - 1 != (int)k) unlock_call(o);
    if (k == K_DATA) {
        if (l->exclusive == o) return 1;
        if (l->exclusive) return 0;
        for (size_t i = 0; i < sizeof l->locks / sizeof l->locks[0]; i++)
            if (l->locks[i] && l->locks[i] != o) return 0;
        l->exclusive = o;
        return 1;
    }
    if (l->exclusive == o) l->exclusive = NULL;     /* the data phase is over */
    else if (l->exclusive) return 0;
    struct xop **slot = &o->link->locks[k];
    if (*slot && *slot != o) return 0;
    *slot = o;
    o->held = (int)k + 1;
    return 1;
}

/* Records why call rc failed. Returns the step result: the transport's own codes go up (the
   connection fails), everything else is this request's failure. */
static int transport_error(int rc);

static int record(struct xop *o, const char *what, int rc)
{
    if (transport_error(rc)) return rc;       /* the connection fails: abort() says why */
    if (rc == LIBSSH2_ERROR_SFTP_PROTOCOL && o->link->sftp) {
        o->r.status = libssh2_sftp_last_error(o->link->sftp);
        /* OpenSSH's sftp-server sends ENOSPC and EDQUOT as a bare "failure". */
        int writing = strcmp(what, "writing") == 0 || strcmp(what, "closing") == 0;
        snprintf(o->r.error, sizeof o->r.error, "%s%s", sftp_status_text(o->r.status),
                 writing && o->r.status == LIBSSH2_FX_FAILURE ? " (disk full or quota? the server did not say)" : "");
    } else {
        char *msg = NULL;
        libssh2_session_last_error(conn_session(o->conn), &msg, NULL, 0);
        snprintf(o->r.error, sizeof o->r.error, "%s failed: %s (%d)", what,
                 msg && *msg ? msg : "libssh2 error", rc);
        if (rc == LIBSSH2_ERROR_CHANNEL_CLOSED || rc == LIBSSH2_ERROR_CHANNEL_EOF_SENT ||
            rc == LIBSSH2_ERROR_CHANNEL_FAILURE) {
            o->link->state = L_BROKEN;      /* the SFTP channel is gone: the next request opens one */
            link_unlist(o->link);
            conn_kick(o->conn);
        }
    }
    o->r.failed = 1;
    return rc;
}

static void fill_attrs(struct sftp_attrs *a, const LIBSSH2_SFTP_ATTRIBUTES *la)
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

static void to_attrs(const struct sftp_req *r, LIBSSH2_SFTP_ATTRIBUTES *la)
{
    memset(la, 0, sizeof *la);
    if (r->set_mode) { la->flags |= LIBSSH2_SFTP_ATTR_PERMISSIONS; la->permissions = r->mode & 07777; }
    if (r->set_times) {
        la->flags |= LIBSSH2_SFTP_ATTR_ACMODTIME;
        la->atime = (unsigned long)r->atime;
        la->mtime = (unsigned long)r->mtime;
    }
}

/* A failure after the file was opened: close it, remove a PUT's temporary, then finish. */
static void fail_path(struct xop *o)
{
    o->stage = o->h ? X_FAIL_CLOSE : (o->tmp_made ? X_FAIL_UNLINK : X_DONE);
    if (o->aside) o->stage = X_FAIL_RESTORE;
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
        snprintf(o->r.error, sizeof o->r.error, "out of memory");
        o->r.failed = 1;
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

#define CALL_LOCKED(o) do { if (!lock_call(o)) return WAIT; } while (0)

static int step_once(struct xop *o);

/* Runs the stages until one waits; a finished op is only freed later (after the connection
   has taken it off its lists). */
static enum ssh_step xop_step(struct ssh_op *op)
{
    struct xop *o = (struct xop *)op;
    int rc;
    while ((rc = step_once(o)) == NEXT) o->op.progress = 1;
    if (rc == 0) return SSH_STEP_DONE;
    if (rc == WAIT) return SSH_STEP_WAITING;
    if (rc == -1) return SSH_STEP_FAILED;
    return conn_step_of(rc);              /* EAGAIN, or the transport failed */
}

/* A failed call: a transport error goes up (the connection fails and aborts the op), any
   other ends this request. */
static int fail_now(struct xop *o, int rc)
{
    if (transport_error(rc)) return rc;
    finish(o);
    return -1;
}

static int step_once(struct xop *o)
{
    struct sftp_req *r = &o->r;
    struct link *l = o->link;
    LIBSSH2_SESSION *s = conn_session(o->conn);
    LIBSSH2_SFTP_ATTRIBUTES la;
    int rc;

    if (o->stage == X_START) {
        if (l->state == L_OPENING) return WAIT;
        if (l->state != L_READY) {
            snprintf(r->error, sizeof r->error, "%s", l->error[0] ? l->error : "the SFTP channel is closed");
            r->failed = 1;
            finish(o);
            return -1;
        }
        switch (r->what) {
        case SFTP_PUT: case SFTP_GET: o->stage = X_OPEN; break;
        case SFTP_LIST: o->stage = X_OPEN; break;
        default: o->stage = X_CALL; break;
        }
    }
    /* A stop (Ctrl-C, a lost Lua side) never abandons a call half-way: only between calls. */
    if (o->stop && !o->held && l->exclusive != o && o->stage < X_RENAME) {
        if (!r->error[0]) snprintf(r->error, sizeof r->error, "interrupted");
        r->failed = 1;
        fail_path(o);
    }
    if (l->state != L_READY && !o->held && l->exclusive != o && o->stage != X_DONE) {
        snprintf(r->error, sizeof r->error, "%s", l->error[0] ? l->error : "the SFTP channel closed");
        r->failed = 1;
        o->h = NULL;                       /* went with the channel */
        finish(o);
        return -1;
    }

    switch (o->stage) {
    case X_OPEN: {
        CALL_LOCKED(o);
        unsigned long flags = 0;
        long mode = 0;
        int type = LIBSSH2_SFTP_OPENFILE;
        if (r->what == SFTP_PUT) {
            flags = LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT | LIBSSH2_FXF_EXCL;
            mode = (long)(r->mode & 07777);
        } else if (r->what == SFTP_GET) {
            flags = LIBSSH2_FXF_READ;
        } else {
            type = LIBSSH2_SFTP_OPENDIR;
        }
        o->h = libssh2_sftp_open_ex(l->sftp, r->path, (unsigned)strlen(r->path), flags, mode, type);
        if (!o->h && libssh2_session_last_errno(s) == LIBSSH2_ERROR_EAGAIN) return LIBSSH2_ERROR_EAGAIN;
        unlock_call(o);
        if (!o->h) {
            rc = libssh2_session_last_errno(s);
            record(o, "open", rc);
            return fail_now(o, rc);
        }
        if (r->what == SFTP_PUT) o->tmp_made = 1;
        if (r->what == SFTP_LIST) { o->stage = X_READDIR; return NEXT; }
        if (take_buf(o) != 0) {
            snprintf(r->error, sizeof r->error, "out of memory");
            r->failed = 1;
            fail_path(o);
            return NEXT;
        }
        o->stage = r->what == SFTP_GET ? X_FSTAT : X_WRITE;
        return NEXT;       /* step again (progress is set) */
    }
    case X_FSTAT:
        CALL_LOCKED(o);
        rc = libssh2_sftp_fstat_ex(o->h, &la, 0);
        if (rc == LIBSSH2_ERROR_EAGAIN) return rc;
        unlock_call(o);
        if (rc == 0) fill_attrs(&r->attrs, &la);
        o->stage = X_READ;
        return NEXT;
    case X_READ: {
        size_t moved = 0;
        while (moved < SLICE) {
            CALL_LOCKED(o);
            ssize_t n = libssh2_sftp_read(o->h, o->buf, o->cap);
            if (n == LIBSSH2_ERROR_EAGAIN) return (int)n;
            unlock_call(o);
            if (n < 0) {
                record(o, "reading", (int)n);
                if (transport_error((int)n)) return (int)n;
                if (l->state != L_READY) { o->h = NULL; finish(o); return -1; }
                fail_path(o);
                return NEXT;
            }
            if (n == 0) { o->stage = X_CLOSE; return NEXT; }
            if (sink(o, o->buf, (size_t)n) < 0) { fail_path(o); return NEXT; }
            r->bytes += (uint64_t)n;
            moved += (size_t)n;
            if (o->stop) {                 /* between two calls: stop reading, close */
                if (!r->error[0]) snprintf(r->error, sizeof r->error, "interrupted");
                r->failed = 1;
                fail_path(o);
                return NEXT;
            }
        }
        o->op.progress = 1;
        return LIBSSH2_ERROR_EAGAIN;       /* a slice: let the loop breathe */
    }
    case X_WRITE: {
        size_t moved = 0;
        while (moved < SLICE) {
            /* Stopped: no more data, but what libssh2 holds is sent and acknowledged first
               (at most one buffer), so the channel is clean for the close and unlink. */
            if (o->stop) o->eof = 1;
            if (!o->eof && o->blen - o->boff < o->cap / 2 && refill(o) < 0) {
                fail_path(o);
                return NEXT;
            }
            if (o->boff == o->blen) {
                if (o->stop) {
                    if (!r->error[0]) snprintf(r->error, sizeof r->error, "interrupted");
                    r->failed = 1;
                    fail_path(o);
                    return NEXT;
                }
                o->stage = r->set_mode || r->set_times ? X_FSETSTAT : X_CLOSE;
                return NEXT;
            }
            CALL_LOCKED(o);
            ssize_t n = libssh2_sftp_write(o->h, o->buf + o->boff, o->blen - o->boff);
            if (n == LIBSSH2_ERROR_EAGAIN) return (int)n;
            unlock_call(o);
            if (n < 0) {
                record(o, "writing", (int)n);
                if (transport_error((int)n)) return (int)n;
                if (l->state != L_READY) { o->h = NULL; finish(o); return -1; }
                fail_path(o);
                return NEXT;
            }
            o->boff += (size_t)n;
            r->bytes += (uint64_t)n;
            moved += (size_t)n;
        }
        o->op.progress = 1;
        return LIBSSH2_ERROR_EAGAIN;
    }
    case X_FSETSTAT:
        CALL_LOCKED(o);
        to_attrs(r, &la);
        rc = libssh2_sftp_fstat_ex(o->h, &la, 1);
        if (rc == LIBSSH2_ERROR_EAGAIN) return rc;
        unlock_call(o);
        if (rc) { record(o, "setting the mode", rc); fail_path(o); return NEXT; }
        o->stage = X_CLOSE;
        return NEXT;
    case X_CLOSE:
        CALL_LOCKED(o);
        rc = libssh2_sftp_close_handle(o->h);
        if (rc == LIBSSH2_ERROR_EAGAIN) return rc;
        unlock_call(o);
        o->h = NULL;                       /* freed even when the close failed */
        if (rc) {
            record(o, "closing", rc);
            fail_path(o);
            return NEXT;
        }
        if (r->what != SFTP_PUT) { finish(o); return 0; }
        o->stage = X_RENAME;
        FALLTHROUGH;
    case X_RENAME:
        CALL_LOCKED(o);
#if LIBSSH2_VERSION_NUM >= 0x010b01
        /* posix-rename@openssh.com replaces the destination in one step. */
        rc = libssh2_sftp_posix_rename_ex(l->sftp, r->path, strlen(r->path), r->path2, strlen(r->path2));
        if (rc == LIBSSH2_ERROR_EAGAIN) return rc;
        unlock_call(o);
        if (rc == LIBSSH2_ERROR_SFTP_PROTOCOL && libssh2_sftp_last_error(l->sftp) == LIBSSH2_FX_OP_UNSUPPORTED)
            rc = 1;                        /* an older server: the plain rename below */
        if (rc == 1) { o->stage = X_RENAME_PLAIN; return NEXT; }
        if (rc) { record(o, "renaming into place", rc); fail_path(o); return NEXT; }
        o->tmp_made = 0;
        finish(o);
        return 0;
#else
        o->stage = X_RENAME_PLAIN;
#endif
        FALLTHROUGH;
    case X_RENAME_PLAIN:
        /* SFTP v3 rename refuses an existing destination (OpenSSH links, then unlinks). */
        CALL_LOCKED(o);
        rc = libssh2_sftp_rename_ex(l->sftp, r->path, (unsigned)strlen(r->path), r->path2,
                                    (unsigned)strlen(r->path2), 0);
        if (rc == LIBSSH2_ERROR_EAGAIN) return rc;
        unlock_call(o);
        if (rc == LIBSSH2_ERROR_SFTP_PROTOCOL && libssh2_sftp_last_error(l->sftp) == LIBSSH2_FX_FAILURE) {
            /* The destination exists: move it aside, rename, then drop the old one.
               (The name is missing between the two renames, never half-written.) */
            size_t n = strlen(r->path) + 8;
            if ((o->aside = malloc(n))) {
                snprintf(o->aside, n, "%s.old", r->path);
                o->stage = X_ASIDE;
                return NEXT;
            }
        }
        if (rc) { record(o, "renaming into place", rc); fail_path(o); return NEXT; }
        o->tmp_made = 0;
        finish(o);
        return 0;
    case X_ASIDE:
        CALL_LOCKED(o);
        rc = libssh2_sftp_rename_ex(l->sftp, r->path2, (unsigned)strlen(r->path2), o->aside,
                                    (unsigned)strlen(o->aside), 0);
        if (rc == LIBSSH2_ERROR_EAGAIN) return rc;
        unlock_call(o);
        if (rc == LIBSSH2_ERROR_SFTP_PROTOCOL && libssh2_sftp_last_error(l->sftp) == LIBSSH2_FX_NO_SUCH_FILE &&
            o->renames++ < 5) {
            free(o->aside);
            o->aside = NULL;
            o->stage = X_RENAME_PLAIN;     /* the old file went meanwhile: rename again */
            return NEXT;
        }
        if (rc) {
            free(o->aside);
            o->aside = NULL;
            record(o, "renaming into place", rc);
            fail_path(o);
            return NEXT;
        }
        o->stage = X_RENAME2;
        FALLTHROUGH;
    case X_RENAME2:
        CALL_LOCKED(o);
        rc = libssh2_sftp_rename_ex(l->sftp, r->path, (unsigned)strlen(r->path), r->path2,
                                    (unsigned)strlen(r->path2), 0);
        if (rc == LIBSSH2_ERROR_EAGAIN) return rc;
        unlock_call(o);
        if (rc == LIBSSH2_ERROR_SFTP_PROTOCOL && libssh2_sftp_last_error(l->sftp) == LIBSSH2_FX_FAILURE &&
            o->renames++ < 5) {
            o->retry = 1;                  /* another writer's file took the name meanwhile */
            o->stage = X_DROP_OLD;
            return NEXT;
        }
        if (rc) { record(o, "renaming into place", rc); fail_path(o); return NEXT; }
        o->tmp_made = 0;
        o->stage = X_DROP_OLD;
        FALLTHROUGH;
    case X_DROP_OLD:
        CALL_LOCKED(o);
        rc = libssh2_sftp_unlink_ex(l->sftp, o->aside, (unsigned)strlen(o->aside));
        if (rc == LIBSSH2_ERROR_EAGAIN) return rc;
        unlock_call(o);
        if (o->retry) {
            o->retry = 0;
            free(o->aside);
            o->aside = NULL;
            o->stage = X_RENAME_PLAIN;
            return NEXT;
        }
        finish(o);
        return 0;
    case X_READDIR: {
        int count = 0;
        while (count++ < 1000) {
            CALL_LOCKED(o);
            rc = libssh2_sftp_readdir_ex(o->h, o->name, sizeof o->name, NULL, 0, &la);
            if (rc == LIBSSH2_ERROR_EAGAIN) return rc;
            unlock_call(o);
            if (rc < 0) { record(o, "listing", rc); fail_path(o); return NEXT; }
            if (rc == 0) { o->stage = X_CLOSE; return NEXT; }
            if (strcmp(o->name, ".") == 0 || strcmp(o->name, "..") == 0) continue;
            if (r->nentries % 64 == 0) {
                void *p = realloc(r->entries, (r->nentries + 64) * sizeof *r->entries);
                if (!p) { snprintf(r->error, sizeof r->error, "out of memory"); r->failed = 1; fail_path(o); return NEXT; }
                r->entries = p;
            }
            struct sftp_entry *e = &r->entries[r->nentries];
            if (!(e->name = strndup(o->name, (size_t)rc))) continue;
            fill_attrs(&e->a, &la);
            r->nentries++;
        }
        o->op.progress = 1;
        return LIBSSH2_ERROR_EAGAIN;
    }
    case X_CALL: {
        CALL_LOCKED(o);
        unsigned plen = (unsigned)strlen(r->path);
        const char *what = "request";
        switch (r->what) {
        case SFTP_STAT: case SFTP_LSTAT:
            rc = libssh2_sftp_stat_ex(l->sftp, r->path, plen,
                                      r->what == SFTP_STAT ? LIBSSH2_SFTP_STAT : LIBSSH2_SFTP_LSTAT, &la);
            what = "stat";
            break;
        case SFTP_SETSTAT:
            to_attrs(r, &la);
            rc = libssh2_sftp_stat_ex(l->sftp, r->path, plen, LIBSSH2_SFTP_SETSTAT, &la);
            what = "setstat";
            break;
        case SFTP_MKDIR:
            rc = libssh2_sftp_mkdir_ex(l->sftp, r->path, plen, (long)(r->mode & 07777));
            what = "mkdir";
            break;
        case SFTP_RMDIR:
            rc = libssh2_sftp_rmdir_ex(l->sftp, r->path, plen);
            what = "rmdir";
            break;
        case SFTP_UNLINK:
            rc = libssh2_sftp_unlink_ex(l->sftp, r->path, plen);
            what = "unlink";
            break;
        case SFTP_RENAME:
            rc = libssh2_sftp_rename_ex(l->sftp, r->path, plen, r->path2, (unsigned)strlen(r->path2), 0);
            what = "rename";
            break;
        case SFTP_SYMLINK:
            /* OpenSSH takes (target, link) in this order, as libssh2 sends them. */
            rc = libssh2_sftp_symlink_ex(l->sftp, r->path2, (unsigned)strlen(r->path2), r->path, plen,
                                         LIBSSH2_SFTP_SYMLINK);
            what = "symlink";
            break;
        case SFTP_READLINK:
            rc = libssh2_sftp_symlink_ex(l->sftp, r->path, plen, o->name, sizeof o->name - 1,
                                         LIBSSH2_SFTP_READLINK);
            what = "readlink";
            break;
        default:
            rc = 0;
        }
        if (rc == LIBSSH2_ERROR_EAGAIN) return rc;
        unlock_call(o);
        if (rc < 0) {
            record(o, what, rc);
            return fail_now(o, rc);
        }
        if (r->what == SFTP_STAT || r->what == SFTP_LSTAT) fill_attrs(&r->attrs, &la);
        if (r->what == SFTP_READLINK) buf_append(&r->data, o->name, (size_t)rc);
        finish(o);
        return 0;
    }
    case X_FAIL_CLOSE:
        CALL_LOCKED(o);
        rc = libssh2_sftp_close_handle(o->h);
        if (rc == LIBSSH2_ERROR_EAGAIN) return rc;
        unlock_call(o);
        o->h = NULL;
        if (!o->tmp_made) { finish(o); return -1; }
        o->stage = X_FAIL_UNLINK;
        FALLTHROUGH;
    case X_FAIL_UNLINK:
        CALL_LOCKED(o);
        rc = libssh2_sftp_unlink_ex(l->sftp, r->path, (unsigned)strlen(r->path));
        if (rc == LIBSSH2_ERROR_EAGAIN) return rc;
        unlock_call(o);
        o->tmp_made = 0;
        finish(o);
        return -1;
    case X_FAIL_RESTORE:
        /* The old file was moved aside and the new one could not take its place. */
        CALL_LOCKED(o);
        rc = libssh2_sftp_rename_ex(l->sftp, o->aside, (unsigned)strlen(o->aside), r->path2,
                                    (unsigned)strlen(r->path2), 0);
        if (rc == LIBSSH2_ERROR_EAGAIN) return rc;
        unlock_call(o);
        free(o->aside);
        o->aside = NULL;
        fail_path(o);
        if (o->stage == X_DONE) { finish(o); return -1; }
        return NEXT;
    case X_DONE:
        finish(o);
        return r->failed ? -1 : 0;
    default:
        return 0;
    }
}

static void xop_abort(struct ssh_op *op, const char *why)
{
    struct xop *o = (struct xop *)op;
    if (o->h) {
        /* The session is going away: free the handle now, briefly blocking (a dead socket
           fails at once), or libssh2 would keep its memory. */
        LIBSSH2_SESSION *s = conn_session(o->conn);
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
    finish(o);
}

static const struct ssh_op_type xop_type = {"sftp request", xop_step, xop_abort, 0};

static void request_stop(struct xop *o);

static void on_timeout(uv_timer_t *t)
{
    struct xop *o = t->data;
    if (o->finished) return;
    snprintf(o->r.error, sizeof o->r.error, "timed out after %gs", o->r.timeout);
    request_stop(o);
}

void sftp_submit(struct conn *c, struct sftp_req *r)
{
    struct xop *o = xop_of(r);
    o->op.type = &xop_type;
    o->conn = c;
    conn_retain(c);
    uv_timer_init(sched_loop(), &o->timer);
    o->timer.data = o;
    o->has_timer = 1;
    if (r->timeout > 0) uv_timer_start(&o->timer, on_timeout, (uint64_t)(r->timeout * 1000 + 0.5), 0);
    if (conn_state(c) == C_DEAD) {
        snprintf(r->error, sizeof r->error, "%s", conn_error(c));
        r->failed = 1;
        finish(o);
        return;
    }
    o->link = link_get(c);
    if (!o->link) {
        snprintf(r->error, sizeof r->error, "out of memory");
        r->failed = 1;
        finish(o);
        return;
    }
    o->link->refs++;
    o->next_live = live;
    if (live) live->prev_live = o;
    live = o;
    conn_add_op(c, &o->op);
}

static void request_stop(struct xop *o)
{
    if (o->finished || o->stop) return;
    o->stop = 1;
    if (!o->op.active && !o->op.queued) return;
    conn_kick(o->conn);
}

void sftp_req_stop(struct sftp_req *r)
{
    struct xop *o = xop_of(r);
    if (o->conn) request_stop(o);
}

void sftp_req_release(struct sftp_req *r)
{
    struct xop *o = xop_of(r);
    o->lua_owned = 0;
    o->r.w.thread = NULL;
    if (!o->conn) { xop_free(o); return; }   /* never submitted */
    if (o->finished) { xop_defer_free(o); return; }
    request_stop(o);
}

void sftp_interrupt_all(void)
{
    for (struct xop *o = live; o; o = o->next_live) request_stop(o);
}

static int none_live(void) { return live == NULL; }

void sftp_shutdown(void)
{
    sftp_interrupt_all();
    sched_drain(none_live, 2000);
}
