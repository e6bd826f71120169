/* User authentication as a non-blocking state machine: agent keys, the given key, default
   identity files, then password and keyboard-interactive (SPEC §3 order). */
#ifndef SSHS_AUTH_H
#define SSHS_AUTH_H
#include <libssh2.h>
#include <stddef.h>

struct ssh_params;
struct auth_state;

/* A passphrase or password asked for on the terminal is read on the loop (tty_prompt.h):
   wake(wake_arg) is called when the user has answered. */
struct auth_state *auth_new(const struct ssh_params *p, void (*wake)(void *arg), void *wake_arg);
/* 0 once authenticated, LIBSSH2_ERROR_EAGAIN to be called again with the same session,
   AUTH_ASKING while a question waits on the terminal (call again after wake), or -1 with a
   message in err that says what was tried and what the server allows. */
#define AUTH_ASKING 2           /* (try_key says 1 for "next key") */
int  auth_step(struct auth_state *a, LIBSSH2_SESSION *s, char *err, size_t errlen);
void auth_free(struct auth_state *a);

/* 1 while a publickey request with its signature (a key file's, or an agent key's after the
   server said it would take it) awaits the answer: what is sent now reaches the server right
   behind it (ssh_connect.c opens the first channel then). Needs libssh2 patch 0009. */
int  auth_signed_waiting(const struct auth_state *a, LIBSSH2_SESSION *s);
/* Something was sent behind the waiting request: auth_followed_accepted tells, once auth is
   done, whether that request was the one accepted (what followed reached the service) or
   was refused (what followed came before auth, and the server did not take it). */
void auth_follow(struct auth_state *a);
int  auth_followed_accepted(const struct auth_state *a);

#endif
