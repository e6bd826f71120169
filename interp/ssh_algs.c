/* Algorithm preferences and the server's offer (see ssh_algs.h). */
#include "ssh_algs.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALGS_CAPTURE 16384      /* a KEXINIT is ~1-2 KB; a banner may come with a few lines first */

/* OpenSSH's order where libssh2 has the algorithm. AES-GCM before chacha20-poly1305: with AES-NI
   libssh2's GCM (OpenSSL's EVP) is several times faster than its own C chacha20
   (docs/reference/limits.md, "Algorithms"). */
static const char *const defaults[ALG_N] = {
    [ALG_KEX] = "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,"
                "ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,"
                "diffie-hellman-group14-sha256",
    [ALG_HOSTKEY] = "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,rsa-sha2-512,"
                    "rsa-sha2-256,ssh-rsa",
    [ALG_CIPHER] = "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,"
                   "aes128-ctr,aes192-ctr,aes256-ctr",
    [ALG_MAC] = "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha1-etm@openssh.com,"
                "hmac-sha2-256,hmac-sha2-512,hmac-sha1",
};
static const char *const kind_name[ALG_N] = {"key exchange", "host key", "cipher", "MAC"};
static const int method_of[ALG_N] = {LIBSSH2_METHOD_KEX, LIBSSH2_METHOD_HOSTKEY,
                                     LIBSSH2_METHOD_CRYPT_CS, LIBSSH2_METHOD_MAC_CS};

/* wanted filtered to what this libssh2 supports for `method` (libssh2 1.10 drops unknown names
   with an overlapping memcpy, so it must never see one). A malloc'd string, maybe "". */
static char *supported(LIBSSH2_SESSION *s, int method, const char *wanted)
{
    const char **algs = NULL;
    int n = libssh2_session_supported_algs(s, method, &algs);
    size_t cap = strlen(wanted) + 1, len = 0;
    char *list = malloc(cap);
    if (!list) { if (n > 0) libssh2_free(s, algs); return NULL; }
    list[0] = '\0';
    for (const char *w = wanted; n > 0 && *w;) {
        size_t wl = strcspn(w, ",");
        for (int i = 0; i < n; i++) {
            if (wl && strlen(algs[i]) == wl && strncmp(algs[i], w, wl) == 0) {
                len += (size_t)snprintf(list + len, cap - len, "%s%.*s", len ? "," : "", (int)wl, w);
                break;
            }
        }
        w += wl;
        if (*w == ',') w++;
    }
    if (n > 0) libssh2_free(s, algs);
    return list;
}

int algs_apply(LIBSSH2_SESSION *s, const struct ssh_params *p, struct algs_seen *seen,
               char *err, size_t errlen)
{
    const char *user[ALG_N] = {p->kex, NULL, p->ciphers, p->macs};
    for (int k = 0; k < ALG_N; k++) {
        const char *want = user[k] && *user[k] ? user[k] : defaults[k];
        char *list = supported(s, method_of[k], want);
        if (!list) { snprintf(err, errlen, "out of memory"); return -1; }
        if (!*list) {
            snprintf(err, errlen, "none of the %s algorithms asked for (%s) is available in %s",
                     kind_name[k], want, algs_library_version());
            free(list);
            return -1;
        }
        /* 1.11 adds its ext-info-c and kex-strict-c markers to a kex list it is given. */
        libssh2_session_method_pref(s, method_of[k], list);
        if (k == ALG_CIPHER) libssh2_session_method_pref(s, LIBSSH2_METHOD_CRYPT_SC, list);
        if (k == ALG_MAC) libssh2_session_method_pref(s, LIBSSH2_METHOD_MAC_SC, list);
        free(seen->ours[k]);
        seen->ours[k] = list;
    }
    return 0;
}

static int get_u32(const unsigned char *p, const unsigned char *end, size_t *v)
{
    if (end - p < 4) return -1;
    *v = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
    return 0;
}

/* 1: parsed, 0: need more bytes, -1: not a KEXINIT we can read (give up quietly). */
static int parse(struct algs_seen *seen)
{
    const unsigned char *p = seen->buf, *end = seen->buf + seen->len;
    /* Lines before the binary packets: the banner "SSH-…\r\n", maybe others before it. */
    for (;;) {
        const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) return 0;
        int banner = end - p >= 4 && memcmp(p, "SSH-", 4) == 0;
        p = nl + 1;
        if (banner) break;
    }
    size_t plen;
    if (get_u32(p, end, &plen)) return 0;
    if (plen < 2 || plen > 35000) return -1;
    if ((size_t)(end - p) < 4 + plen) return (size_t)(p - seen->buf) + 4 + plen > ALGS_CAPTURE ? -1 : 0;
    const unsigned char *q = p + 5, *pend = p + 4 + plen;   /* after length and padding length */
    if (q >= pend || *q != 20) return -1;                    /* SSH_MSG_KEXINIT */
    q += 1 + 16;                                             /* the cookie */
    /* kex, host key, enc c->s, enc s->c, mac c->s: we keep 0, 1, 2 and 4. */
    static const int slot[5] = {ALG_KEX, ALG_HOSTKEY, ALG_CIPHER, -1, ALG_MAC};
    for (int i = 0; i < 5; i++) {
        size_t l;
        if (get_u32(q, pend, &l) || l > (size_t)(pend - q - 4)) return -1;
        if (slot[i] >= 0 && (seen->server[slot[i]] = malloc(l + 1))) {
            memcpy(seen->server[slot[i]], q + 4, l);
            seen->server[slot[i]][l] = '\0';
        }
        q += 4 + l;
    }
    return 1;
}

void algs_capture(struct algs_seen *seen, const void *buf, size_t n)
{
    if (seen->done || n == 0) return;
    if (!seen->buf && !(seen->buf = malloc(ALGS_CAPTURE))) { seen->done = 1; return; }
    size_t take = n < ALGS_CAPTURE - seen->len ? n : ALGS_CAPTURE - seen->len;
    memcpy(seen->buf + seen->len, buf, take);
    seen->len += take;
    int r = parse(seen);
    if (r != 0 || seen->len == ALGS_CAPTURE) {
        seen->done = 1;
        free(seen->buf);
        seen->buf = NULL;
    }
}

/* The first name of comma-list a (ours, in our order) that comma-list b has too; its length in
   *len, or NULL when they share none (as SSH negotiates: the client's order wins). */
static const char *first_common(const char *a, const char *b, size_t *len)
{
    for (const char *x = a; *x;) {
        size_t xl = strcspn(x, ",");
        for (const char *y = b; *y;) {
            size_t yl = strcspn(y, ",");
            if (xl == yl && strncmp(x, y, xl) == 0) { *len = xl; return x; }
            y += yl;
            if (*y == ',') y++;
        }
        x += xl;
        if (*x == ',') x++;
    }
    return NULL;
}

int algs_explain(const struct algs_seen *seen, char *out, size_t outlen)
{
    for (int k = 0; k < ALG_N; k++) {
        if (!seen->ours[k] || !seen->server[k]) continue;
        size_t l;
        if (first_common(seen->ours[k], seen->server[k], &l)) continue;
        if (k == ALG_MAC && seen->ours[ALG_CIPHER] && seen->server[ALG_CIPHER]) {
            /* An AEAD cipher (gcm, chacha20-poly1305) brings its own MAC: the lists do not matter. */
            const char *c = first_common(seen->ours[ALG_CIPHER], seen->server[ALG_CIPHER], &l);
            if (c && (memmem(c, l, "gcm", 3) || memmem(c, l, "poly1305", 8))) continue;
        }
        size_t len = strlen(out);
        snprintf(out + len, outlen - len, " (no common %s algorithm: we offer %s; the server offers %s)",
                 kind_name[k], seen->ours[k], seen->server[k]);
        return 1;
    }
    return 0;
}

void algs_free(struct algs_seen *seen)
{
    free(seen->buf);
    for (int k = 0; k < ALG_N; k++) { free(seen->server[k]); free(seen->ours[k]); }
    memset(seen, 0, sizeof *seen);
}

const char *algs_library_version(void)
{
    static char buf[48];
    if (!buf[0]) snprintf(buf, sizeof buf, "libssh2 %s", libssh2_version(0));
    return buf;
}
