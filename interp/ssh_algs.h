/* Which algorithms a connection offers (our order, or the user's lists), and what the server
   offered, so a failed negotiation can name both sides. */
#ifndef SSHS_SSH_ALGS_H
#define SSHS_SSH_ALGS_H
#include <libssh2.h>
#include <stddef.h>
#include "ssh_params.h"

enum { ALG_KEX, ALG_HOSTKEY, ALG_CIPHER, ALG_MAC, ALG_N };

/* The server's first (unencrypted) KEXINIT, taken from the bytes libssh2 receives. */
struct algs_seen {
    unsigned char *buf;     /* what arrived so far, up to ALGS_CAPTURE bytes; freed once parsed */
    size_t len;
    int done;               /* parsed (or given up): nothing more is kept */
    char *server[ALG_N];    /* the server's name-lists (kex, host key, cipher c->s, mac c->s) */
    char *ours[ALG_N];      /* what we offered */
};

/* Sets the session's preferences: the user's lists (p->ciphers …) or our defaults, in each
   case only the names this libssh2 supports. 0, or -1 with err naming what none of
   this libssh2's algorithms matched. */
int algs_apply(LIBSSH2_SESSION *s, const struct ssh_params *p, struct algs_seen *seen,
               char *err, size_t errlen);
/* Feeds bytes received from the server (called from the recv callback until seen->done). */
void algs_capture(struct algs_seen *seen, const void *buf, size_t n);
/* After a failed handshake: appends to out (if it can tell) which kind of algorithm had no
   match, with both sides' lists. Returns 1 when it found one. */
int algs_explain(const struct algs_seen *seen, char *out, size_t outlen);
void algs_free(struct algs_seen *seen);

#endif
