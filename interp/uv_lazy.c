/* libuv, loaded on first use: the binary does not link it; each libuv function the binary
   calls is defined here and calls the library's, which the first of them loads with dlopen.
   Why: Debian's libuv.so.1 is linked with BIND_NOW, so loading it at start-up resolved its
   ~300 symbols (0.22 M instructions, a fifth of `sshs -e ''`, issue 21), and a run that never
   waits on anything (no command, sleep or connection) needs no loop. It stays the system's
   shared library (its security updates apply); the modules link it as before and get the same
   copy (the dynamic loader loads a library once). The scheduler makes the loop on first use
   (sched_loop); the signal handler calls into libuv only once the loop is there. These
   definitions are not exported (interp/core.exports), so libuv never calls them itself. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#define UV_SONAME "libuv.so.1"             /* libuv's ABI name for every 1.x release */

/* Every libuv function the binary calls (a missing one fails the link): V for those that
   return nothing. (return type, name, parameters, arguments) */
#define UV_LAZY_FUNCTIONS(F, V) \
    V(void, uv_close, (uv_handle_t *h, uv_close_cb cb), (h, cb)) \
    V(void, uv_ref, (uv_handle_t *h), (h)) \
    V(void, uv_unref, (uv_handle_t *h), (h)) \
    V(void, uv_update_time, (uv_loop_t *l), (l)) \
    F(uv_loop_t *, uv_default_loop, (void), ()) \
    F(int, uv_run, (uv_loop_t *l, uv_run_mode m), (l, m)) \
    F(int, uv_loop_alive, (const uv_loop_t *l), (l)) \
    F(int, uv_loop_close, (uv_loop_t *l), (l)) \
    F(uint64_t, uv_now, (const uv_loop_t *l), (l)) \
    F(uint64_t, uv_hrtime, (void), ()) \
    F(const char *, uv_strerror, (int e), (e)) \
    F(int, uv_is_active, (const uv_handle_t *h), (h)) \
    F(int, uv_is_closing, (const uv_handle_t *h), (h)) \
    F(int, uv_timer_init, (uv_loop_t *l, uv_timer_t *h), (l, h)) \
    F(int, uv_timer_start, (uv_timer_t *h, uv_timer_cb cb, uint64_t t, uint64_t r), (h, cb, t, r)) \
    F(int, uv_timer_stop, (uv_timer_t *h), (h)) \
    F(int, uv_poll_init, (uv_loop_t *l, uv_poll_t *h, int fd), (l, h, fd)) \
    F(int, uv_poll_start, (uv_poll_t *h, int ev, uv_poll_cb cb), (h, ev, cb)) \
    F(int, uv_poll_stop, (uv_poll_t *h), (h)) \
    F(int, uv_idle_init, (uv_loop_t *l, uv_idle_t *h), (l, h)) \
    F(int, uv_idle_start, (uv_idle_t *h, uv_idle_cb cb), (h, cb)) \
    F(int, uv_idle_stop, (uv_idle_t *h), (h)) \
    F(int, uv_async_init, (uv_loop_t *l, uv_async_t *h, uv_async_cb cb), (l, h, cb)) \
    F(int, uv_async_send, (uv_async_t *h), (h)) \
    F(int, uv_signal_init, (uv_loop_t *l, uv_signal_t *h), (l, h)) \
    F(int, uv_signal_start, (uv_signal_t *h, uv_signal_cb cb, int sig), (h, cb, sig))

#define UV_LAZY_FIELD(ret, name, params, args) ret (*name) params;
static struct {
    UV_LAZY_FUNCTIONS(UV_LAZY_FIELD, UV_LAZY_FIELD)
} uv;
static int loaded;

/* Loads libuv and takes every function above from it, or ends the run with why: without its
   event loop sshs can do nothing that waits (a broken installation; the package depends on
   libuv1). Only ever on the loop's thread, before anything of libuv's runs. */
__attribute__((noinline, cold)) static void load(void)
{
    void *h = dlopen(UV_SONAME, RTLD_NOW | RTLD_LOCAL);
    const char *missing = NULL;
#define UV_LAZY_SYM(ret, name, params, args) \
    if (h && !missing && !(uv.name = (ret (*) params)dlsym(h, #name))) missing = #name;
    UV_LAZY_FUNCTIONS(UV_LAZY_SYM, UV_LAZY_SYM)
#undef UV_LAZY_SYM
    if (!h || missing) {
        fprintf(stderr, "sshs: cannot load %s: %s%s\n", UV_SONAME, h ? "it has no " : dlerror(),
                h ? missing : "");
        exit(1);
    }
    loaded = 1;
}

#define UV_LAZY_DEF(ret, name, params, args) \
    ret name params { if (!loaded) load(); return uv.name args; }
#define UV_LAZY_DEF_VOID(ret, name, params, args) \
    ret name params { if (!loaded) load(); uv.name args; }
UV_LAZY_FUNCTIONS(UV_LAZY_DEF, UV_LAZY_DEF_VOID)
