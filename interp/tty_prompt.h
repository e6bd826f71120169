/* A secret (key passphrase, password) read from the terminal on the event loop: echo off,
   the other threads go on while the user types. One prompt is on the terminal at a time;
   the others wait their turn in the order they asked. */
#ifndef SSHS_TTY_PROMPT_H
#define SSHS_TTY_PROMPT_H

struct tty_prompt;

/* Called on the loop with the line typed (malloc'd: the callee wipes and frees it), or NULL
   when there is no terminal to ask on. Never called from inside tty_prompt_ask. */
typedef void (*tty_prompt_answer)(void *arg, char *secret);

/* Queues the question; NULL when it cannot be asked (no terminal, out of memory): the caller
   goes on without an answer. */
struct tty_prompt *tty_prompt_ask(const char *prompt, tty_prompt_answer answer, void *arg);

/* Withdraws a question (the asker gave up: timeout, Ctrl-C, teardown): its callback is not
   called; if it is on the terminal now, the terminal gets its settings back at once. */
void tty_prompt_cancel(struct tty_prompt *p);

/* Whoever else reads the terminal on the loop (the REPL's readline) steps aside while a
   question is on it: pause() before the first question goes up, resume() once none is left. */
void tty_prompt_share(void (*pause)(void), void (*resume)(void));
/* Is a question on the terminal now? */
int tty_prompt_active(void);

#endif
