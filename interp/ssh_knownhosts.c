/* known_hosts lookup and append, following OpenSSH's hostfile.c / match.c semantics. */
#include "ssh_knownhosts.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define KH_HASH_MAGIC "|1|"
#define SHA1_LEN 20

/* ---- base64 ---------------------------------------------------------------------------------- */

static int b64_value(int c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Decodes n characters of standard base64 (padded, or unpadded at the end) into out, which must
   hold n / 4 * 3 + 3 bytes. Returns the decoded length, or -1 for anything that is not base64. */
static long b64_decode(const char *s, size_t n, unsigned char *out)
{
    size_t pad = 0;
    while (pad < 2 && n > 0 && s[n - 1] == '=') { n--; pad++; }
    if (n % 4 == 1 || (pad && (n + pad) % 4 != 0)) return -1;
    long len = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0) return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[len++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* Leftover bits must be zero, or two different strings would decode to the same key. */
    if (acc != 0) return -1;
    return len;
}

/* Standard padded base64 of n bytes; the caller frees. NULL when memory runs out. */
static char *b64_encode(const unsigned char *p, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    if (!out) return NULL;
    EVP_EncodeBlock((unsigned char *)out, p, (int)n);
    return out;
}

/* ---- host patterns ----------------------------------------------------------------------------- */

/* OpenSSH's match_pattern: '*' and '?' wildcards, case-insensitive, pattern is [p, pe). */
static int wild_match(const char *p, const char *pe, const char *s)
{
    for (;;) {
        if (p == pe) return *s == '\0';
        if (*p == '*') {
            while (p < pe && *p == '*') p++;
            if (p == pe) return 1;
            for (; *s; s++)
                if (wild_match(p, pe, s)) return 1;
            return 0;
        }
        if (*s == '\0') return 0;
        if (*p != '?' && tolower((unsigned char)*p) != tolower((unsigned char)*s)) return 0;
        p++;
        s++;
    }
}

/* Matches the comma-separated list [list, end) against name: 1 when a positive pattern matches and
   no negated one does, 0 when nothing matches, -1 when a negated pattern matches. */
static int match_list(const char *list, const char *end, const char *name)
{
    int got_positive = 0;
    while (list < end) {
        const char *comma = memchr(list, ',', (size_t)(end - list));
        const char *pe = comma ? comma : end;
        int negated = *list == '!';
        const char *p = list + negated;
        if (p < pe && wild_match(p, pe, name)) {
            if (negated) return -1;
            got_positive = 1;
        }
        list = comma ? comma + 1 : end;
    }
    return got_positive;
}

/* A hashed host field "|1|salt|hash": HMAC-SHA1 keyed with salt over the name as looked up.
   1 on a match, 0 otherwise (a malformed field is simply no match). */
static int match_hashed(const char *field, size_t len, const char *name)
{
    const char *salt = field + strlen(KH_HASH_MAGIC);
    const char *end = field + len;
    const char *bar = memchr(salt, '|', (size_t)(end - salt));
    if (!bar) return 0;
    unsigned char key[96], want[96], got[EVP_MAX_MD_SIZE];
    size_t salt_n = (size_t)(bar - salt), hash_n = (size_t)(end - bar - 1);
    if (salt_n > 120 || hash_n > 120) return 0;
    long keylen = b64_decode(salt, salt_n, key);
    long wantlen = b64_decode(bar + 1, hash_n, want);
    if (keylen <= 0 || wantlen != SHA1_LEN) return 0;
    unsigned int gotlen = 0;
    if (!HMAC(EVP_sha1(), key, (int)keylen, (const unsigned char *)name, strlen(name), got, &gotlen))
        return 0;
    return gotlen == SHA1_LEN && memcmp(got, want, SHA1_LEN) == 0;
}

/* The host field of a line against name: 1 match, 0 no match (negation counts as no match). */
static int host_field_matches(const char *field, size_t len, const char *name)
{
    if (len > strlen(KH_HASH_MAGIC) && memcmp(field, KH_HASH_MAGIC, strlen(KH_HASH_MAGIC)) == 0)
        return match_hashed(field, len, name);
    return match_list(field, field + len, name) > 0;
}

/* The name OpenSSH looks up and writes: lower-case host, "[host]:port" unless the port is 22. */
static char *lookup_name(const char *host, int port)
{
    size_t n = strlen(host) + 16;
    char *s = malloc(n);
    if (!s) return NULL;
    if (port <= 0 || port == 22) snprintf(s, n, "%s", host);
    else snprintf(s, n, "[%s]:%d", host, port);
    for (char *c = s; *c; c++) *c = (char)tolower((unsigned char)*c);
    return s;
}

/* The RSA signature algorithms all use the one "ssh-rsa" key type. */
static const char *key_type_base(const char *t, size_t n)
{
    static const char *rsa_alias[] = { "rsa-sha2-256", "rsa-sha2-512" };
    for (size_t i = 0; i < sizeof rsa_alias / sizeof *rsa_alias; i++)
        if (n == strlen(rsa_alias[i]) && memcmp(t, rsa_alias[i], n) == 0) return "ssh-rsa";
    return NULL;
}

static int same_key_type(const char *a, size_t an, const char *b)
{
    const char *ab = key_type_base(a, an), *bb = key_type_base(b, strlen(b));
    if (ab) { a = ab; an = strlen(ab); }
    if (bb) b = bb;
    return an == strlen(b) && memcmp(a, b, an) == 0;
}

/* ---- lookup ------------------------------------------------------------------------------------ */

struct token { const char *s; size_t n; };

/* Next whitespace-separated token at *p; 0 when the line has no more. */
static int next_token(char **p, struct token *t)
{
    char *s = *p;
    while (*s == ' ' || *s == '\t') s++;
    if (*s == '\0') return 0;
    t->s = s;
    while (*s && *s != ' ' && *s != '\t') s++;
    t->n = (size_t)(s - t->s);
    *p = s;
    return 1;
}

int kh_check(const char *path, const char *host, int port, const char *keytype,
             const unsigned char *blob, size_t bloblen, int *line_out)
{
    int r, lineno = 0, match_line = 0, mismatch_line = 0;
    char *line = NULL, *name = NULL;
    unsigned char *key = NULL;
    size_t cap = 0, keycap = 0;
    FILE *f = fopen(path, "r");
    if (!f) return errno == ENOENT || errno == ENOTDIR ? KH_NOTFOUND : -errno;
    if (!(name = lookup_name(host, port))) { r = -ENOMEM; goto out; }

    ssize_t got;
    errno = 0;
    while ((got = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = '\0';
        char *p = line;
        struct token hosts, type, b64;
        int revoked = 0;
        if (!next_token(&p, &hosts) || hosts.s[0] == '#') continue;
        if (hosts.s[0] == '@') {
            /* @cert-authority lines hold CA keys, not host keys; an unknown marker is skipped too. */
            if (hosts.n != 8 || memcmp(hosts.s, "@revoked", 8) != 0) continue;
            revoked = 1;
            if (!next_token(&p, &hosts)) continue;
        }
        if (!next_token(&p, &type) || !next_token(&p, &b64)) continue;
        if (!host_field_matches(hosts.s, hosts.n, name)) continue;

        if (b64.n / 4 * 3 + 3 > keycap) {
            unsigned char *k = realloc(key, b64.n / 4 * 3 + 3);
            if (!k) { r = -ENOMEM; goto out; }
            key = k;
            keycap = b64.n / 4 * 3 + 3;
        }
        long keylen = b64_decode(b64.s, b64.n, key);
        if (keylen < 0) continue;
        int same_blob = (size_t)keylen == bloblen && memcmp(key, blob, bloblen) == 0;
        if (revoked) {
            /* The blob names its own type, so the key alone decides. */
            if (same_blob) {
                if (line_out) *line_out = lineno;
                r = KH_REVOKED;
                goto out;
            }
            continue;
        }
        if (!same_key_type(type.s, type.n, keytype)) continue;
        if (same_blob) { if (!match_line) match_line = lineno; }
        else if (!mismatch_line) mismatch_line = lineno;
    }
    if (ferror(f)) { r = errno ? -errno : -EIO; goto out; }

    /* Keep scanning after a match: a later @revoked line still wins. */
    if (match_line) {
        if (line_out) *line_out = match_line;
        r = KH_MATCH;
    } else if (mismatch_line) {
        if (line_out) *line_out = mismatch_line;
        r = KH_MISMATCH;
    } else {
        r = KH_NOTFOUND;
    }
out:
    free(key);
    free(line);
    free(name);
    fclose(f);
    return r;
}

/* ---- append ------------------------------------------------------------------------------------ */

/* Creates the folders leading to path (0700), like mkdir -p of its dirname. 0 or -errno. */
static int make_parents(const char *path)
{
    int r = 0;
    char *copy = strdup(path);
    if (!copy) return -ENOMEM;
    for (char *s = strchr(copy + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        if (mkdir(copy, 0700) != 0 && errno != EEXIST) { r = -errno; goto out; }
        *s = '/';
    }
out:
    free(copy);
    return r;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* "|1|salt|hash" for name (the caller frees), or NULL when out of memory or randomness. */
static char *hashed_name(const char *name)
{
    unsigned char salt[20], md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (RAND_bytes(salt, sizeof salt) != 1) return NULL;
    if (!HMAC(EVP_sha1(), salt, (int)sizeof salt, (const unsigned char *)name, strlen(name), md, &mdlen)) return NULL;
    char *s64 = b64_encode(salt, sizeof salt), *h64 = b64_encode(md, mdlen), *out = NULL;
    if (s64 && h64 && asprintf(&out, "|1|%s|%s", s64, h64) < 0) out = NULL;
    free(s64);
    free(h64);
    return out;
}

int kh_append(const char *path, const char *host, int port, const char *keytype,
              const unsigned char *blob, size_t bloblen)
{
    return kh_append_as(path, host, port, keytype, blob, bloblen, 0);
}

int kh_append_as(const char *path, const char *host, int port, const char *keytype,
                 const unsigned char *blob, size_t bloblen, int hashed)
{
    int r, fd = -1;
    char *name = NULL, *b64 = NULL, *line = NULL;
    /* A space, comma or newline in a name or type would corrupt the file for every later reader. */
    if (!*host || strpbrk(host, " \t\r\n,#") || !*keytype || strpbrk(keytype, " \t\r\n")) return -EINVAL;
    if (!(name = lookup_name(host, port)) || !(b64 = b64_encode(blob, bloblen))) { r = -ENOMEM; goto out; }
    if (hashed) {
        char *h = hashed_name(name);
        if (!h) { r = -ENOMEM; goto out; }
        free(name);
        name = h;
    }
    const char *type = key_type_base(keytype, strlen(keytype));
    if (!type) type = keytype;
    size_t n = strlen(name) + strlen(type) + strlen(b64) + 4;
    if (!(line = malloc(n))) { r = -ENOMEM; goto out; }
    n = (size_t)snprintf(line, n, "%s %s %s\n", name, type, b64);

    if ((r = make_parents(path)) != 0) goto out;
    fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) { r = -errno; goto out; }
    /* A last line without its newline would swallow ours. */
    struct stat st;
    char last;
    if (fstat(fd, &st) != 0) { r = -errno; goto out; }
    if (st.st_size > 0 && pread(fd, &last, 1, st.st_size - 1) == 1 && last != '\n')
        if ((r = write_all(fd, "\n", 1)) != 0) goto out;
    if ((r = write_all(fd, line, n)) != 0) goto out;
    r = 0;
out:
    if (fd >= 0 && close(fd) != 0 && r == 0) r = -errno;
    free(line);
    free(b64);
    free(name);
    return r;
}

/* ---- fingerprint ------------------------------------------------------------------------------- */

void kh_fingerprint(const unsigned char *blob, size_t bloblen, char out[KH_FP_LEN])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    unsigned char b64[64];
    strcpy(out, "SHA256:");
    if (!EVP_Digest(blob, bloblen, md, &mdlen, EVP_sha256(), NULL)) {
        strcat(out, "?");
        return;
    }
    int n = EVP_EncodeBlock(b64, md, (int)mdlen);
    while (n > 0 && b64[n - 1] == '=') n--;
    b64[n] = '\0';
    strcat(out, (char *)b64);
}
