/* Lua 5.4 makes a string only by copying bytes we hold, so a big capture would briefly be
   in memory twice, and the copy of 512 MiB held the loop (every thread) for about a second.
   Instead the bytes go into a memory file (memfd, block by block, each block freed once
   written), the file is mapped once, and the allocator hands Lua that mapping for that one
   string, whose text we pass as the source: Lua's copy is then memcpy(p, p, n), which glibc
   returns from at once, so no page is read, written or faulted in while the loop waits
   (they come in when the script reads the string). Lua frees the string through the
   allocator, which unmaps it. */
#include "bigstr.h"
#include <lauxlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define BIG_MIN (1024u * 1024)              /* smaller results are copied the plain way */
#define STRING_TAG LUA_TSTRING            /* what Lua passes as osize for a new string */

static lua_Alloc inner;
static void *inner_ud;
static size_t header;                       /* bytes of a string object before its text */
static int probing;
static void *pending;                       /* the mapping to hand out for the next string */
static size_t pending_size;
static struct mapped { void *p; size_t size; } *maps;   /* strings living in mappings */
static size_t nmaps, capmaps;

static int take_mapped(void *p)
{
    for (size_t i = 0; i < nmaps; i++) {
        if (maps[i].p == p) { maps[i] = maps[--nmaps]; return 1; }
    }
    return 0;
}

static void *bigstr_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    if (!ptr && osize == STRING_TAG) {
        if (probing) { header = nsize; probing = 0; }
        else if (pending && nsize == pending_size) {
            void *p = pending;
            pending = NULL;
            maps[nmaps++] = (struct mapped){p, nsize};
            return p;
        }
    }
    if (ptr && osize >= BIG_MIN && nmaps && take_mapped(ptr)) {
        void *moved = NULL;
        if (nsize) {                        /* Lua never resizes a string; be correct anyway */
            moved = inner(inner_ud, NULL, 0, nsize);
            if (!moved) { maps[nmaps++] = (struct mapped){ptr, osize}; return NULL; }
            memcpy(moved, ptr, osize < nsize ? osize : nsize);
        }
        munmap(ptr, osize);
        return moved;
    }
    return inner(ud, ptr, osize, nsize);
}

void bigstr_install(lua_State *L)
{
    inner = lua_getallocf(L, &inner_ud);
    lua_setallocf(L, bigstr_alloc, inner_ud);
    /* Learn the size of a string's header from one long string (100 bytes of text). */
    char text[100] = {0};
    probing = 1;
    lua_pushlstring(L, text, sizeof text);
    lua_pop(L, 1);
    /* Until the first big string, every allocation goes straight to Lua's own allocator
       (start-up makes thousands); ours comes back in bigstr_push_file, and stays: blocks
       made before it are freed through it, which passes them on. */
    lua_setallocf(L, inner, inner_ud);
    if (probing || header <= sizeof text + 1) { probing = 0; header = 0; return; }
    header -= sizeof text + 1;
}

/* The plain way: a transient second copy. */
static void push_copy(lua_State *L, struct spool *s)
{
    luaL_Buffer b;
    char *p = luaL_buffinitsize(L, &b, s->len);
    size_t n = s->len;
    spool_drain_to(s, p);
    luaL_pushresultsize(&b, n);
}

static int write_at(int fd, const char *p, size_t k, off_t off)
{
    while (k > 0) {
        ssize_t w = pwrite(fd, p, k, off);
        if (w <= 0) return -1;
        p += w; k -= (size_t)w; off += w;
    }
    return 0;
}

int bigstr_spill(struct bigfile *f, struct spool *s)
{
    f->fd = -1;
    f->len = 0;
    if (!header) return -1;
    f->fd = memfd_create("sshs-output", MFD_CLOEXEC);
    if (f->fd < 0) return -1;
    /* Written first, freed after: on failure the spool is still whole. */
    off_t off = (off_t)header;
    for (struct spool_blk *b = s->head; b; b = b->next) {
        size_t from = b == s->head ? s->off : 0;
        if (write_at(f->fd, b->data + from, b->len - from, off) != 0) { bigstr_close(f); return -1; }
        off += (off_t)(b->len - from);
    }
    f->len = s->len;
    spool_free(s);
    return 0;
}

int bigstr_append(struct bigfile *f, const void *p, size_t n)
{
    if (write_at(f->fd, p, n, (off_t)(header + f->len)) != 0) return -1;
    f->len += n;
    return 0;
}

void bigstr_close(struct bigfile *f)
{
    if (f->fd >= 0) close(f->fd);
    f->fd = -1;
    f->len = 0;
}

void bigstr_push_file(lua_State *L, struct bigfile *f)
{
    size_t n = f->len, total = header + n + 1;
    if (nmaps == capmaps) {
        struct mapped *m = realloc(maps, (capmaps * 2 + 8) * sizeof *m);
        if (m) { maps = m; capmaps = capmaps * 2 + 8; }
    }
    char *dst = MAP_FAILED;
    if (nmaps < capmaps && ftruncate(f->fd, (off_t)total) == 0)
        dst = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);
    bigstr_close(f);
    if (dst == MAP_FAILED) luaL_error(L, "out of memory keeping a command's output (%zu bytes)", n);
    if (lua_getallocf(L, NULL) != bigstr_alloc) lua_setallocf(L, bigstr_alloc, inner_ud);
    pending = dst;
    pending_size = total;
    /* Taken (the usual case): Lua copies the text onto itself. Not taken: Lua copies it out
       of the mapping into its own block, and the mapping goes. */
    lua_pushlstring(L, dst + header, n);
    if (pending) { pending = NULL; munmap(dst, total); }
}

void bigstr_push_spool(lua_State *L, struct spool *s)
{
    struct bigfile f;
    if (s->len < BIG_MIN || bigstr_spill(&f, s) != 0) { push_copy(L, s); return; }
    bigstr_push_file(L, &f);
}
