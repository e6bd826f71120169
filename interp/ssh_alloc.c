/* Memory trimming for libssh2's blocks (see ssh_alloc.h). */
#include "ssh_alloc.h"
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* MADV_DONTNEED on private anonymous memory (malloc's heap and its mapped chunks) makes a page
   read as zero again, so dropping a page that is all zero changes no byte of the block: only
   the memory it pins. Only pages wholly inside the block are touched. */
void ssh_trim_block(void *p)
{
    if (!p) return;
    static const char zero[65536];
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (page == 0 || page > sizeof zero) return;
    uintptr_t start = (uintptr_t)p, end = start + malloc_usable_size(p);
    for (uintptr_t off = (start + page - 1) & ~(uintptr_t)(page - 1); off + page <= end; off += page)
        if (memcmp((void *)off, zero, page) == 0) madvise((void *)off, page, MADV_DONTNEED);
}

void *ssh_libssh2_alloc(size_t n)
{
    return malloc(n);
}
