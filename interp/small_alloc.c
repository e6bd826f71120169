/* Lua's allocator: small blocks from a fixed arena, in 16-byte size classes, each class with its
   own free list; bigger blocks, and every block once the arena is used up, from malloc.
   Why: start-up makes ~1800 allocations and frees (the libraries' and the runtime's tables,
   closures, strings and prototypes, which lua_close frees again), and on a fresh heap glibc's
   malloc and free cost ~150 instructions a call: a fifth of `sshs -e ''` (issue 21); here a
   call is a few instructions. Lua passes a block's size with every free and resize, so a
   block needs no header, and whether it is the arena's is its address. The arena is fixed,
   so what a long run keeps on the free lists is bounded by it; a block from malloc (a big
   one, or one made once the arena was used up) goes back there by the same address test.
   Under AddressSanitizer each block is followed by a poisoned gap and freed blocks are
   poisoned; under valgrind each block is announced as a heap block: both keep seeing
   overruns and uses after free in Lua's memory (userdata included). */
#include "small_alloc.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define SMALL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SMALL_ASAN 1
#endif
#endif
#ifdef SMALL_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define SMALL_MEMCHECK 1
#endif
#endif

#define GRAIN 16
#define SMALL_MAX 512                       /* bigger blocks always come from malloc */
#define ARENA_SIZE (256 * 1024)             /* start-up takes about a fifth of it */

static _Alignas(GRAIN) unsigned char arena[ARENA_SIZE];
static size_t used;                         /* the arena is handed out from its start */
static void *free_list[SMALL_MAX / GRAIN + 1];   /* by class: n bytes are class ceil(n/16) */
static size_t gap;                          /* unused bytes after each block (checkers) */
static int memcheck;                        /* running under valgrind's memcheck */

static size_t class_of(size_t n) { return (n + GRAIN - 1) / GRAIN; }

static int in_arena(const void *p)
{
    return (uintptr_t)p - (uintptr_t)arena < ARENA_SIZE;
}

int small_alloc_owns(const void *p) { return in_arena(p); }

/* memcheck's view (kept out of the fast path, which then needs no stack frame): a block
   handed out is a heap block of n bytes, one given back is freed (the rest of the arena stays
   unaddressable), and the free list's link in a freed block is ours to touch. */
enum mc_event { MC_ALLOC, MC_RESIZE, MC_FREE, MC_LINK_OPEN, MC_LINK_CLOSE };
__attribute__((noinline, cold)) static void mc_note(enum mc_event e, void *p, size_t o, size_t n)
{
#ifdef SMALL_MEMCHECK
    switch (e) {
    case MC_ALLOC: VALGRIND_MALLOCLIKE_BLOCK(p, n, 0, 0); break;
    case MC_RESIZE: VALGRIND_RESIZEINPLACE_BLOCK(p, o, n, 0); break;
    case MC_FREE: VALGRIND_FREELIKE_BLOCK(p, 0); break;
    case MC_LINK_OPEN: VALGRIND_MAKE_MEM_DEFINED(p, sizeof(void *)); break;
    case MC_LINK_CLOSE: VALGRIND_MAKE_MEM_NOACCESS(p, sizeof(void *)); break;
    }
#endif
    (void)e, (void)p, (void)o, (void)n;
}

/* n (1..SMALL_MAX) bytes: a freed block of its class, else the arena's next, else malloc's. */
static void *take(size_t n)
{
    size_t c = class_of(n);
    void *p = free_list[c];
    if (p) {
        UNPOISON(p, sizeof(void *));
        if (memcheck) mc_note(MC_LINK_OPEN, p, 0, 0);
        free_list[c] = *(void **)p;
        POISON(p, sizeof(void *));          /* n may be less than the link */
    } else if (ARENA_SIZE - used >= c * GRAIN + gap) {
        p = arena + used;
        used += c * GRAIN + gap;
    } else {
        return malloc(n);
    }
    UNPOISON(p, n);
    if (memcheck) mc_note(MC_ALLOC, p, 0, n);
    return p;
}

/* A block of n bytes goes back where it came from. */
static void give(void *p, size_t n)
{
    if (!in_arena(p)) { free(p); return; }
    size_t c = class_of(n);
    if (memcheck) { mc_note(MC_FREE, p, 0, 0); mc_note(MC_LINK_OPEN, p, 0, 0); }
    UNPOISON(p, sizeof(void *));            /* n may be less than the link */
    *(void **)p = free_list[c];
    free_list[c] = p;
    if (memcheck) mc_note(MC_LINK_CLOSE, p, 0, 0);
    POISON(p, c * GRAIN);
}

/* A resize: in place within the class, else a new block and a copy. A shrink must not fail. */
__attribute__((noinline)) static void *resize(void *ptr, size_t osize, size_t nsize)
{
    if (!in_arena(ptr)) return realloc(ptr, nsize);
    if (nsize <= SMALL_MAX && class_of(nsize) == class_of(osize)) {
        POISON(ptr, class_of(osize) * GRAIN);
        UNPOISON(ptr, nsize);
        if (memcheck) mc_note(MC_RESIZE, ptr, osize, nsize);
        return ptr;
    }
    void *q = nsize <= SMALL_MAX ? take(nsize) : malloc(nsize);
    if (!q) return nsize < osize ? ptr : NULL;   /* a shrink keeps the bigger block */
    memcpy(q, ptr, osize < nsize ? osize : nsize);
    give(ptr, osize);
    return q;
}

/* The lua_Alloc contract: ptr NULL makes a block (osize is then a type tag), nsize 0 frees,
   else a resize. The two common cases go straight through. */
void *small_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    if (!ptr) return nsize - 1 < SMALL_MAX ? take(nsize) : nsize ? malloc(nsize) : NULL;
    if (nsize == 0) { give(ptr, osize); return NULL; }
    return resize(ptr, osize, nsize);
}

void small_alloc_init(void)
{
    static int ready;
    if (ready) return;
    ready = 1;
#ifdef SMALL_ASAN
    gap = GRAIN;
#endif
#ifdef SMALL_MEMCHECK
    /* 1 only under memcheck (0 natively and under valgrind's other tools, callgrind's counts
       then being the native path's). */
    unsigned char bits;
    memcheck = VALGRIND_GET_VBITS(arena, &bits, 1) == 1;
    if (memcheck) { gap = GRAIN; VALGRIND_MAKE_MEM_NOACCESS(arena, ARENA_SIZE); }
#endif
    POISON(arena, ARENA_SIZE);
}
