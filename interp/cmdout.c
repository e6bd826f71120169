#include "cmdout.h"
#include "bigstr.h"
#include "command.h"
#include <stddef.h>
#include <lauxlib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct cmd_chunk {
    struct cmd_chunk *next;
    int is_err;
    size_t len, cap;
    char data[];
};

/* The room of a chunk read into in place (cmdout_stream_space): big enough that a fast stream
   reaches Lua in few callbacks, below malloc's mmap threshold (128 KiB) so that neither the
   chunk nor the Lua string made from it is a fresh mapping to fault in page by page. */
#define CHUNK_ROOM (64u * 1024)

/* Lua's collector starts a cycle each time its heap has doubled since the last one. With a
   heap of a few hundred KB and each streamed chunk a new string of up to 64 KiB, that was a
   full mark and sweep every ~7 chunks, ~10% of the client's CPU while streaming. An untouched
   block of this size, held for good (malloc'd and never written: it takes no memory), makes
   the heap look that much bigger, so a cycle comes every ~2 MiB of chunks instead (29 per
   64 MiB instead of 258; the garbage waiting for it adds ~1 MB to the peak RSS). */
#define GC_BALLAST (2u * 1024 * 1024)

static void hold_gc_ballast(lua_State *L)
{
    static const char key[] = "sshs.gc_ballast";
    if (lua_getfield(L, LUA_REGISTRYINDEX, key) == LUA_TNIL) {
        lua_newuserdatauv(L, GC_BALLAST, 0);
        lua_setfield(L, LUA_REGISTRYINDEX, key);
    }
    lua_pop(L, 1);
}

/* A byte count from the options (the prelude checked its type); math.huge: no bound. */
static size_t size_field(lua_State *L, int idx, const char *name, size_t dflt)
{
    lua_getfield(L, idx, name);
    double v = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : -1;
    lua_pop(L, 1);
    if (v < 0 || v != v) return dflt;
    return v >= (double)(SIZE_MAX / 2) ? SIZE_MAX / 2 : (size_t)v;
}

void cmdout_init(lua_State *L, struct cmdout *co, int idx)
{
    memset(co, 0, sizeof *co);
    co->big[0].fd = co->big[1].fd = -1;
    co->max_output = CMDOUT_MAX_OUTPUT;
    co->keep_shown = CMDOUT_KEEP_SHOWN;
    if (!lua_istable(L, idx)) return;
    co->max_output = size_field(L, idx, "max_output", CMDOUT_MAX_OUTPUT);
    co->keep_shown = size_field(L, idx, "keep_shown", CMDOUT_KEEP_SHOWN);
    lua_getfield(L, idx, "stream_stdout");
    co->stream[0] = lua_toboolean(L, -1);
    lua_getfield(L, idx, "stream_stderr");
    co->stream[1] = lua_toboolean(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, idx, "echo");
    co->echo = lua_toboolean(L, -1);
    lua_getfield(L, idx, "prefix");
    if (co->echo && lua_type(L, -1) == LUA_TSTRING) co->prefix = strdup(lua_tostring(L, -1));
    lua_getfield(L, idx, "color");
    int color = lua_toboolean(L, -1);
    lua_getfield(L, idx, "idle_timeout");
    double idle = lua_tonumber(L, -1);
    if (idle > 0) co->idle_ms = (uint64_t)(idle * 1000.0 + 0.5);
    lua_pop(L, 5);
    lua_getfield(L, idx, "watch_stdout");
    co->watch_err = !lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (lua_getfield(L, idx, "watch") == LUA_TTABLE) {
        for (int k = 0; k < 2; k++) {
            if (lua_rawgeti(L, -1, k + 1) == LUA_TSTRING && lua_rawlen(L, -1) > 0) co->watch[k] = strdup(lua_tostring(L, -1));
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    co->echo_out = (struct out_stream){.fd = 1, .prefix = co->prefix};
    co->echo_err = (struct out_stream){.fd = 2, .prefix = co->prefix, .color = color && co->prefix};
    if (co->stream[0] || co->stream[1]) hold_gc_ballast(L);
}

static uint64_t next_due(const struct cmdout *co, uint64_t now)
{
    uint64_t wait = 0;
    if (co->deadline) wait = co->deadline > now ? co->deadline - now : 1;
    if (co->idle_ms) {
        uint64_t at = co->last_data + co->idle_ms, w = at > now ? at - now : 1;
        if (!wait || w < wait) wait = w;
    }
    return wait;
}

uint64_t cmdout_arm(struct cmdout *co, double timeout)
{
    uv_update_time(sched_loop());         /* the cached loop time may be old (Lua ran since) */
    uint64_t now = uv_now(sched_loop());
    co->last_data = now;
    co->deadline = timeout > 0 ? now + (uint64_t)(timeout * 1000.0 + 0.5) : 0;
    return next_due(co, now);
}

uint64_t cmdout_due(struct cmdout *co)
{
    uint64_t now = uv_now(sched_loop());
    if (co->deadline && now >= co->deadline) return 0;
    if (co->idle_ms && now >= co->last_data + co->idle_ms) { co->idle_fired = 1; return 0; }
    return next_due(co, now);
}

static int deliver(struct cmdout *co, int is_err, const char *p, size_t n, struct sched_waiter *w);

/* Queues chunk c (len bytes used). The chunk before it gets no more bytes: its unused room
   is given back, so stdout and stderr in turns do not hold 64 KiB per piece. */
static void queue_chunk(struct cmdout *co, struct cmd_chunk *c, struct sched_waiter *w)
{
    struct cmd_chunk *last = co->chunks_tail;
    if (last && last->len < last->cap) {
        struct cmd_chunk *fit = realloc(last, sizeof *last + last->len);
        if (fit) {
            *co->tail_link = last = fit;
            last->cap = last->len;
        }
    }
    c->next = NULL;
    c->cap = c->len;
    co->tail_link = last ? &last->next : &co->chunks;
    *co->tail_link = c;
    co->chunks_tail = c;
    co->queued += c->len;
    if (w) sched_wake(w);
}

/* The watched stream (stderr, or stdout with a pty): each token found is taken out and
   counted; bytes that may begin a token are held until the next chunk (or the end) shows
   whether they do. */
static int watch_stream(struct cmdout *co, const char *p, size_t n, struct sched_waiter *w)
{
    buf_append(&co->hold, p, n);
    const char *d = co->hold.data;
    size_t len = co->hold.len, i = 0, from = 0;
    struct buf pass = {0};
    int found = 0, r = 0;
    while (i < len) {
        int matched = 0, partial = 0;
        for (int k = 0; k < 2 && !matched; k++) {
            const char *t = co->watch[k];
            size_t tl = t ? strlen(t) : 0;
            if (!tl) continue;
            if (len - i >= tl && memcmp(d + i, t, tl) == 0) {
                buf_append(&pass, d + from, i - from);
                i += tl;
                from = i;
                co->seen[k]++;
                matched = found = 1;
            } else if (len - i < tl && memcmp(d + i, t, len - i) == 0) {
                partial = 1;
            }
        }
        if (matched) continue;
        if (partial) break;
        i++;
    }
    buf_append(&pass, d + from, i - from);
    size_t keep = len - i;
    if (keep) memmove(co->hold.data, d + i, keep);
    co->hold.len = keep;
    if (pass.len) r = deliver(co, co->watch_err, pass.data, pass.len, w);
    buf_free(&pass);
    if (found && w) sched_wake(w);
    return r;
}

int cmdout_data(struct cmdout *co, int is_err, const char *p, size_t n, struct sched_waiter *w)
{
    if (n) co->last_data = uv_now(sched_loop());
    if (is_err == co->watch_err && (co->watch[0] || co->watch[1])) return watch_stream(co, p, n, w);
    return deliver(co, is_err, p, n, w);
}

static int deliver(struct cmdout *co, int is_err, const char *p, size_t n, struct sched_waiter *w)
{
    if (co->echo) out_write(is_err ? &co->echo_err : &co->echo_out, p, n);
    if (!co->stream[is_err]) {
        struct spool *s = &co->kept[is_err];
        if (co->echo) {                   /* shown: the user saw it all; keep a tail */
            spool_append(s, p, n);
            spool_keep_tail(s, co->keep_shown);
            return 0;
        }
        struct bigfile *f = &co->big[is_err];
        if (co->overflow) return 0;       /* past max_output: dropped while the command stops */
        if (n > co->max_output - s->len - f->len) {
            co->overflow = 1 + is_err;
            return 1;
        }
        int r = f->fd >= 0 ? bigstr_append(f, p, n) : spool_append(s, p, n);
        /* Past the first MiB into a memory file; if that cannot be had, it stays (once). */
        if (r == 0 && f->fd < 0 && !co->no_spill && s->len >= CMDOUT_SPILL_AT && bigstr_spill(f, s) != 0)
            co->no_spill = 1;
        if (r != 0) { co->overflow = 1 + is_err; co->out_of_memory = 1; return 1; }
        return 0;
    }
    struct cmd_chunk *c = malloc(sizeof *c + n);
    if (!c) return 0;
    c->is_err = is_err;
    c->len = n;
    memcpy(c->data, p, n);
    queue_chunk(co, c, w);
    return 0;
}

/* The tail chunk of the same stream while it has room, else a fresh chunk (co->spare) that
   cmdout_stream_commit queues once something was read into it. */
char *cmdout_stream_space(struct cmdout *co, int is_err, size_t *room)
{
    if (!co->stream[is_err] || co->echo || (is_err == co->watch_err && (co->watch[0] || co->watch[1])))
        return NULL;
    struct cmd_chunk *c = co->chunks_tail;
    if (c && c->is_err == is_err && c->len < c->cap) {
        *room = c->cap - c->len;
        return c->data + c->len;
    }
    if (!co->spare && !(co->spare = malloc(sizeof *co->spare + CHUNK_ROOM))) return NULL;
    *room = CHUNK_ROOM;
    return co->spare->data;
}

void cmdout_stream_commit(struct cmdout *co, int is_err, size_t n, struct sched_waiter *w)
{
    if (n == 0) {                         /* nothing came: no 64 KiB held by an idle command */
        free(co->spare);
        co->spare = NULL;
        return;
    }
    co->last_data = uv_now(sched_loop());
    struct cmd_chunk *c = co->chunks_tail;
    if (c && c->is_err == is_err && c->len < c->cap) {      /* appended to the tail */
        c->len += n;
        co->queued += n;
        if (w) sched_wake(w);
        return;
    }
    c = co->spare;
    co->spare = NULL;
    c->is_err = is_err;
    c->len = n;
    queue_chunk(co, c, w);
    c->cap = CHUNK_ROOM;                  /* later reads of this stream fill the rest */
}

void cmdout_finish(struct cmdout *co)
{
    if (co->hold.len) {                  /* held bytes that turned out not to be a token */
        deliver(co, co->watch_err, co->hold.data, co->hold.len, NULL);
        co->hold.len = 0;
    }
    if (!co->echo) return;
    out_flush(&co->echo_out);
    out_flush(&co->echo_err);
}

/* The stdout queue drained: read the echoed command's output again (as command_wait_k
   does when Lua catches up). */
static void output_drained(struct out_waiter *w)
{
    struct cmdout *co = (struct cmdout *)((char *)w - offsetof(struct cmdout, out_wait));
    struct command *c = (struct command *)((char *)co - offsetof(struct command, co));
    if (!c->paused || c->done) return;
    c->paused = 0;
    c->type->resume(c);
}

int cmdout_backlogged(struct cmdout *co)
{
    if (co->queued > CMDOUT_BACKLOG) return 1;
    if (!co->echo || !out_backlogged()) return 0;
    co->out_wait.fn = output_drained;
    out_when_drained(&co->out_wait);
    return 1;
}

void cmdout_free(struct cmdout *co)
{
    out_waiter_cancel(&co->out_wait);
    spool_free(&co->kept[0]);
    spool_free(&co->kept[1]);
    bigstr_close(&co->big[0]);
    bigstr_close(&co->big[1]);
    while (co->chunks) {
        struct cmd_chunk *c = co->chunks;
        co->chunks = c->next;
        free(c);
    }
    co->chunks_tail = NULL;
    co->queued = 0;
    free(co->spare);
    co->spare = NULL;
    buf_free(&co->echo_out.partial);
    buf_free(&co->echo_err.partial);
    free(co->prefix);
    co->prefix = NULL;
    buf_free(&co->hold);
    for (int k = 0; k < 2; k++) { free(co->watch[k]); co->watch[k] = NULL; }
}

int cmdout_next_event(lua_State *L, struct cmdout *co, int done)
{
    for (int k = 0; k < 2; k++) {
        if (co->seen[k]) {
            co->seen[k]--;
            lua_pushliteral(L, "watch");
            lua_pushinteger(L, k + 1);
            return 2;
        }
    }
    if (co->chunks) {
        struct cmd_chunk *c = co->chunks;
        co->chunks = c->next;
        if (!co->chunks) co->chunks_tail = NULL;
        else if (co->chunks == co->chunks_tail) co->tail_link = &co->chunks;
        co->queued -= c->len;
        lua_pushstring(L, c->is_err ? "stderr" : "stdout");
        lua_pushlstring(L, c->data, c->len);
        free(c);
        return 2;
    }
    if (done) { lua_pushliteral(L, "done"); return 1; }
    return 0;
}

void cmdout_push_result(lua_State *L, struct cmdout *co, double seconds)
{
    lua_createtable(L, 0, 8);
    int truncated = co->overflow ||
        (co->echo && (co->kept[0].total > co->kept[0].len || co->kept[1].total > co->kept[1].len));
    for (int i = 0; i < 2; i++) {
        if (co->big[i].fd >= 0) bigstr_push_file(L, &co->big[i]);
        else bigstr_push_spool(L, &co->kept[i]);
        lua_setfield(L, -2, i ? "stderr" : "stdout");
    }
    lua_pushnumber(L, seconds);
    lua_setfield(L, -2, "duration");
    if (co->idle_fired) { lua_pushboolean(L, 1); lua_setfield(L, -2, "idle_timed_out"); }
    if (truncated) { lua_pushboolean(L, 1); lua_setfield(L, -2, "truncated"); }
    if (co->overflow) {
        lua_pushstring(L, co->overflow == 2 ? "stderr" : "stdout");
        lua_setfield(L, -2, "overflow");
        lua_pushinteger(L, (lua_Integer)co->max_output);
        lua_setfield(L, -2, "max_output");
        if (co->out_of_memory) { lua_pushboolean(L, 1); lua_setfield(L, -2, "out_of_memory"); }
    }
}
