/* SFTP on a connection: one SFTP channel per connection, opened on first use and shared by
   every thread using that connection; each request (a stat, a rename, a whole file sent or
   received) is an op on the shared loop, so other threads and transfers run while it moves.
   Connection side: no Lua in here (the bindings are l_files.c). */
#ifndef SSHS_SSH_SFTP_H
#define SSHS_SSH_SFTP_H
#include <stddef.h>
#include <stdint.h>
#include "buf.h"
#include "scheduler.h"

struct conn;

enum sftp_what {
    SFTP_STAT, SFTP_LSTAT, SFTP_MKDIR, SFTP_RMDIR, SFTP_UNLINK, SFTP_RENAME, SFTP_SYMLINK,
    SFTP_READLINK, SFTP_SETSTAT, SFTP_LIST, SFTP_PUT, SFTP_GET
};

struct sftp_attrs {
    char type;                   /* 'f' file, 'd' folder, 'l' link, 's' special, 0 unknown */
    int has_size, has_mode, has_times;
    uint64_t size;
    unsigned mode;               /* permission bits, 07777 */
    int64_t atime, mtime;
};

struct sftp_entry {
    char *name;
    struct sftp_attrs a;
};

/* One request. The caller fills the "in" part, calls sftp_submit, waits on w until done. */
struct sftp_req {
    /* in */
    enum sftp_what what;
    char *path;                  /* owned (freed by sftp_req_free) */
    char *path2;                 /* RENAME/SYMLINK: the new name; PUT: the final name */
    int fd;                      /* PUT: the local source; GET: the local sink; -1: memory */
    struct buf data;             /* PUT from memory; GET into memory; READLINK's target */
    unsigned mode;               /* MKDIR/PUT: the mode to create with */
    int set_mode, set_times;     /* PUT/SETSTAT: set these after writing (mode, atime/mtime) */
    int64_t atime, mtime;
    double timeout;              /* seconds (0: none); past it the request stops and fails */
    /* out */
    int done;                    /* finished (successfully or not) */
    int failed;
    unsigned long status;        /* the server's SFTP status code when it refused, else 0 */
    char error[700];             /* what failed, in words (without host or path) */
    struct sftp_attrs attrs;     /* STAT/LSTAT; GET: the source's */
    struct sftp_entry *entries;  /* LIST */
    size_t nentries;
    uint64_t bytes;              /* PUT/GET: moved so far (progress) */
    struct sched_waiter w;       /* woken when done */
};

/* A new request in a safe empty state (fd -1); NULL when memory runs out. */
struct sftp_req *sftp_new(enum sftp_what what);
/* Starts r on c (it may finish at once: fill in everything first). */
void sftp_submit(struct conn *c, struct sftp_req *r);
/* Stops an unfinished request (as Ctrl-C does: ops_interrupt_all in ssh.h); it still ends
   through done/w, at the latest OP_GIVE_UP_MS later (its clean-up may go on behind). */
void sftp_req_stop(struct sftp_req *r);
/* The caller lets go of r: an unfinished one is stopped (a PUT removes its temporary) and
   freed when the connection is done with it; a finished one is freed now. */
void sftp_req_release(struct sftp_req *r);
/* Words for an SFTP status code ("no such file or directory", "disk full" …). */
const char *sftp_status_text(unsigned long status);

#endif
