/* Starting a timer. libuv counts a timer from the loop's cached time, which is when the loop
   last turned: after Lua that ran without yielding (or a long callback) it is that much in
   the past, and a timer started from it fires that much early (a 2 s connect timeout after
   1.5 s of busy Lua fired after 0.5 s). Every timer starts here, counting from now. */
#ifndef SSHS_LOOP_TIMER_H
#define SSHS_LOOP_TIMER_H
#include <uv.h>

static inline int loop_timer_start(uv_timer_t *t, uv_timer_cb cb, uint64_t ms, uint64_t repeat)
{
    uv_update_time(t->loop);
    return uv_timer_start(t, cb, ms, repeat);
}

#endif
