#include "output.h"
#include "scheduler.h"
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>
#include <lauxlib.h>

/* ---- The stdout queue ----
   Writing to a slow reader (`sshs s.sshs | slow`) must not hold the loop: with a blocking
   write() on the loop every thread, timer and signal waited for the reader. When stdout is
   a pipe or a socket, everything for fd 1 (command echo, print, and Lua's io.write through the
   stdio stream replaced below) goes into this queue in order, and a writer thread does the
   blocking writes. Past OUT_QUEUE_HIGH bytes the producers are told to wait: commands whose
   echo goes here stop reading (cmdout_backlogged), print() and io.write() yield until the
   queue is under OUT_QUEUE_LOW; the queue can overshoot only by what one call hands it.
   stderr stays direct: an error message must never be lost in a queue at exit (and when it
   shares stdout's pipe, nothing is queued: see worth_queueing). */
#define OUT_QUEUE_HIGH (1024u * 1024)
#define OUT_QUEUE_LOW (256u * 1024)

struct qblk { struct qblk *next; size_t len; char data[]; };

static struct {
    int on;                          /* stdout goes through the queue */
    pthread_mutex_t mu;
    pthread_cond_t more, empty;      /* the writer waits for data; the exit for an empty queue */
    struct qblk *head, *tail;
    size_t bytes;                    /* queued or being written */
    int broken;                      /* EPIPE or another write error: the rest is dropped */
    int async_ok;                    /* the loop's async handle may be signalled */
    int told_broken;
    int writer;                      /* the writer thread runs (it needs no loop) */
    int loop_gone;                   /* out_queue_drain ran: no more async, no new writer */
    int finished;                    /* out_queue_finish ran: drop what comes */
    uv_async_t async;                /* writer -> loop: under OUT_QUEUE_LOW again, or broken */
    struct out_waiter *waiters;      /* waiting for the queue to go under OUT_QUEUE_LOW */
} q = {.mu = PTHREAD_MUTEX_INITIALIZER, .more = PTHREAD_COND_INITIALIZER,
       .empty = PTHREAD_COND_INITIALIZER};

static void fd_write_all(int fd, const char *p, size_t n, int *broken);
static int start_writer(void);

static void *writer_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&q.mu);
    for (;;) {
        while (!q.head) pthread_cond_wait(&q.more, &q.mu);
        struct qblk *b = q.head;
        q.head = b->next;
        if (!q.head) q.tail = NULL;
        int broken = q.broken;
        pthread_mutex_unlock(&q.mu);
        if (!broken) fd_write_all(1, b->data, b->len, &broken);
        pthread_mutex_lock(&q.mu);
        int was_high = q.bytes > OUT_QUEUE_LOW;
        q.bytes -= b->len;
        free(b);
        if (broken) q.broken = 1;
        if (q.async_ok && ((was_high && q.bytes <= OUT_QUEUE_LOW) || (q.broken && !q.told_broken))) {
            q.told_broken = q.broken;
            uv_async_send(&q.async);
        }
        if (q.bytes == 0) pthread_cond_broadcast(&q.empty);
    }
    return NULL;
}

/* On the loop: the queue went down (wake the waiters) or the reader went away. */
static void on_queue_async(uv_async_t *h)
{
    (void)h;
    pthread_mutex_lock(&q.mu);
    int broken = q.broken;
    size_t bytes = q.bytes;
    pthread_mutex_unlock(&q.mu);
    /* Nobody reads our output any more (`sshs … | head`): stop, as a shell pipeline
       would on SIGPIPE, killing what runs. */
    if (broken) sched_abort(128 + SIGPIPE);
    if (!broken && bytes > OUT_QUEUE_LOW) return;
    struct out_waiter *w = q.waiters;
    q.waiters = NULL;
    if (w) uv_unref((uv_handle_t *)&q.async);
    while (w) {                      /* each is unlinked before its call (it may re-register) */
        struct out_waiter *next = w->next;
        w->next = NULL;
        w->linked = 0;
        w->fn(w);
        w = next;
    }
}

static void enqueue(const char *p, size_t n)
{
    if (n == 0) return;
    if (!q.writer && !q.finished && start_writer() != 0) {
        int broken = 0;                  /* no thread to be had: the old way */
        fd_write_all(1, p, n, &broken);
        return;
    }
    struct qblk *b = malloc(sizeof *b + n);
    pthread_mutex_lock(&q.mu);
    if (q.broken || !b) {            /* dropped, as a write to a closed pipe would be */
        pthread_mutex_unlock(&q.mu);
        free(b);
        return;
    }
    memcpy(b->data, p, n);
    b->len = n;
    b->next = NULL;
    if (q.tail) q.tail->next = b; else q.head = b;
    q.tail = b;
    q.bytes += n;
    pthread_cond_signal(&q.more);
    pthread_mutex_unlock(&q.mu);
}

static ssize_t cookie_write(void *c, const char *p, size_t n)
{
    (void)c;
    enqueue(p, n);
    return (ssize_t)n;
}

/* The writer thread and its wake-up handle, made on the first write (start-up stays cheap:
   a script that prints nothing starts no thread). 0, or -1: write directly instead. */
static int start_writer(void)
{
    if (q.writer) return 0;
    /* After out_queue_drain the loop is going: the thread then runs without the handle. */
    int with_async = !q.loop_gone;
    if (with_async && uv_async_init(sched_loop(), &q.async, on_queue_async) != 0) return -1;
    if (with_async) uv_unref((uv_handle_t *)&q.async);   /* the queue alone keeps no loop running */
    /* The writer gets no signals: they belong to the loop's thread (scheduler.c). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t th;
    int r = pthread_create(&th, NULL, writer_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0) {
        if (with_async) uv_close((uv_handle_t *)&q.async, NULL);
        return -1;
    }
    pthread_detach(th);
    q.async_ok = with_async;
    q.writer = 1;
    return 0;
}

/* exit() from anywhere (os.exit): what is queued goes out first, as stdio would flush it. */
static void drain_at_exit(void) { out_queue_finish(1000); }

/* Only a pipe or a socket can stall us (a terminal is the user's; files do not wait on a
   reader). When stderr is the same pipe (`2>&1 | …`) its direct writes would overtake the
   queue, so then nothing is queued and order wins. */
static int worth_queueing(void)
{
    struct stat o, e;
    if (fstat(1, &o) != 0 || !(S_ISFIFO(o.st_mode) || S_ISSOCK(o.st_mode))) return 0;
    if (fstat(2, &e) == 0 && e.st_dev == o.st_dev && e.st_ino == o.st_ino) return 0;
    return 1;
}

void out_queue_start(void)
{
    if (q.on || !worth_queueing()) return;
    /* Lua's io.write and print go through stdio's stdout: it becomes a stream into the
       queue (before the io library takes it), so their text keeps its place in line. */
    FILE *f = fopencookie(NULL, "w", (cookie_io_functions_t){.write = cookie_write});
    if (!f) return;
    setvbuf(f, NULL, _IOFBF, BUFSIZ);
    fflush(stdout);
    stdout = f;
    q.on = 1;
    atexit(drain_at_exit);
}

int out_backlogged(void)
{
    if (!q.on) return 0;
    pthread_mutex_lock(&q.mu);
    int high = q.bytes > OUT_QUEUE_HIGH && !q.broken;
    pthread_mutex_unlock(&q.mu);
    return high;
}

void out_when_drained(struct out_waiter *w)
{
    if (w->linked) return;
    w->linked = 1;
    w->next = q.waiters;
    /* Someone waits on the writer: the loop must wait too (else the scheduler would see
       nothing left to wake the paused command and call it a deadlock). */
    if (!q.waiters && q.async_ok) uv_ref((uv_handle_t *)&q.async);
    q.waiters = w;
}

void out_waiter_cancel(struct out_waiter *w)
{
    if (!w->linked) return;
    for (struct out_waiter **pp = &q.waiters; *pp; pp = &(*pp)->next)
        if (*pp == w) { *pp = w->next; break; }
    w->linked = 0;
    w->next = NULL;
    if (!q.waiters && q.async_ok) uv_unref((uv_handle_t *)&q.async);
}

/* Waits until the writer has written everything, the reader went away, or (once
   interrupted) grace_ms passed. 1 when everything was written. */
static int wait_empty(int grace_ms)
{
    fflush(stdout);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    pthread_mutex_lock(&q.mu);
    int done = 0;
    for (;;) {
        if (q.bytes == 0 || q.broken) { done = 1; break; }
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        /* Interrupted or terminated (also while waiting here): the rest gets grace_ms. */
        if (sched_interrupted() && ms >= grace_ms) break;
        struct timespec until = now;
        until.tv_nsec += 50 * 1000000;
        if (until.tv_nsec >= 1000000000) { until.tv_sec++; until.tv_nsec -= 1000000000; }
        pthread_cond_timedwait(&q.empty, &q.mu, &until);   /* CLOCK_REALTIME: only a tick */
    }
    pthread_mutex_unlock(&q.mu);
    return done;
}

int out_queue_drain(int grace_ms)
{
    if (!q.on || q.finished || q.loop_gone) return 1;
    int done = wait_empty(grace_ms);
    pthread_mutex_lock(&q.mu);
    int had_async = q.async_ok;
    q.async_ok = 0;
    q.loop_gone = 1;
    if (!done) q.broken = 1;         /* given up on: from here on output is dropped */
    pthread_mutex_unlock(&q.mu);
    if (had_async) uv_close((uv_handle_t *)&q.async, NULL);
    return done;
}

int out_queue_finish(int grace_ms)
{
    if (!q.on || q.finished) return 1;
    int done = out_queue_drain(grace_ms);
    if (done) done = wait_empty(grace_ms);   /* what came after the drain (finalizers) */
    pthread_mutex_lock(&q.mu);
    q.finished = 1;
    q.broken = 1;                    /* from here on output is dropped, not queued */
    pthread_mutex_unlock(&q.mu);
    return done;
}

static char *status_text;   /* the progress line, when one is shown */
static int status_tty;

static void (*prompt_hide)(void), (*prompt_show)(void);

/* The last line of the question on the terminal (tty_prompt.c asks on /dev/tty), or NULL. */
static char *question;

/* fd is the terminal the question is on: our controlling terminal (tcgetpgrp fails on any
   other fd, terminal or not). */
static int on_question_tty(int fd) { return question && tcgetpgrp(fd) != -1; }

int out_question_on(int fd) { return (fd == 1 || fd == 2) && on_question_tty(fd); }

/* The progress line is drawn (a question on its terminal takes the bottom line instead). */
static int status_shown(void) { return status_text && status_tty > 0 && !on_question_tty(2); }

void out_set_prompt_hooks(void (*hide)(void), void (*show)(void))
{
    prompt_hide = hide;
    prompt_show = show;
}

static void write_all(int fd, const char *p, size_t n);

void out_write_all(int fd, const char *p, size_t n)
{
    if ((fd == 1 || fd == 2) && n && on_question_tty(fd)) {
        /* Above the question, in one write: what was typed is in the terminal's line buffer
           (not echoed), so nothing of it is lost by writing the question again. */
        struct buf b = {0};
        buf_append(&b, "\r\033[K", 4);
        buf_append(&b, p, n);
        if (p[n - 1] != '\n') buf_append(&b, "\n", 1);
        buf_append(&b, question, strlen(question));
        write_all(fd, b.data, b.len);
        buf_free(&b);
        return;
    }
    if ((fd == 1 || fd == 2) && prompt_hide) {   /* the REPL's line stays below the output */
        prompt_hide();
        write_all(fd, p, n);
        prompt_show();
        return;
    }
    write_all(fd, p, n);
}

/* A blocking write of all of p; *broken set on a write error (EPIPE: nobody reads). */
static void fd_write_all(int fd, const char *p, size_t n, int *broken)
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
            *broken = 1;
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

static void write_all(int fd, const char *p, size_t n)
{
    if (fd == 1 || fd == 2) fflush(stdout); /* io.write() text comes first, even with 2>&1 */
    if (fd == 1 && q.on) { enqueue(p, n); return; }
    int broken = 0;
    fd_write_all(fd, p, n, &broken);
    /* Nobody reads our output any more (`sshs … | head`): stop, as a shell pipeline would on
       SIGPIPE, killing what runs. */
    if (broken && errno == EPIPE && (fd == 1 || fd == 2)) sched_abort(128 + SIGPIPE);
}

void out_set_status(const char *text)
{
    if (!status_tty) status_tty = isatty(2) ? 1 : -1;
    if (status_tty < 0) return;
    int drawn = !on_question_tty(2);         /* else it waits for the question to be answered */
    if (drawn) out_write_all(2, "\r\033[K", 4);
    free(status_text);
    status_text = text && *text ? strdup(text) : NULL;
    if (status_text && drawn) out_write_all(2, status_text, strlen(status_text));
}

void out_set_question(const char *text)
{
    free(question);
    question = NULL;
    if (text) {
        fflush(stdout);                      /* buffered io.write text goes before it */
        fflush(stderr);
        int had_status = status_shown();
        const char *nl = strrchr(text, '\n');
        question = strdup(nl ? nl + 1 : text);
        if (had_status && !status_shown()) write_all(2, "\r\033[K", 4);   /* its line is the question's */
    } else if (status_shown()) {
        write_all(2, status_text, strlen(status_text));     /* back, on the line after the answer */
    }
}

/* Builds prefix + line for each line in [p, p+n) into one buffer and writes it at once. */
static void write_lines(struct out_stream *s, const char *p, size_t n)
{
    int around_status = status_shown() && isatty(s->fd);
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

/* core.out_backlogged(): the stdout queue is past its bound (print and io.write wait). */
static int l_out_backlogged(lua_State *L)
{
    lua_pushboolean(L, out_backlogged());
    return 1;
}

static const luaL_Reg lua_functions[] = {{"status", l_status}, {"out_backlogged", l_out_backlogged}, {NULL, NULL}};
const luaL_Reg *const output_lua_functions = lua_functions;
