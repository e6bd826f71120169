/* libssh2's allocator: big blocks (its ~55 KB session struct) are mapped, so the pages an
   idle connection never uses can be given back (ssh_trim_block). */
#ifndef SSHS_SSH_ALLOC_H
#define SSHS_SSH_ALLOC_H
#include <stddef.h>

void *ssh_alloc(size_t n, void **abstract);
void  ssh_free(void *p, void **abstract);
void *ssh_realloc(void *p, size_t n, void **abstract);
/* Returns the all-zero pages of a mapped block to the system (contents unchanged). */
void  ssh_trim_block(void *p);
/* Memory that libssh2 will free itself (e.g. keyboard-interactive answers). */
void *ssh_libssh2_alloc(size_t n);

#endif
