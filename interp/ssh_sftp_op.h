/* Inside the SFTP engine (as OpenSSH splits sftp-client.c from its transfers):
   ssh_sftp_link.c  the per-connection SFTP channel (the link), its call locks, and the status
                    and attribute helpers every call shares;
   ssh_sftp.c       a request as an op: its lifecycle, stop and give-up, the one-call requests
                    (stat, mkdir, rename …: one function per call kind), the stage table;
   ssh_sftp_file.c  the stages of a file or folder request: open, read or write, set
                    attributes, close, rename into place, and the clean-up after a failure.
   Calls go one way: ssh_sftp.c -> ssh_sftp_file.c -> ssh_sftp_link.c.
   Not for other files: they see ssh_sftp.h. */
#ifndef SSHS_SSH_SFTP_OP_H
#define SSHS_SSH_SFTP_OP_H
#include "ssh_sftp.h"
#include "ssh_chan.h"
#include <libssh2_sftp.h>

/* ---- the link (ssh_sftp_link.c) ---- */

enum lstate { L_OPENING, L_READY, L_BROKEN, L_GONE };

/* The call locks: libssh2 keeps one unfinished call of each kind per SFTP session (its state
   lives in the LIBSSH2_SFTP, not the handle), so calls of different kinds may be half-way at
   once, two of the same kind may not. A handle's close resets the read state: it counts as
   a read. K_DATA (a file's reads or writes) is exclusive: see sftp_lock. */
enum kind { K_OPEN, K_READ, K_DATA, K_FSTAT, K_READDIR, K_UNLINK, K_RENAME, K_PRENAME, K_MKDIR,
            K_RMDIR, K_STAT, K_SYMLINK, K_COUNT };

struct xop;

struct link {
    struct ssh_op op;                   /* an op of its connection (a weak one: see ssh_op.h) */
    LIBSSH2_SFTP *sftp;
    enum lstate state;
    struct chan ch;                     /* for the request lock around libssh2_sftp_init */
    struct xop *locks[K_COUNT];         /* per kind of call: the request with one in flight */
    struct xop *exclusive;              /* in a data phase: nobody else may send meanwhile */
    int refs;                           /* requests using it, +1 while on its connection */
    char error[700];
    struct link *next;
};

/* The link of c (a reference), started if there is none; NULL when out of memory. */
struct link *link_get(struct conn *c);
void link_unref(struct link *l);
/* The SFTP channel is gone under a request: the next request opens a new one. */
void link_broken(struct link *l);
/* 1 when o may make a call of kind k now (it holds the lock until sftp_unlock); 0: wait. */
int  sftp_lock(struct xop *o, enum kind k);
void sftp_unlock(struct xop *o);
/* o is finished: whatever it holds is given back. */
void sftp_unlock_all(struct xop *o);

/* ---- a request (ssh_sftp.c) ---- */

enum stage {
    X_START, X_CALL, X_READDIR,
    X_OPEN, X_FSTAT, X_READ, X_WRITE, X_FSETSTAT, X_CLOSE,
    X_RENAME, X_RENAME_PLAIN, X_ASIDE, X_RENAME2, X_DROP_OLD,
    X_FAIL_CLOSE, X_FAIL_UNLINK, X_FAIL_RESTORE
};

struct xop {
    struct ssh_op op;                   /* the lifecycle: stage, timer, live list (ssh_op.h) */
    struct sftp_req r;
    struct link *link;                  /* a reference */
    LIBSSH2_SFTP_HANDLE *h;
    char *buf;
    size_t cap;                         /* buf's size (see XFER_TOTAL) */
    size_t blen, boff;
    int eof;
    int tmp_made;                       /* PUT: the temporary exists on the server */
    int stop;                           /* stop requested: clean up and finish */
    char *aside;                        /* PUT without posix-rename: the old file, moved aside */
    int renames, retry;                 /* another writer raced us to the name: try again */
    int held;                           /* 1 + the kind of call lock held, 0 none */
    char name[1024];                    /* READDIR and READLINK scratch */
};

static inline struct xop *xop_of(struct ssh_op *op) { return (struct xop *)op; }

/* Makes one libssh2 SFTP call (expr, assigned to rc) of kind k under its lock, from a stage
   function: returns SSH_STEP_WAITING while another request holds the lock, SSH_STEP_AGAIN on
   EAGAIN (the same call again next time); else the lock is given back and rc is the result. */
#define SFTP_CALL(o, k, rc, expr) do {                               \
        if (!sftp_lock((o), (k))) return SSH_STEP_WAITING;           \
        (rc) = (expr);                                               \
        if ((rc) == LIBSSH2_ERROR_EAGAIN) return SSH_STEP_AGAIN;     \
        sftp_unlock(o);                                              \
    } while (0)

/* Records why call `what` failed with rc (the server's status, or libssh2's words). */
void sftp_record(struct xop *o, const char *what, int rc);
/* A failed call: a transport error is SSH_STEP_LOST (the connection fails); any other goes
   to the clean-up (sftp_fail_path). */
enum ssh_step sftp_call_failed(struct xop *o, const char *what, int rc);
/* sftp_record, then the clean-up (sftp_fail_path). */
enum ssh_step sftp_refused(struct xop *o, const char *what, int rc);
/* A failure after the file was opened: close it, remove a PUT's temporary (or put the old
   file back), then finish. SSH_STEP_DONE to run that clean-up, SSH_STEP_FAILED when there
   was nothing to clean up (finished). */
enum ssh_step sftp_fail_path(struct xop *o);
/* Sets the request's error (unless one is set) and marks it failed. */
void sftp_fail(struct xop *o, const char *why);
void sftp_fill_attrs(struct sftp_attrs *a, const LIBSSH2_SFTP_ATTRIBUTES *la);
void sftp_to_attrs(const struct sftp_req *r, LIBSSH2_SFTP_ATTRIBUTES *la);

/* ---- the file stages (ssh_sftp_file.c: xf_ for transfer) ---- */

enum ssh_step xf_open(struct ssh_op *op);
enum ssh_step xf_fstat(struct ssh_op *op);
enum ssh_step xf_read(struct ssh_op *op);
enum ssh_step xf_write(struct ssh_op *op);
enum ssh_step xf_fsetstat(struct ssh_op *op);
enum ssh_step xf_close(struct ssh_op *op);
enum ssh_step xf_rename(struct ssh_op *op);
enum ssh_step xf_rename_plain(struct ssh_op *op);
enum ssh_step xf_aside(struct ssh_op *op);
enum ssh_step xf_rename2(struct ssh_op *op);
enum ssh_step xf_drop_old(struct ssh_op *op);
enum ssh_step xf_readdir(struct ssh_op *op);
enum ssh_step xf_fail_close(struct ssh_op *op);
enum ssh_step xf_fail_unlink(struct ssh_op *op);
enum ssh_step xf_fail_restore(struct ssh_op *op);
/* The transfer buffer goes back to the shared budget. */
void sftp_release_buf(struct xop *o);

#endif
