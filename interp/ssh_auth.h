/* User authentication as a non-blocking state machine: agent keys, the given key, default
   identity files, then password and keyboard-interactive (SPEC §3 order). */
#ifndef SSHS_AUTH_H
#define SSHS_AUTH_H
#include <libssh2.h>
#include <stddef.h>

struct ssh_params;
struct auth_state;

struct auth_state *auth_new(const struct ssh_params *p);
/* 0 once authenticated, LIBSSH2_ERROR_EAGAIN to be called again with the same session,
   or -1 with a message in err that says what was tried and what the server allows. */
int  auth_step(struct auth_state *a, LIBSSH2_SESSION *s, char *err, size_t errlen);
void auth_free(struct auth_state *a);

#endif
