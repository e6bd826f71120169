/* Secrets read from the terminal on the loop (see tty_prompt.h). The terminal stays in
   canonical mode with echo off: the user edits the line as usual, the kernel hands it over
   whole when Enter is pressed, and Ctrl-C still raises SIGINT (whose handling cancels the
   question and so restores the terminal). An atexit handler restores it too, should the
   process end while a question is on the terminal. */
#include "tty_prompt.h"
#include "scheduler.h"
#include "output.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define SECRET_MAX 1023             /* longer lines are cut here, as before */

struct tty_prompt {
    char *text;
    tty_prompt_answer answer;
    void *arg;
    struct tty_prompt *next;
};

/* The queue (its head is on the terminal) and the terminal while it asks. */
static struct tty_prompt *queue_head;
static int tty_fd = -1;
static struct termios saved;
static int saved_valid;
static uv_poll_t *tty_poll;
static char line[SECRET_MAX + 1];
static size_t line_len;
static void (*pause_others)(void), (*resume_others)(void);
static int others_paused;

void tty_prompt_share(void (*pause)(void), void (*resume)(void))
{
    pause_others = pause;
    resume_others = resume;
}

int tty_prompt_active(void) { return tty_fd >= 0; }

/* No question left: the other reader gets the terminal back. */
static void maybe_resume_others(void)
{
    if (queue_head || !others_paused) return;
    others_paused = 0;
    if (resume_others) resume_others();
}

static void poll_closed(uv_handle_t *h) { free(h); }

/* Puts the terminal back as it was and lets go of it. Safe to call twice, and at exit. */
static void release_terminal(void)
{
    if (tty_poll) {
        uv_poll_stop(tty_poll);          /* libuv forgets the fd before it is closed */
        uv_close((uv_handle_t *)tty_poll, poll_closed);
        tty_poll = NULL;
    }
    if (tty_fd < 0) return;
    if (saved_valid) tcsetattr(tty_fd, TCSAFLUSH, &saved);
    saved_valid = 0;
    if (write(tty_fd, "\n", 1) < 0) { /* the terminal went away: nothing to tidy */ }
    out_set_question(NULL);
    close(tty_fd);
    tty_fd = -1;
    memset(line, 0, sizeof line);
    line_len = 0;
}

static void restore_at_exit(void)
{
    if (tty_fd >= 0 && saved_valid) tcsetattr(tty_fd, TCSANOW, &saved);
}

static void free_prompt(struct tty_prompt *p)
{
    free(p->text);
    free(p);
}

static void start_next(void);

/* The head's question is over: the terminal is released, the next question goes up, then
   the asker hears the answer (it may ask again: that queues behind). */
static void finish_head(char *secret)
{
    struct tty_prompt *p = queue_head;
    queue_head = p->next;
    release_terminal();
    start_next();
    maybe_resume_others();
    p->answer(p->arg, secret);
    free_prompt(p);
}

static void on_tty(uv_poll_t *h, int status, int events)
{
    char buf[256];
    for (;;) {
        ssize_t n = status < 0 ? -1 : read(tty_fd, buf, sizeof buf);
        if (n < 0 && (errno == EAGAIN || errno == EINTR) && status >= 0) return;
        int end = n <= 0;                /* EOF (Ctrl-D) or the terminal is gone: what was typed */
        for (ssize_t i = 0; i < n && !end; i++) {
            if (buf[i] == '\n' || buf[i] == '\r' || line_len >= SECRET_MAX) end = 1;
            else line[line_len++] = buf[i];
        }
        memset(buf, 0, sizeof buf);
        if (end) break;
    }
    line[line_len] = 0;
    char *secret = strdup(line);
    finish_head(secret);
}

/* Puts p's question on the terminal: 0, or -1 when there is no terminal to ask on. */
static int show(struct tty_prompt *p)
{
    static int atexit_set;
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return -1;
    uv_poll_t *h = malloc(sizeof *h);
    if (!h || uv_poll_init(sched_loop(), h, fd) != 0) {
        free(h);
        close(fd);
        return -1;
    }
    if (!others_paused && pause_others) pause_others();
    others_paused = 1;
    tty_fd = fd;
    tty_poll = h;
    if (!atexit_set) atexit_set = atexit(restore_at_exit) == 0;
    saved_valid = tcgetattr(fd, &saved) == 0;
    if (saved_valid) {
        struct termios quiet = saved;
        /* Cooked input whatever mode the terminal was in (readline's raw mode: no ICANON, no
           ICRNL, so Enter would never end the line). */
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        quiet.c_lflag |= ICANON | ISIG;
        quiet.c_iflag &= ~(tcflag_t)(INLCR | IGNCR);
        quiet.c_iflag |= ICRNL;
        tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    out_set_question(p->text);        /* other output goes above it from now on */
    if (write(fd, p->text, strlen(p->text)) < 0) { /* we read anyway */ }
    uv_poll_start(h, UV_READABLE, on_tty);
    return 0;
}

/* The next question goes up; one that cannot be asked is answered NULL. */
static void start_next(void)
{
    while (queue_head && tty_fd < 0 && show(queue_head) != 0) {
        struct tty_prompt *p = queue_head;
        queue_head = p->next;
        p->answer(p->arg, NULL);
        free_prompt(p);
    }
}

struct tty_prompt *tty_prompt_ask(const char *prompt, tty_prompt_answer answer, void *arg)
{
    struct tty_prompt *p = calloc(1, sizeof *p);
    if (!p || !(p->text = strdup(prompt))) { free(p); return NULL; }
    p->answer = answer;
    p->arg = arg;
    if (!queue_head) {                   /* asked now: no terminal, no question */
        if (show(p) != 0) { free_prompt(p); return NULL; }
        queue_head = p;
        return p;
    }
    struct tty_prompt **tail = &queue_head;
    while (*tail) tail = &(*tail)->next;
    *tail = p;
    return p;
}

void tty_prompt_cancel(struct tty_prompt *p)
{
    if (!p) return;
    if (p == queue_head) {
        queue_head = p->next;
        release_terminal();
        free_prompt(p);
        start_next();
        maybe_resume_others();
        return;
    }
    for (struct tty_prompt **q = &queue_head; *q; q = &(*q)->next)
        if (*q == p) { *q = p->next; free_prompt(p); return; }
}
