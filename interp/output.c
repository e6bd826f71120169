#include "output.h"
#include "scheduler.h"
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <lauxlib.h>

static char *status_text;   /* the progress line, when one is shown */
static int status_tty;

static void (*prompt_hide)(void), (*prompt_show)(void);

void out_set_prompt_hooks(void (*hide)(void), void (*show)(void))
{
    prompt_hide = hide;
    prompt_show = show;
}

static void write_all(int fd, const char *p, size_t n);

void out_write_all(int fd, const char *p, size_t n)
{
    if ((fd == 1 || fd == 2) && prompt_hide) {   /* the REPL's line stays below the output */
        prompt_hide();
        write_all(fd, p, n);
        prompt_show();
        return;
    }
    write_all(fd, p, n);
}

static void write_all(int fd, const char *p, size_t n)
{
    if (fd == 1 || fd == 2) fflush(stdout); /* io.write() text comes first, even with 2>&1 */
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) {          /* stdout may be a non-blocking pipe we share */
                struct pollfd pfd = {.fd = fd, .events = POLLOUT};
                poll(&pfd, 1, 1000);
                continue;
            }
            /* Nobody reads our output any more (`sshs … | head`): stop, as a shell
               pipeline would on SIGPIPE, killing what runs. */
            if (errno == EPIPE && (fd == 1 || fd == 2)) sched_abort(128 + SIGPIPE);
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

void out_set_status(const char *text)
{
    if (!status_tty) status_tty = isatty(2) ? 1 : -1;
    if (status_tty < 0) return;
    out_write_all(2, "\r\033[K", 4);
    free(status_text);
    status_text = text && *text ? strdup(text) : NULL;
    if (status_text) out_write_all(2, status_text, strlen(status_text));
}

/* Builds prefix + line for each line in [p, p+n) into one buffer and writes it at once. */
static void write_lines(struct out_stream *s, const char *p, size_t n)
{
    int around_status = status_text && isatty(s->fd);
    if (!s->prefix && !around_status) { out_write_all(s->fd, p, n); return; }
    struct buf b = {0};
    const char *end = p + n;
    if (around_status) buf_append(&b, "\r\033[K", 4);
    if (!s->prefix) {   /* the text as is, between clearing and redrawing the status line */
        buf_append(&b, p, n);
        p = end;
    }
    size_t plen = s->prefix ? strlen(s->prefix) : 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl + 1 : end;
        if (s->color) buf_append(&b, "\033[31m", 5);
        buf_append(&b, s->prefix, plen);
        if (s->color) buf_append(&b, "\033[0m", 4);
        buf_append(&b, p, (size_t)(stop - p));
        if (!nl) buf_append(&b, "\n", 1);
        p = stop;
    }
    if (around_status) buf_append(&b, status_text, strlen(status_text));
    out_write_all(s->fd, b.data, b.len);
    buf_free(&b);
}

/* A line longer than this is written in pieces (each prefixed, when there is a prefix):
   output without newlines (`cat /dev/urandom`) must not be kept whole. Shorter lines are
   never split, so concurrent hosts' lines never mix. */
#define OUT_LINE_MAX (1024u * 1024)

static void bound_partial(struct out_stream *s)
{
    if (s->partial.len < OUT_LINE_MAX) return;
    write_lines(s, s->partial.data, s->partial.len);
    s->partial.len = 0;
}

void out_write(struct out_stream *s, const char *data, size_t len)
{
    const char *last_nl = NULL;
    for (size_t i = len; i > 0; i--)
        if (data[i - 1] == '\n') { last_nl = data + i - 1; break; }
    if (!last_nl) {                       /* no line ends here: keep it for later */
        buf_append(&s->partial, data, len);
        bound_partial(s);
        return;
    }
    size_t head = (size_t)(last_nl + 1 - data);
    if (s->partial.len) {
        buf_append(&s->partial, data, head);
        write_lines(s, s->partial.data, s->partial.len);
        s->partial.len = 0;
    } else {
        write_lines(s, data, head);
    }
    buf_append(&s->partial, data + head, len - head);
    bound_partial(s);
}

void out_flush(struct out_stream *s)
{
    if (s->partial.len) write_lines(s, s->partial.data, s->partial.len);
    buf_free(&s->partial);
}

static int l_status(lua_State *L)
{
    out_set_status(luaL_optstring(L, 1, ""));
    return 0;
}

static const luaL_Reg lua_functions[] = {{"status", l_status}, {NULL, NULL}};
const luaL_Reg *const output_lua_functions = lua_functions;
