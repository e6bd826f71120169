/* The allocator sshs gives libssh2 (see ssh_alloc.h). */
#include "ssh_alloc.h"
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* libssh2's allocator. Its session struct is ~55 KB of zeroed memory with large inline
   buffers that an idle connection never touches; mapped pages only become resident when
   written, so big blocks come from mmap and an idle connection costs what it uses. */
#define BIG_BLOCK (48 * 1024)    /* the session struct (~55 KB), not packet buffers (<= 35 KB) */
struct block_head { size_t size; size_t mapped; };   /* 16 bytes: keeps alignment */

void *ssh_alloc(size_t n, void **abstract)
{
    (void)abstract;
    size_t total = n + sizeof(struct block_head);
    struct block_head *h;
    if (n >= BIG_BLOCK) {
        h = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (h == MAP_FAILED) return NULL;
        h->mapped = 1;
    } else {
        h = malloc(total);
        if (!h) return NULL;
        h->mapped = 0;
    }
    h->size = n;
    return h + 1;
}

/* Gives back the pages of a mapped block that are entirely zero: MADV_DONTNEED makes them
   read as zero again, so the contents do not change, only the memory they pin. */
void ssh_trim_block(void *p)
{
    if (!p) return;
    struct block_head *h = (struct block_head *)p - 1;
    if (!h->mapped) return;
    static const char zero[4096];
    char *base = (char *)h;
    size_t len = h->size + sizeof *h;
    for (size_t off = 4096; off + 4096 <= len; off += 4096)      /* page 0 holds the header */
        if (memcmp(base + off, zero, 4096) == 0) madvise(base + off, 4096, MADV_DONTNEED);
}

void *ssh_libssh2_alloc(size_t n)
{
    return ssh_alloc(n, NULL);
}

void ssh_free(void *p, void **abstract)
{
    (void)abstract;
    if (!p) return;
    struct block_head *h = (struct block_head *)p - 1;
    if (h->mapped) munmap(h, h->size + sizeof *h); else free(h);
}

void *ssh_realloc(void *p, size_t n, void **abstract)
{
    if (!p) return ssh_alloc(n, abstract);
    struct block_head *h = (struct block_head *)p - 1;
    if (!h->mapped && n < BIG_BLOCK) {
        struct block_head *g = realloc(h, n + sizeof *h);
        if (!g) return NULL;
        g->size = n;
        return g + 1;
    }
    void *q = ssh_alloc(n, abstract);
    if (!q) return NULL;
    memcpy(q, p, h->size < n ? h->size : n);
    ssh_free(p, abstract);
    return q;
}
