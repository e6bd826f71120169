/* libssh2 allocates with its own default allocator (malloc, free, realloc), never one of
   ours: its OpenSSL backend frees some blocks with plain free() (ECDSA keys in 1.11), so any
   allocator with headers or its own bookkeeping would corrupt the heap. What the custom
   allocator used to do (an idle connection keeps only the pages its ~55 KB session struct
   really uses) is done here on malloc's own blocks. */
#ifndef SSHS_SSH_ALLOC_H
#define SSHS_SSH_ALLOC_H
#include <stddef.h>

/* Returns the all-zero pages inside a malloc'ed block to the system (contents unchanged). */
void  ssh_trim_block(void *p);
/* Memory that libssh2 will free itself (e.g. keyboard-interactive answers): malloc's. */
void *ssh_libssh2_alloc(size_t n);

#endif
