#include "output.h"
#include <errno.h>
#include <poll.h>
#include <unistd.h>

void out_write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) {          /* stdout may be a non-blocking pipe we share */
                struct pollfd pfd = {.fd = fd, .events = POLLOUT};
                poll(&pfd, 1, 1000);
                continue;
            }
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

/* Builds prefix + line for each line in [p, p+n) into one buffer and writes it at once. */
static void write_lines(struct out_stream *s, const char *p, size_t n)
{
    if (!s->prefix) { out_write_all(s->fd, p, n); return; }
    struct buf b = {0};
    size_t plen = strlen(s->prefix);
    const char *end = p + n;
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
    out_write_all(s->fd, b.data, b.len);
    buf_free(&b);
}

void out_write(struct out_stream *s, const char *data, size_t len)
{
    const char *last_nl = NULL;
    for (size_t i = len; i > 0; i--)
        if (data[i - 1] == '\n') { last_nl = data + i - 1; break; }
    if (!last_nl) {                       /* no line ends here: keep it for later */
        buf_append(&s->partial, data, len);
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
}

void out_flush(struct out_stream *s)
{
    if (s->partial.len) write_lines(s, s->partial.data, s->partial.len);
    buf_free(&s->partial);
}
