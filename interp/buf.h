/* A growable byte buffer: the one container every file shares. */
#ifndef SSHS_BUF_H
#define SSHS_BUF_H
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct buf {
    char  *data;
    size_t len, cap;
};

/* Appends n bytes; returns 0, or -1 (buffer unchanged) when memory runs out. */
static inline int buf_append(struct buf *b, const void *p, size_t n)
{
    if (n > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->len < n) cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) return -1;
        b->data = d;
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

static inline void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* A byte queue in blocks (command output): appending never copies what is already held
   (no realloc doubling, so no 2x peak), the front can be dropped (a bounded tail), and
   blocks can be handed out and freed one by one while the bytes are copied elsewhere. */
struct spool_blk {
    struct spool_blk *next;
    size_t len, cap;
    int mapped;          /* big blocks are mapped: freeing one gives the memory back at once */
    char data[];
};

struct spool {
    struct spool_blk *head, *tail;
    size_t off;          /* bytes of head already dropped */
    size_t len;          /* bytes held */
    size_t total;        /* bytes ever appended (total > len: the front was dropped) */
};

#define SPOOL_MIN_BLK 4096u
#define SPOOL_MAX_BLK (1024u * 1024 - 64)
#define SPOOL_MAP_AT (128u * 1024)

/* malloc keeps freed heap memory (its mmap threshold rises after the first big free), so
   big blocks are mapped directly: a drained spool really shrinks the process. */
static inline struct spool_blk *spool_blk_new(size_t cap)
{
    struct spool_blk *b;
    if (cap >= SPOOL_MAP_AT) {
        void *m = mmap(NULL, sizeof *b + cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) return NULL;
        b = m;
        b->mapped = 1;
    } else {
        if (!(b = malloc(sizeof *b + cap))) return NULL;
        b->mapped = 0;
    }
    b->next = NULL;
    b->len = 0;
    b->cap = cap;
    return b;
}

static inline void spool_blk_free(struct spool_blk *b)
{
    if (b->mapped) munmap(b, sizeof *b + b->cap); else free(b);
}

/* Appends n bytes; returns 0, or -1 when memory runs out (what fitted is kept). */
static inline int spool_append(struct spool *s, const void *p, size_t n)
{
    const char *src = p;
    s->total += n;
    while (n > 0) {
        struct spool_blk *b = s->tail;
        if (!b || b->len == b->cap) {
            /* Small outputs stay small; big ones get big blocks (few mallocs). */
            size_t cap = b ? b->cap * 2 : SPOOL_MIN_BLK;
            while (cap < n && cap < SPOOL_MAX_BLK) cap *= 2;
            if (cap > SPOOL_MAX_BLK) cap = SPOOL_MAX_BLK;
            if (!(b = spool_blk_new(cap))) return -1;
            if (s->tail) s->tail->next = b; else s->head = b;
            s->tail = b;
        }
        size_t k = b->cap - b->len < n ? b->cap - b->len : n;
        memcpy(b->data + b->len, src, k);
        b->len += k;
        s->len += k;
        src += k;
        n -= k;
    }
    return 0;
}

/* Drops bytes from the front until at most keep are held. */
static inline void spool_keep_tail(struct spool *s, size_t keep)
{
    while (s->len > keep && s->head) {
        size_t drop = s->len - keep, avail = s->head->len - s->off;
        if (drop < avail) { s->off += drop; s->len -= drop; return; }
        struct spool_blk *b = s->head;
        s->head = b->next;
        if (!s->head) s->tail = NULL;
        s->off = 0;
        s->len -= avail;
        spool_blk_free(b);
    }
}

/* Copies everything held to dst (s->len bytes), freeing each block once copied: the
   peak is the destination plus one block. The spool is empty afterwards. */
static inline void spool_drain_to(struct spool *s, char *dst)
{
    while (s->head) {
        struct spool_blk *b = s->head;
        size_t k = b->len - s->off;
        memcpy(dst, b->data + s->off, k);
        dst += k;
        s->head = b->next;
        s->off = 0;
        spool_blk_free(b);
    }
    s->tail = NULL;
    s->len = 0;
}

static inline void spool_free(struct spool *s)
{
    while (s->head) {
        struct spool_blk *b = s->head;
        s->head = b->next;
        spool_blk_free(b);
    }
    s->tail = NULL;
    s->off = s->len = s->total = 0;
}

#endif
