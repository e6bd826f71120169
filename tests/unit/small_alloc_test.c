/* The Lua allocator of small_alloc.c, called directly and under a Lua state:
   blocks of every small size are aligned, apart and reused by class; resizes keep the bytes
   across classes and to and from malloc's sizes; once the arena is used up blocks come from
   malloc and go back there, as any block of malloc's does; a Lua workload runs and collects
   on it. Under AddressSanitizer: the bytes after a block and a
   freed block are poisoned. */
#include "small_alloc.h"
#include "check.h"
#include <lauxlib.h>
#include <lualib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN 1
#endif
#endif
#ifdef ASAN
#include <sanitizer/asan_interface.h>
#endif

#define SMALL_MAX 512
static lua_Alloc f;                    /* called through a pointer, as Lua does */

static void *get(size_t n) { return f(NULL, NULL, LUA_TTABLE, n); }
static void put(void *p, size_t n) { f(NULL, p, n, 0); }
static void *resize(void *p, size_t o, size_t n) { return f(NULL, p, o, n); }

static int filled(const unsigned char *p, size_t n, unsigned char v)
{
    for (size_t i = 0; i < n; i++) if (p[i] != v) return 0;
    return 1;
}

static void every_size(void)
{
    static unsigned char *b[SMALL_MAX + 1];
    int aligned = 1, kept = 1, reused = 1;
    for (size_t n = 1; n <= SMALL_MAX; n++) {
        b[n] = get(n);
        if ((uintptr_t)b[n] % 16) aligned = 0;
        memset(b[n], (int)(n & 0xff), n);
    }
    for (size_t n = 1; n <= SMALL_MAX; n++) if (!filled(b[n], n, (unsigned char)(n & 0xff))) kept = 0;
    check(aligned, "every size from 1 to 512 bytes is 16-byte aligned", NULL);
    check(kept, "512 blocks live at once do not overlap (each keeps its own bytes)", NULL);
    /* Freed, then asked for again: each size gets a block of its class back (the last one
       freed of its class, so the block of the same size here). */
    for (size_t n = 1; n <= SMALL_MAX; n++) put(b[n], n);
    for (size_t n = SMALL_MAX; n >= 1; n--) {
        unsigned char *p = get(n);
        if (p != b[n] && n % 16 == 0) reused = 0;
        b[n] = p;
    }
    check(reused, "a freed block is reused by the next block of its class", NULL);
    for (size_t n = 1; n <= SMALL_MAX; n++) put(b[n], n);
}

static void resizes(void)
{
    unsigned char *p = get(40);
    memset(p, 7, 40);
    unsigned char *q = resize(p, 40, 48);
    check(q == p && filled(q, 40, 7), "a resize within the class stays in place", NULL);
    q = resize(q, 48, 200);
    int ok = filled(q, 40, 7);
    memset(q, 8, 200);
    q = resize(q, 200, 30);
    ok = ok && filled(q, 30, 8);
    check(ok, "a resize to another class moves the bytes (grow and shrink)", NULL);
    memset(q, 9, 30);
    q = resize(q, 30, 100000);
    ok = filled(q, 30, 9);
    memset(q, 10, 100000);
    q = resize(q, 100000, 300000);
    ok = ok && filled(q, 100000, 10);
    q = resize(q, 300000, 64);
    check(ok && filled(q, 64, 10), "a resize to and between big sizes (malloc's) keeps the bytes", NULL);
    put(q, 64);
    check(f(NULL, NULL, 0, 0) == NULL, "a zero-size block is NULL", NULL);
}

/* Until the arena is used up blocks are its own, then malloc's; once they are all freed the
   arena's come back. */
static void exhaustion(void)
{
    enum { MAX = 4096 };                /* 2 MiB of 512-byte blocks: well past the arena */
    static unsigned char *b[MAX];
    int n = 0;
    while (n < MAX) {
        b[n] = get(SMALL_MAX);
        memset(b[n], 1, SMALL_MAX);
        if (!small_alloc_owns(b[n++])) break;
    }
    int owned_before = 1;
    for (int i = 0; i < n - 1; i++) if (!small_alloc_owns(b[i])) owned_before = 0;
    check(n < MAX && owned_before, "a used-up arena hands out malloc's blocks", "%d blocks", n);
    for (int i = 0; i < n; i++) put(b[i], SMALL_MAX);
    unsigned char *p = get(SMALL_MAX);
    check(small_alloc_owns(p), "once freed, the arena's blocks are handed out again", NULL);
    put(p, SMALL_MAX);
}

static void lua_workload(lua_State *L)
{
    const char *chunk =
        "local t = {}\n"
        "for i = 1, 20000 do t[i] = {tostring(i), string.rep('x', i % 700)} end\n"
        "local sum = 0\n"
        "for i = 1, #t do sum = sum + #t[i][2] + tonumber(t[i][1]) end\n"
        "local before = collectgarbage('count')\n"
        "t = nil\n"
        "collectgarbage()\n"
        "return sum, collectgarbage('count') < before / 4\n";
    int ok = luaL_dostring(L, chunk) == LUA_OK;
    lua_Integer want = 0;
    for (int i = 1; i <= 20000; i++) want += i % 700 + i;
    check(ok && lua_tointeger(L, -2) == want && lua_toboolean(L, -1),
          "a Lua workload (tables, strings of every size) runs and is collected", "%s",
          ok ? "wrong result" : lua_tostring(L, -1));
    lua_settop(L, 0);
}

int main(void)
{
#ifdef ASAN
    plan(13);
#else
    plan(11);
#endif
    small_alloc_init();
    f = small_alloc;
    lua_State *L = lua_newstate(small_alloc, NULL);
    void *other = malloc(32);
    put(other, 32);
    check(1, "a block of malloc's is given back to malloc (ASan: no bad free)", NULL);
    luaL_openlibs(L);
    every_size();
    resizes();
    exhaustion();
    lua_workload(L);
#ifdef ASAN
    unsigned char *p = get(24);
    check(__asan_address_is_poisoned(p + 24) && !__asan_address_is_poisoned(p + 23),
          "ASan: the byte after a block is poisoned, its last byte is not", NULL);
    put(p, 24);
    check(__asan_address_is_poisoned(p), "ASan: a freed block is poisoned", NULL);
#endif
    lua_close(L);
    return failures != 0;
}
