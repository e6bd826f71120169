/* Host key verification for a handshaken session (SPEC §3 modes yes / accept-new / no). */
#ifndef SSHS_HOSTKEY_H
#define SSHS_HOSTKEY_H
#include <libssh2.h>
#include "ssh_params.h"

/* 0 when the key is acceptable (under accept-new an unknown key is appended to
   known_hosts), or -1 with a message in err naming the host, the fingerprint and what to do. */
int hostkey_verify(LIBSSH2_SESSION *session, const struct ssh_params *p, char *err, size_t errlen);

#endif
