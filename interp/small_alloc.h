/* Lua's allocator for the runtime's state: small blocks from a fixed arena (small_alloc.c). */
#ifndef SSHS_SMALL_ALLOC_H
#define SSHS_SMALL_ALLOC_H
#include <stddef.h>

/* Call once before the allocator's first use. */
void small_alloc_init(void);
/* A lua_Alloc (ud unused): lua_setallocf(L, small_alloc, NULL); blocks made before by malloc
   are freed and resized through malloc. */
void *small_alloc(void *ud, void *ptr, size_t osize, size_t nsize);
/* Whether p is one of the arena's blocks (the unit test looks). */
int small_alloc_owns(const void *p);

#endif
