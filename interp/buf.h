/* A growable byte buffer: the one container every file shares. */
#ifndef SSHS_BUF_H
#define SSHS_BUF_H
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

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

#endif
