#include "ssh_auth.h"
#include "ssh_params.h"
#include "ssh_alloc.h"
#include "ssh_conn.h"           /* conn_tracing */
#include "tty_prompt.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdint.h>
#include <openssl/evp.h>

enum stage { A_LIST, A_AGENT, A_KEYS, A_PASSWORD, A_KBDINT, A_FAILED };

struct auth_state {
    const struct ssh_params *p;
    enum stage stage;
    char *methods;                      /* what the server allows (NULL: not asked yet) */
    int began;
    enum stage after_list;              /* A_LIST asked late: where to go on (0: agent or keys) */
    LIBSSH2_AGENT *agent;
    struct libssh2_agent_publickey *identity;
    int agent_keys;
    int key_idx;
    int cert_checked;                   /* the current key's certificate was looked for */
    char *cert;                         /* ... and is to be tried first (NULL: none, or done) */
    char *passphrase;                   /* prompted for the current key */
    int passphrase_asked;               /* ... once per key, answered or not */
    char *password;                     /* given or prompted */
    int password_asked;
    struct tty_prompt *asking;          /* a question on (or queued for) the terminal */
    int answered;                       /* its answer is in answer (NULL: none) */
    char *answer;
    void (*wake)(void *arg);            /* the answer came: call auth_step again */
    void *wake_arg;
    char tried[400];
    char rsa_refused[300];
    enum { FOLLOW_NONE, FOLLOW_WAITING, FOLLOW_ACCEPTED, FOLLOW_REFUSED } follow;
    /* A key file's request under way: libssh2 is called again with these until it answers
       (the files are looked at once, not on every wake-up). */
    int lost;                           /* the connection ended under a request */
    int key_in_flight, key_is_rsa, key_encrypted, key_has_pub;
    const char *key_pass;
    char key_pub[1024];
};

static void note(struct auth_state *a, const char *what)
{
    size_t n = strlen(a->tried);
    snprintf(a->tried + n, sizeof a->tried - n, "%s%s", n ? ", " : "", what);
}

/* SSHS_TRACE=1: one line per finished auth request, so the round trips of a connect can be
   counted ("a query first" is one more). */
static void trace_request(const struct auth_state *a, const char *what, const char *how, int r)
{
    if (conn_tracing())
        fprintf(stderr, "sshs: trace: %s auth: %s (%s): %s\n", a->p->display, what, how,
                r == 0 ? "accepted" : "refused");
}

static int allows(const struct auth_state *a, const char *method)
{
    if (!a->methods) return 1;
    size_t m = strlen(method);
    for (const char *s = a->methods; (s = strstr(s, method)); s += m)
        if ((s == a->methods || s[-1] == ',') && (s[m] == ',' || s[m] == 0)) return 1;
    return 0;
}

struct auth_state *auth_new(const struct ssh_params *p, void (*wake)(void *arg), void *wake_arg)
{
    struct auth_state *a = calloc(1, sizeof *a);
    if (a) { a->p = p; a->wake = wake; a->wake_arg = wake_arg; }
    return a;
}

static void free_secret(char *s)
{
    if (s) { memset(s, 0, strlen(s)); free(s); }
}

void auth_free(struct auth_state *a)
{
    if (!a) return;
    tty_prompt_cancel(a->asking);       /* the terminal gets its echo back now */
    free_secret(a->answer);
    if (a->agent) { libssh2_agent_disconnect(a->agent); libssh2_agent_free(a->agent); }
    free_secret(a->passphrase);
    free(a->cert);
    if (a->password && a->password != a->p->password) free_secret(a->password);
    free(a);
}

static void on_answer(void *arg, char *secret)
{
    struct auth_state *a = arg;
    a->asking = NULL;
    a->answered = 1;
    a->answer = secret;
    a->wake(a->wake_arg);
}

/* Asks the terminal on the loop: AUTH_ASKING while the question waits (a->wake is called when
   it is answered), then 0 with the answer in *secret (NULL: no terminal; the caller owns it). */
static int ask(struct auth_state *a, const char *prompt, char **secret)
{
    *secret = NULL;
    if (a->answered) {
        a->answered = 0;
        *secret = a->answer;
        a->answer = NULL;
        return 0;
    }
    if (a->asking) return AUTH_ASKING;
    a->asking = tty_prompt_ask(prompt, on_answer, a);
    return a->asking ? AUTH_ASKING : 0;
}

/* Reads a big-endian length-prefixed string at *p (OpenSSH key format); NULL past the end. */
static const unsigned char *ssh_string(const unsigned char **p, const unsigned char *end, uint32_t *len)
{
    if (end - *p < 4) return NULL;
    uint32_t n = ((uint32_t)(*p)[0] << 24) | ((uint32_t)(*p)[1] << 16) | ((uint32_t)(*p)[2] << 8) | (*p)[3];
    if ((size_t)(end - *p - 4) < n) return NULL;
    const unsigned char *s = *p + 4;
    *p = s + n;
    *len = n;
    return s;
}

/* Tells RSA keys (libssh2 1.10 signs only with SHA-1) and encrypted keys from the others:
   the .pub file when there is one, else the private key's own header. */
static void inspect_key(const char *path, int *is_rsa, int *encrypted)
{
    *is_rsa = *encrypted = 0;
    char pub[1024];
    snprintf(pub, sizeof pub, "%s.pub", path);
    FILE *f = fopen(pub, "r");
    if (f) {
        char head[16] = "";
        if (fgets(head, sizeof head, f)) *is_rsa = strncmp(head, "ssh-rsa ", 8) == 0;
        fclose(f);
    }
    f = fopen(path, "r");
    if (!f) return;
    static char text[65536];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    if (strstr(text, "BEGIN RSA PRIVATE KEY")) *is_rsa = 1;
    if (strstr(text, "ENCRYPTED")) *encrypted = 1;          /* PEM: Proc-Type or PKCS#8 */
    const char *begin = strstr(text, "-----BEGIN OPENSSH PRIVATE KEY-----");
    if (!begin) return;
    /* The base64 body, without line breaks. */
    static char b64[65536];
    size_t m = 0;
    for (const char *c = strchr(begin, '\n'); c && *c && strncmp(c, "-----END", 8) != 0; c++)
        if (*c != '\n' && *c != '\r' && m + 1 < sizeof b64) b64[m++] = *c;
    m -= m % 4;
    static unsigned char raw[49152];
    int len = m ? EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)m) : -1;
    if (len < 15 || memcmp(raw, "openssh-key-v1", 15) != 0) return;
    const unsigned char *p = raw + 15, *end = raw + len, *str;
    uint32_t sl;
    if (!(str = ssh_string(&p, end, &sl))) return;          /* cipher name */
    *encrypted = !(sl == 4 && memcmp(str, "none", 4) == 0);
    if (!ssh_string(&p, end, &sl) || !ssh_string(&p, end, &sl)) return;   /* kdf, options */
    if (end - p < 4) return;
    p += 4;                                                /* number of keys */
    const unsigned char *key = ssh_string(&p, end, &sl);   /* the first public key */
    if (!key) return;
    const unsigned char *kp = key, *kend = key + sl;
    if ((str = ssh_string(&kp, kend, &sl)) && sl == 7 && memcmp(str, "ssh-rsa", 7) == 0) *is_rsa = 1;
}

/* The key blob of a public key or certificate file ("type base64 comment"): its length, or 0. */
static size_t read_pub_blob(const char *path, unsigned char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    static char line[16384];
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = 0;
    char *b = strchr(line, ' ');
    if (!b) return 0;
    b++;
    size_t m = strcspn(b, " \t\r\n");
    if (m == 0 || m % 4 || m / 4 * 3 > cap) return 0;
    int len = EVP_DecodeBlock(out, (const unsigned char *)b, (int)m);
    if (len <= 0) return 0;
    while (m && b[m - 1] == '=') { m--; len--; }   /* EVP_DecodeBlock counts the padding */
    return (size_t)len;
}

/* Does the certificate (blob) certify the public key (blob)? A certificate is
   string(cert type) string(nonce) and then the key's own fields, as the public key has them
   after its type: compare those. */
static int cert_certifies(const unsigned char *cert, size_t clen, const unsigned char *pub, size_t plen)
{
    const unsigned char *c = cert, *cend = cert + clen, *p = pub, *pend = pub + plen;
    uint32_t sl;
    if (!ssh_string(&c, cend, &sl) || !ssh_string(&c, cend, &sl) || !ssh_string(&p, pend, &sl)) return 0;
    size_t fields = (size_t)(pend - p);
    return fields > 0 && (size_t)(cend - c) >= fields && memcmp(c, p, fields) == 0;
}

/* The certificate to try with the key at path: path-cert.pub beside it (as ssh), else a
   CertificateFile that certifies its public key (path.pub). NULL when none (caller frees). */
static char *cert_for(const struct ssh_params *p, const char *path)
{
    char *beside = NULL;
    if (asprintf(&beside, "%s-cert.pub", path) < 0) return NULL;
    if (access(beside, R_OK) == 0) return beside;
    free(beside);
    if (p->ncerts == 0) return NULL;
    static unsigned char pub[8192], cert[16384];
    char pubpath[1100];
    snprintf(pubpath, sizeof pubpath, "%s.pub", path);
    size_t plen = read_pub_blob(pubpath, pub, sizeof pub);
    if (!plen) return NULL;
    for (int i = 0; i < p->ncerts; i++) {
        size_t clen = read_pub_blob(p->cert_files[i], cert, sizeof cert);
        if (clen && cert_certifies(cert, clen, pub, plen)) return strdup(p->cert_files[i]);
    }
    return NULL;
}

static const char *kbdint_password;

static void kbdint_respond(const char *name, int name_len, const char *instruction, int instruction_len,
                           int num_prompts, const LIBSSH2_USERAUTH_KBDINT_PROMPT *prompts,
                           LIBSSH2_USERAUTH_KBDINT_RESPONSE *responses, void **abstract)
{
    const char *pw = kbdint_password ? kbdint_password : "";
    size_t n = strlen(pw);
    for (int i = 0; i < num_prompts; i++) {
        responses[i].text = ssh_libssh2_alloc(n + 1);     /* libssh2 frees it with its allocator */
        if (responses[i].text) memcpy(responses[i].text, pw, n + 1);
        responses[i].length = responses[i].text ? (unsigned)n : 0;
    }
}

static int fail_message(struct auth_state *a, char *err, size_t errlen)
{
    if (a->rsa_refused[0])
#if LIBSSH2_VERSION_NUM >= 0x010b00
        snprintf(err, errlen, "the RSA key %s was refused: it was signed with rsa-sha2-512 or "
                 "rsa-sha2-256 as the server's server-sig-algs allow (ssh-rsa only when it names "
                 "neither); the server may not accept RSA keys (PubkeyAcceptedAlgorithms) or this key. "
                 "Tried: %s; the server allows: %s",
                 a->rsa_refused, a->tried[0] ? a->tried : "nothing", a->methods ? a->methods : "?");
#else
        snprintf(err, errlen, "the RSA key %s was refused: libssh2 1.10 can only sign with ssh-rsa "
                 "(SHA-1), which OpenSSH 8.8 and later refuse; use an ed25519 key instead "
                 "(ssh-keygen -t ed25519). Tried: %s; the server allows: %s",
                 a->rsa_refused, a->tried[0] ? a->tried : "nothing", a->methods ? a->methods : "?");
#endif
    else
        snprintf(err, errlen, "no method worked for user %s. Tried: %s; the server allows: %s",
                 a->p->user, a->tried[0] ? a->tried : "nothing (no agent, no key file, no password)",
                 a->methods ? a->methods : "?");
    a->stage = A_FAILED;
    return -1;
}

/* The transport ended under a request (the server disconnected, e.g. sshd's MaxAuthTries):
   no later method can be tried, and "refused" would be wrong. */
static int is_lost(int r) { return conn_step_of(r) == SSH_STEP_LOST; }

/* Auth ends: the connection ended under the request for `what`. */
static int lost_message(struct auth_state *a, const char *what, char *err, size_t errlen)
{
    char m[600];
    snprintf(m, sizeof m, "%s (no answer)", what);
    note(a, m);
    snprintf(err, errlen, "the connection ended before the server answered. Tried: %s", a->tried);
    a->stage = A_FAILED;
    return -1;
}

/* A publickey request got its answer (r: 0 accepted): what followed it learns the outcome. */
static void pk_answered(struct auth_state *a, int r)
{
    if (a->follow == FOLLOW_WAITING) a->follow = r == 0 ? FOLLOW_ACCEPTED : FOLLOW_REFUSED;
}

/* Publickey requests signed without a query first (LIBSSH2_FLAG_PUBKEY_SIGN_AT_ONCE, our
   libssh2 patch 0007); a libssh2 without it (the system 1.10) queries as it always did. */
#ifdef LIBSSH2_FLAG_PUBKEY_SIGN_AT_ONCE
#define SIGN_AT_ONCE 1
static void sign_at_once(LIBSSH2_SESSION *s, int on)
{
    libssh2_session_flag(s, LIBSSH2_FLAG_PUBKEY_SIGN_AT_ONCE, on);
}
#else
#define SIGN_AT_ONCE 0
static void sign_at_once(LIBSSH2_SESSION *s, int on) { (void)s; (void)on; }
#endif

/* Before a key file's request: the file must be readable by us alone; its passphrase is asked
   for when needed. 0 to send the request, AUTH_ASKING, or 1 to move on. */
static int key_prepare(struct auth_state *a, const char *path, const char *cert, int given)
{
    if (access(path, R_OK) != 0) {
        if (given) {
            char m[300];
            snprintf(m, sizeof m, "key %s (%s)", path, strerror(errno));
            note(a, m);
        }
        return 1;
    }
    struct stat st;
    if (stat(path, &st) == 0 && st.st_uid == getuid() && (st.st_mode & 077) != 0) {
        /* As OpenSSH: a private key others can read is not used (it may have leaked). */
        char m[400];
        snprintf(m, sizeof m, "key %s (not used: permissions %04o are too open; a private key must be "
                 "readable only by you: chmod 600 %s)", path, (unsigned)(st.st_mode & 07777), path);
        note(a, m);
        if (given) fprintf(stderr, "sshs: %s\n", m);
        return 1;
    }
    inspect_key(path, &a->key_is_rsa, &a->key_encrypted);
    const char *pass = a->passphrase ? a->passphrase : a->p->passphrase;
    if (a->key_encrypted && !pass && a->p->interactive && !a->passphrase_asked) {
        char prompt[400];
        snprintf(prompt, sizeof prompt, "Enter passphrase for key '%s': ", path);
        if (ask(a, prompt, &a->passphrase) == AUTH_ASKING) return AUTH_ASKING;
        a->passphrase_asked = 1;
        pass = a->passphrase;
    }
    a->key_pass = pass;
    snprintf(a->key_pub, sizeof a->key_pub, "%s.pub", path);
    a->key_has_pub = !cert && access(a->key_pub, R_OK) == 0;
    return 0;
}

/* A key file's request was answered (r): 0 accepted, or 1 to move on, with a note of why. */
static int key_answered(struct auth_state *a, LIBSSH2_SESSION *s, const char *path, const char *cert,
                        int r, int is_rsa, int encrypted, const char *pass)
{
    if (is_lost(r)) { a->lost = 1; return 1; }
    {
        char what[1100];
        snprintf(what, sizeof what, "publickey %s%s", cert ? "certificate " : "", cert ? cert : path);
        trace_request(a, what, SIGN_AT_ONCE ? "signed at once" : "query first", r);
    }
    if (r == 0) return 0;
    char m[400];
    if (cert) {
        char *msg = NULL;
        libssh2_session_last_error(s, &msg, NULL, 0);
        snprintf(m, sizeof m, "certificate %s with key %s (%s)", cert, path,
                 r == LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED || r == LIBSSH2_ERROR_AUTHENTICATION_FAILED
                     ? "refused" : msg ? msg : "cannot be used");
        note(a, m);
        return 1;
    }
    /* -16 (file) and -19 (signing failed) are ours: the key could not be used here; the
       server refusing the key is -18. */
    int local = r == LIBSSH2_ERROR_FILE || r == LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED;
    if (local && encrypted)
        snprintf(m, sizeof m, "key %s (%s)", path, pass && *pass ? "wrong passphrase"
                 : "encrypted, and no passphrase was given (opts.passphrase, or run on a terminal to be asked)");
    else if (local)
        snprintf(m, sizeof m, "key %s (cannot be read or parsed)", path);
    else
        snprintf(m, sizeof m, "key %s (refused)", path);
    note(a, m);
    if (is_rsa && !(local && encrypted) && !a->rsa_refused[0])
        snprintf(a->rsa_refused, sizeof a->rsa_refused, "%s", path);
    return 1;
}

/* One key file, with its certificate when cert is not NULL: 0 accepted, EAGAIN, AUTH_ASKING
   (its passphrase), or 1 to move on. */
static int try_key(struct auth_state *a, LIBSSH2_SESSION *s, const char *path, const char *cert, int given)
{
    if (!a->key_in_flight) {
        int r = key_prepare(a, path, cert, given);
        if (r != 0) return r;
    }
    const char *user = a->p->user;
    const char *pass = a->key_pass;
    /* The private key is in hand: send the signed request at once instead of first asking
       whether the server would take the key (a round trip; our libssh2 patch 0007). Only
       around this call: agent keys keep the query, so the agent signs only for a key the
       server accepts. */
    sign_at_once(s, 1);
    /* A certificate is offered as the public key; libssh2 signs with the private key. */
    int r = libssh2_userauth_publickey_fromfile_ex(s, user, (unsigned)strlen(user),
                                                   cert ? cert : a->key_has_pub ? a->key_pub : NULL,
                                                   path, pass ? pass : "");
    sign_at_once(s, 0);
    a->key_in_flight = r == LIBSSH2_ERROR_EAGAIN;
    if (r == LIBSSH2_ERROR_EAGAIN) return r;
    int is_rsa = a->key_is_rsa, encrypted = a->key_encrypted;
    pk_answered(a, r);
    return key_answered(a, s, path, cert, r, is_rsa, encrypted, pass);
}

/* A stage's answer when auth goes on with a->stage (any other is auth_step's). */
#define AUTH_NEXT 3

/* Auth "none": the server's method list (asked only when the keys are done or none was offered). */
static int step_list(struct auth_state *a, LIBSSH2_SESSION *s, char *err, size_t errlen)
{
    const struct ssh_params *p = a->p;
    char *list = libssh2_userauth_list(s, p->user, (unsigned)strlen(p->user));
    if (!list) {
        if (libssh2_userauth_authenticated(s)) return 0;   /* "none" was accepted */
        if (libssh2_session_last_errno(s) == LIBSSH2_ERROR_EAGAIN) return LIBSSH2_ERROR_EAGAIN;
        if (is_lost(libssh2_session_last_errno(s))) return lost_message(a, "auth none (the method list)", err, errlen);
        char *msg = NULL;
        libssh2_session_last_error(s, &msg, NULL, 0);
        snprintf(err, errlen, "cannot ask the server for its methods: %s", msg ? msg : "?");
        return -1;
    }
    a->methods = list;      /* owned by the session */
    if (conn_tracing()) fprintf(stderr, "sshs: trace: %s auth: none (the method list): %s\n", p->display, list);
    a->stage = a->after_list ? a->after_list
             : p->agent && getenv("SSH_AUTH_SOCK") ? A_AGENT : A_KEYS;
    return AUTH_NEXT;
}

/* The agent's keys, one request each (the agent signs only for a key the server takes). */
static int step_agent(struct auth_state *a, LIBSSH2_SESSION *s, char *err, size_t errlen)
{
    const struct ssh_params *p = a->p;
    if (!allows(a, "publickey")) { a->stage = A_KEYS; return AUTH_NEXT; }
    if (!a->agent) {
        /* The agent is a local socket; libssh2 talks to it synchronously (fast). */
        a->agent = libssh2_agent_init(s);
        if (!a->agent || libssh2_agent_connect(a->agent) != 0 ||
            libssh2_agent_list_identities(a->agent) != 0) {
            note(a, "agent (not reachable)");
            a->stage = A_KEYS;
            return AUTH_NEXT;
        }
        a->identity = NULL;
        if (libssh2_agent_get_identity(a->agent, &a->identity, NULL) != 0) {
            note(a, "agent (no keys)");
            a->stage = A_KEYS;
            return AUTH_NEXT;
        }
    }
    int r = libssh2_agent_userauth(a->agent, p->user, a->identity);
    if (r == LIBSSH2_ERROR_EAGAIN) return r;
    pk_answered(a, r);
    {
        char what[300];
        snprintf(what, sizeof what, "publickey agent key %d %.200s", a->agent_keys + 1,
                 a->identity && a->identity->comment ? a->identity->comment : "");
        trace_request(a, what, "query first", r);
    }
    if (r == 0) return 0;
    if (is_lost(r)) return lost_message(a, "agent key", err, errlen);
    a->agent_keys++;
    struct libssh2_agent_publickey *prev = a->identity;
    if (libssh2_agent_get_identity(a->agent, &a->identity, prev) != 0) {
        char m[64];
        snprintf(m, sizeof m, "agent (%d key%s refused)", a->agent_keys, a->agent_keys == 1 ? "" : "s");
        note(a, m);
        a->stage = A_KEYS;
    }
    return AUTH_NEXT;
}

/* The key files in order, each with its certificate first when there is one (as ssh). */
static int step_keys(struct auth_state *a, LIBSSH2_SESSION *s, char *err, size_t errlen)
{
    const struct ssh_params *p = a->p;
    if (!allows(a, "publickey") || a->key_idx >= p->nkeys) {
        a->stage = A_PASSWORD;
        if (!a->methods) { a->after_list = A_PASSWORD; a->stage = A_LIST; }
        return AUTH_NEXT;
    }
    const char *path = p->keys[a->key_idx];
    if (!a->cert_checked) {
        a->cert_checked = 1;
        if (access(path, R_OK) == 0) a->cert = cert_for(p, path);
    }
#if LIBSSH2_VERSION_NUM < 0x010b00
    if (a->cert) {                  /* 1.10 signs with the certificate's type as the signature's */
        char m[600];
        snprintf(m, sizeof m, "certificate %s (not used: libssh2 1.10 cannot sign with a "
                 "certificate; sshs built with libssh2 >= 1.11 can)", a->cert);
        note(a, m);
        free(a->cert);
        a->cert = NULL;
    }
#endif
    if (a->cert) {                  /* the certificate first, then the plain key (as ssh) */
        int r = try_key(a, s, path, a->cert, p->key_given[a->key_idx]);
        if (r == LIBSSH2_ERROR_EAGAIN || r == AUTH_ASKING || r == 0) return r;
        if (a->lost) return lost_message(a, a->cert, err, errlen);
        free(a->cert);
        a->cert = NULL;
    }
    int r = try_key(a, s, path, NULL, p->key_given[a->key_idx]);
    if (r == LIBSSH2_ERROR_EAGAIN || r == AUTH_ASKING || r == 0) return r;
    if (a->lost) {
        char what[400];
        snprintf(what, sizeof what, "key %s", path);
        return lost_message(a, what, err, errlen);
    }
    a->cert_checked = 0;
    free_secret(a->passphrase);
    a->passphrase = NULL;
    a->passphrase_asked = 0;
    a->key_idx++;
    return AUTH_NEXT;
}

/* The password: given, or asked on the terminal when interactive. */
static int step_password(struct auth_state *a, LIBSSH2_SESSION *s, char *err, size_t errlen)
{
    const struct ssh_params *p = a->p;
    if (!a->password && p->password) a->password = p->password;
    int can_pw = allows(a, "password"), can_kbd = allows(a, "keyboard-interactive");
    if (!a->password && p->interactive && (can_pw || can_kbd) && !a->password_asked) {
        char prompt[300];
        snprintf(prompt, sizeof prompt, "%s's password: ", p->display);
        if (ask(a, prompt, &a->password) == AUTH_ASKING) return AUTH_ASKING;
        a->password_asked = 1;
    }
    if (!a->password) return fail_message(a, err, errlen);
    if (!can_pw && !can_kbd) {
        note(a, "password (not offered: the server allows neither password nor keyboard-interactive)");
        return fail_message(a, err, errlen);
    }
    if (!can_pw) { a->stage = A_KBDINT; return AUTH_NEXT; }
    int r = libssh2_userauth_password_ex(s, p->user, (unsigned)strlen(p->user), a->password,
                                         (unsigned)strlen(a->password), NULL);
    if (r == LIBSSH2_ERROR_EAGAIN) return r;
    trace_request(a, "password", "one request", r);
    if (r == 0) return r;
    if (is_lost(r)) return lost_message(a, "password", err, errlen);
    note(a, "password (refused)");
    a->stage = A_KBDINT;
    return AUTH_NEXT;
}

/* keyboard-interactive, answering every prompt with the password. */
static int step_kbdint(struct auth_state *a, LIBSSH2_SESSION *s, char *err, size_t errlen)
{
    const struct ssh_params *p = a->p;
    if (!allows(a, "keyboard-interactive") || !a->password) return fail_message(a, err, errlen);
    kbdint_password = a->password;
    int r = libssh2_userauth_keyboard_interactive_ex(s, p->user, (unsigned)strlen(p->user), kbdint_respond);
    kbdint_password = NULL;
    if (r == LIBSSH2_ERROR_EAGAIN) return r;
    trace_request(a, "keyboard-interactive", "one exchange per prompt", r);
    if (r == 0) return r;
    if (is_lost(r)) return lost_message(a, "keyboard-interactive", err, errlen);
    note(a, "keyboard-interactive (refused)");
    return fail_message(a, err, errlen);
}

int auth_signed_waiting(const struct auth_state *a, LIBSSH2_SESSION *s)
{
#ifdef LIBSSH2_HAVE_CHANNEL_OPEN_AHEAD
    return (a->stage == A_KEYS || a->stage == A_AGENT) && libssh2_userauth_publickey_signed_waiting(s);
#else
    (void)a; (void)s;
    return 0;
#endif
}

void auth_follow(struct auth_state *a)
{
    if (a->follow == FOLLOW_NONE) a->follow = FOLLOW_WAITING;
}

int auth_followed_accepted(const struct auth_state *a) { return a->follow == FOLLOW_ACCEPTED; }

int auth_step(struct auth_state *a, LIBSSH2_SESSION *s, char *err, size_t errlen)
{
    if (!a) { snprintf(err, errlen, "out of memory"); return -1; }
    const struct ssh_params *p = a->p;
    if (!a->began) {
        a->began = 1;
        /* With a key to offer, offer it at once: asking for the server's methods first (auth
           "none") costs a round trip of its own. They are asked for when the keys are done. */
        if (p->nkeys > 0 || (p->agent && getenv("SSH_AUTH_SOCK")))
            a->stage = p->agent && getenv("SSH_AUTH_SOCK") ? A_AGENT : A_KEYS;
    }
    for (;;) {
        int r;
        switch (a->stage) {
        case A_LIST:     r = step_list(a, s, err, errlen); break;
        case A_AGENT:    r = step_agent(a, s, err, errlen); break;
        case A_KEYS:     r = step_keys(a, s, err, errlen); break;
        case A_PASSWORD: r = step_password(a, s, err, errlen); break;
        case A_KBDINT:   r = step_kbdint(a, s, err, errlen); break;
        default:         return fail_message(a, err, errlen);
        }
        if (r != AUTH_NEXT) return r;
    }
}
