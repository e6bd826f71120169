/* ~/.ssh/config reader for the keywords sshs uses, following OpenSSH's readconf.c:
   - keywords are case-insensitive; "Key value", "Key=value", "Key = value"; quoted arguments
     ("a b", 'a b', backslash escapes); an unquoted # starts a comment.
   - options before the first Host line apply to every host; a Host line's patterns (with *, ?,
     !negation) decide whether the lines after it apply. Patterns compare case-insensitively
     (ssh lower-cases the typed name first, so this only differs for upper-case patterns).
   - Match blocks: the criteria all, host (the HostName so far, else the typed name) and user
     (the remote user so far, else the local one), each negatable with !, all ANDed; any other
     criterion (exec, canonical, final, localuser, …) is an error naming it: sshs cannot tell
     whether the block would apply.
   - Include takes globs, relative to ~/.ssh; an Include inside a Host block applies only when
     that block does, and the including file's state resumes after it (as in ssh).
   - first value wins; IdentityFile and CertificateFile accumulate (duplicates dropped, beyond
     16 ignored); ProxyCommand and ProxyJump: whichever comes first wins.
   - a keyword that would change where or how traffic goes and that sshs does not implement
     (LocalForward, BindAddress, ForwardX11 yes, …: the table `refused`) is an error naming it
     and the file:line when it applies to the host; other keywords sshs does not use are
     ignored (they concern ssh's own terminal, logging or defaults sshs has its own of).
   - IdentityFile / CertificateFile / UserKnownHostsFile / GlobalKnownHostsFile are expanded at
     the end, once the final HostName, User and Port are known, as ssh does. */
#include "ssh_config.h"

#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_INCLUDE_DEPTH 16

/* A path value kept unexpanded until the end, with where it came from for error messages. */
struct raw {
    char *value;
    char *where; /* "path:line" */
};

struct ctx {
    char *host;       /* the typed name, lower-cased */
    char *home;       /* $HOME (or the passwd entry) */
    char *luser;      /* local user name */
    struct sshcfg *out;
    struct raw ident[SSHCFG_MAX_IDENTITIES];
    int n_ident;
    struct raw cert[SSHCFG_MAX_IDENTITIES];
    int n_cert;
    int proxy_decided; /* a ProxyCommand or ProxyJump line applied: the other is ignored */
    struct raw ukh;
    struct raw gkh[SSHCFG_MAX_GLOBAL_KH];
    int n_gkh, gkh_set;
    int strict;       /* command-line -o lines: unknown keywords and blocks are errors */
    char *err;
    size_t errlen;
};

static int fail(struct ctx *c, const char *path, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(struct ctx *c, const char *path, int line, const char *fmt, ...)
{
    va_list ap;
    int n = line > 0 ? snprintf(c->err, c->errlen, "%s:%d: ", path, line)
                     : snprintf(c->err, c->errlen, "%s: ", path);
    if (n >= 0 && (size_t)n < c->errlen) {
        va_start(ap, fmt);
        vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ---- patterns ---------------------------------------------------------------------------------- */

/* OpenSSH's match_pattern with '*' and '?', case-insensitive. */
static int wild_match(const char *p, const char *s)
{
    for (;;) {
        if (*p == '\0') return *s == '\0';
        if (*p == '*') {
            while (*p == '*') p++;
            if (*p == '\0') return 1;
            for (; *s; s++)
                if (wild_match(p, s)) return 1;
            return 0;
        }
        if (*s == '\0') return 0;
        if (*p != '?' && tolower((unsigned char)*p) != tolower((unsigned char)*s)) return 0;
        p++;
        s++;
    }
}

/* A Host line applies when one pattern matches and no negated one does. */
static int host_matches(char **pats, int n, const char *host)
{
    int positive = 0;
    for (int i = 0; i < n; i++) {
        int neg = pats[i][0] == '!';
        if (wild_match(pats[i] + neg, host)) {
            if (neg) return 0;
            positive = 1;
        }
    }
    return positive;
}

/* A comma-separated pattern list (Match host a,!b): as host_matches over its items. */
static int list_matches(const char *list, const char *s)
{
    char *copy = strdup(list), *pats[64], *save = NULL;
    int n = 0;
    if (!copy) return 0;
    for (char *p = strtok_r(copy, ",", &save); p && n < 64; p = strtok_r(NULL, ",", &save)) pats[n++] = p;
    int r = host_matches(pats, n, s);
    free(copy);
    return r;
}

/* ---- line splitting ---------------------------------------------------------------------------- */

/* Splits s in place into arguments like OpenSSH's argv_split: whitespace separates, single and
   double quotes group, a backslash escapes \ " ' and space, an unquoted # at the start of an
   argument ends the line. Returns the count, or -1 for an unterminated quote. *argv grows. */
static int split_args(char *s, char ***argv, int *cap)
{
    int n = 0;
    for (;;) {
        while (*s == ' ' || *s == '\t') s++;
        if (*s == '\0' || *s == '#') return n;
        if (n == *cap) {
            int nc = *cap ? *cap * 2 : 8;
            char **a = realloc(*argv, (size_t)nc * sizeof *a);
            if (!a) return -2;
            *argv = a;
            *cap = nc;
        }
        char *d = s, quote = 0;
        (*argv)[n++] = d;
        for (; *s; s++) {
            if (*s == '\\' && s[1] && strchr("\\\"' ", s[1])) { *d++ = *++s; continue; }
            if (quote) {
                if (*s == quote) quote = 0;
                else *d++ = *s;
            } else if (*s == '"' || *s == '\'') {
                quote = *s;
            } else if (*s == ' ' || *s == '\t') {
                break;
            } else {
                *d++ = *s;
            }
        }
        if (quote) return -1;
        if (*s) s++;
        *d = '\0';
    }
}

/* ---- values ------------------------------------------------------------------------------------ */

/* Non-negative decimal integer up to max; -1 otherwise. */
static long parse_uint(const char *s, long max)
{
    if (!isdigit((unsigned char)*s)) return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*end || errno || v > max) return -1;
    return v;
}

/* OpenSSH's convtime: "90", "1m30s", "2h" … into seconds; -1 when malformed. */
static long parse_time(const char *s)
{
    long total = 0;
    if (!*s) return -1;
    while (*s) {
        if (!isdigit((unsigned char)*s)) return -1;
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10), mult = 1;
        if (errno) return -1;
        switch (*end) {
        case '\0': break;
        case 's': case 'S': end++; break;
        case 'm': case 'M': mult = 60; end++; break;
        case 'h': case 'H': mult = 3600; end++; break;
        case 'd': case 'D': mult = 86400; end++; break;
        case 'w': case 'W': mult = 604800; end++; break;
        default: return -1;
        }
        if (v > (0x7fffffffL - total) / mult) return -1;
        total += v * mult;
        s = end;
    }
    return total;
}

struct out_str { char *s; size_t n, cap; };

static int out_add(struct out_str *o, const char *p, size_t n)
{
    if (o->n + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 64;
        while (cap < o->n + n + 1) cap *= 2;
        char *s = realloc(o->s, cap);
        if (!s) return -1;
        o->s = s;
        o->cap = cap;
    }
    memcpy(o->s + o->n, p, n);
    o->n += n;
    o->s[o->n] = '\0';
    return 0;
}

/* The value of %X for an expansion, or NULL for an unknown token. buf holds numbers. */
static const char *token_value(struct ctx *c, char t, int hostname_only, char *buf, size_t buflen)
{
    const struct sshcfg *o = c->out;
    if (t == '%') return "%";
    if (t == 'h') return hostname_only || !o->hostname ? c->host : o->hostname;
    if (hostname_only) return NULL; /* HostName knows only %h and %% */
    switch (t) {
    case 'd': return c->home;
    case 'u': return c->luser;
    case 'n': return c->host;
    case 'r': return o->user ? o->user : c->luser;
    case 'p': snprintf(buf, buflen, "%d", o->port ? o->port : 22); return buf;
    case 'i': snprintf(buf, buflen, "%lu", (unsigned long)getuid()); return buf;
    case 'l':
    case 'L':
        if (gethostname(buf, buflen) != 0) return NULL;
        buf[buflen - 1] = '\0';
        if (t == 'L') buf[strcspn(buf, ".")] = '\0';
        return buf;
    default: return NULL;
    }
}

/* Expands a leading ~ (unless hostname_only) and %-tokens of raw; the caller frees the result.
   NULL with err set on an unknown token or a lack of memory. */
static char *expand(struct ctx *c, const char *raw, const char *where, int hostname_only)
{
    struct out_str o = { 0 };
    char buf[256];
    const char *s = raw;
    if (!hostname_only && s[0] == '~' && (s[1] == '/' || s[1] == '\0')) {
        if (out_add(&o, c->home, strlen(c->home))) goto nomem;
        s++;
    }
    for (; *s; s++) {
        if (*s != '%') {
            if (out_add(&o, s, 1)) goto nomem;
            continue;
        }
        const char *v = s[1] ? token_value(c, s[1], hostname_only, buf, sizeof buf) : NULL;
        if (!v) {
            free(o.s);
            snprintf(c->err, c->errlen, "%s: unknown token %%%c in \"%s\"", where, s[1] ? s[1] : ' ', raw);
            return NULL;
        }
        if (out_add(&o, v, strlen(v))) goto nomem;
        s++;
    }
    if (!o.s && out_add(&o, "", 0)) goto nomem;
    return o.s;
nomem:
    free(o.s);
    snprintf(c->err, c->errlen, "%s: out of memory", where);
    return NULL;
}

/* ---- the reader -------------------------------------------------------------------------------- */

static int read_file(struct ctx *c, const char *path, int depth, int *active);

/* Stores a string value if the field is still unset (first value wins). */
static int set_str(char **field, const char *v)
{
    if (*field) return 0;
    return (*field = strdup(v)) ? 0 : -1;
}

/* "path:line" for messages about a value (line 0: an option given without a file line). */
static void where_of(char *buf, size_t size, const char *path, int line)
{
    if (line > 0) snprintf(buf, size, "%s:%d", path, line);
    else snprintf(buf, size, "%s", path);
}

static int set_raw(struct raw *r, const char *v, const char *path, int line)
{
    char where[4200];
    where_of(where, sizeof where, path, line);
    if (!(r->value = strdup(v)) || !(r->where = strdup(where))) {
        free(r->value);
        r->value = NULL;
        return -1;
    }
    return 0;
}

/* Include: each argument a glob, relative to ~/.ssh; each file read with the current activity. */
static int include(struct ctx *c, char **args, int n, const char *path, int line, int depth, int *active)
{
    if (depth + 1 > MAX_INCLUDE_DEPTH)
        return fail(c, path, line, "Include nested more than %d deep", MAX_INCLUDE_DEPTH);
    for (int i = 0; i < n; i++) {
        char *pat;
        int r = 0;
        if (args[i][0] == '~' && args[i][1] == '/')
            r = asprintf(&pat, "%s%s", c->home, args[i] + 1);
        else if (args[i][0] == '/')
            r = asprintf(&pat, "%s", args[i]);
        else
            r = asprintf(&pat, "%s/.ssh/%s", c->home, args[i]);
        if (r < 0) return fail(c, path, line, "out of memory");
        r = 0;
        glob_t g;
        int gr = glob(pat, 0, NULL, &g);
        free(pat);
        if (gr == GLOB_NOMATCH) continue;
        if (gr != 0) return fail(c, path, line, "Include %s: glob failed", args[i]);
        for (size_t k = 0; k < g.gl_pathc && r == 0; k++) {
            struct stat st;
            if (stat(g.gl_pathv[k], &st) != 0 || !S_ISREG(st.st_mode)) continue;
            int outer = *active;
            r = read_file(c, g.gl_pathv[k], depth + 1, active);
            *active = outer;
        }
        globfree(&g);
        if (r) return r;
    }
    return 0;
}

/* Keywords that would change where or how traffic goes, which sshs does not implement: an error
   when they apply, unless the value is one that leaves things as they are (harmless, '|'-list). */
static const struct { const char *name, *harmless, *why; } refused[] = {
    {"localforward", NULL, "use forward{} in the script"},
    {"remoteforward", NULL, "use forward{remote = …} in the script"},
    {"dynamicforward", NULL, "sshs has no SOCKS proxy"},
    {"forwardx11", "no", "sshs does not forward X11"},
    {"tunnel", "no", "sshs does not forward tun devices"},
    {"proxyusefdpass", "no", "sshs runs ProxyCommand with a socket of its own"},
    {"bindaddress", NULL, "sshs does not choose the local address"},
    {"bindinterface", NULL, "sshs does not choose the local interface"},
    {"addressfamily", "any", "sshs uses every address the name resolves to"},
    {"canonicalizehostname", "no|false", "sshs does not canonicalize host names"},
    {"knownhostscommand", "none", "sshs reads known_hosts files only"},
    {"revokedhostkeys", "none", "sshs reads @revoked lines of known_hosts only"},
    {"identityagent", "SSH_AUTH_SOCK|$SSH_AUTH_SOCK|none", "sshs uses the agent of SSH_AUTH_SOCK"},
};

static int harmless_value(const char *list, const char *v)
{
    if (!list) return 0;
    size_t n = strlen(v);
    for (const char *p = list; *p;) {
        size_t k = strcspn(p, "|");
        if (k == n && strncasecmp(p, v, n) == 0) return 1;
        p += k + (p[k] == '|');
    }
    return 0;
}

/* A Match line: 1 when its criteria hold for this host so far, 0 when not, -1 on an error. */
static int match_line(struct ctx *c, char **a, int n, const char *path, int line)
{
    if (n == 0) return fail(c, path, line, "Match needs criteria (all, host, user)");
    int result = 1;
    for (int i = 0; i < n; i++) {
        const char *crit = a[i];
        int neg = crit[0] == '!';
        crit += neg;
        int hit;
        if (strcasecmp(crit, "all") == 0) {
            if (n != 1 || neg) return fail(c, path, line, "Match all must stand alone");
            hit = 1;
        } else if (strcasecmp(crit, "host") == 0 || strcasecmp(crit, "user") == 0) {
            if (i + 1 >= n) return fail(c, path, line, "Match %s needs a pattern list", crit);
            const char *subject = strcasecmp(crit, "host") == 0
                ? (c->out->hostname ? c->out->hostname : c->host)
                : (c->out->user ? c->out->user : c->luser);
            hit = list_matches(a[++i], subject);
        } else {
            return fail(c, path, line, "Match %s is not supported by sshs (it reads Match host, "
                        "Match user and Match all)", crit);
        }
        if (hit == neg) result = 0;
    }
    return result;
}

/* One line "Keyword args…" of path. 0, or -1 with the error set. */
/* The options sshs uses, by keyword. */
enum option { K_NONE, K_HOSTNAME, K_USER, K_PORT, K_IDENTITY, K_PROXYJUMP, K_CONNECT_TIMEOUT,
       K_ALIVE_INTERVAL, K_ALIVE_COUNT, K_STRICT, K_UKH, K_GKH, K_CIPHERS, K_MACS, K_KEX,
       K_CERT, K_HASH_KH, K_FORWARD_AGENT, K_HOSTKEY_ALIAS, K_IDENTITY_AGENT, K_ATTEMPTS };
static const struct { const char *name; enum option key; } options[] = {
    { "hostname", K_HOSTNAME }, { "user", K_USER }, { "port", K_PORT },
    { "identityfile", K_IDENTITY }, { "proxyjump", K_PROXYJUMP },
    { "connecttimeout", K_CONNECT_TIMEOUT }, { "serveraliveinterval", K_ALIVE_INTERVAL },
    { "serveralivecountmax", K_ALIVE_COUNT }, { "stricthostkeychecking", K_STRICT },
    { "userknownhostsfile", K_UKH }, { "globalknownhostsfile", K_GKH },
    { "ciphers", K_CIPHERS }, { "macs", K_MACS },
    { "kexalgorithms", K_KEX }, { "certificatefile", K_CERT }, { "hashknownhosts", K_HASH_KH },
    { "forwardagent", K_FORWARD_AGENT }, { "hostkeyalias", K_HOSTKEY_ALIAS },
    { "identityagent", K_IDENTITY_AGENT }, { "connectionattempts", K_ATTEMPTS },
};

/* One option line of an active block, its arguments split: first value wins, as in ssh. */
static int apply_option(struct ctx *c, enum option k, const char *kw, char **a, int n, const char *path,
                        int line)
{
    struct sshcfg *o = c->out;
    const char *v = a[0];
    long num;
    switch (k) {
    case K_HOSTNAME:
        if (!o->hostname) {
            char where[4200];
            where_of(where, sizeof where, path, line);
            if (!(o->hostname = expand(c, v, where, 1))) return -1;
        }
        break;
    case K_USER:
        if (set_str(&o->user, v)) return fail(c, path, line, "out of memory");
        break;
    case K_PROXYJUMP:
        if (c->proxy_decided) break;
        c->proxy_decided = 1;
        if (set_str(&o->proxyjump, v)) return fail(c, path, line, "out of memory");
        break;
    case K_HOSTKEY_ALIAS:
        if (set_str(&o->host_key_alias, v)) return fail(c, path, line, "out of memory");
        break;
    case K_IDENTITY_AGENT:       /* only the harmless values get here (see refused) */
        if (set_str(&o->identity_agent, strcasecmp(v, "none") == 0 ? "none" : "SSH_AUTH_SOCK"))
            return fail(c, path, line, "out of memory");
        break;
    case K_HASH_KH:
    case K_FORWARD_AGENT: {
        int yes = strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0;
        if (!yes && strcasecmp(v, "no") != 0 && strcasecmp(v, "false") != 0)
            return fail(c, path, line, "bad %s \"%s\" (yes or no)", kw, v);
        if (k == K_FORWARD_AGENT && !o->forward_agent) {   /* where: for the 1.10 build's error */
            char where[4200];
            where_of(where, sizeof where, path, line);
            if (!(o->forward_agent_where = strdup(where))) return fail(c, path, line, "out of memory");
        }
        if (set_str(k == K_HASH_KH ? &o->hash_known_hosts : &o->forward_agent, yes ? "yes" : "no"))
            return fail(c, path, line, "out of memory");
        break;
    }
    case K_ATTEMPTS:
        if ((num = parse_uint(v, 1000)) <= 0) return fail(c, path, line, "bad ConnectionAttempts \"%s\" (1 to 1000)", v);
        if (!o->connection_attempts) o->connection_attempts = (int)num;
        break;
    case K_CIPHERS:
    case K_MACS:
    case K_KEX:
        /* OpenSSH's "+list" (append), "-list" (remove), "^list" (put first) edit its defaults:
           sshs keeps its own order then. */
        if (strchr("+-^", v[0])) break;
        if (set_str(k == K_CIPHERS ? &o->ciphers : k == K_MACS ? &o->macs : &o->kex_algorithms, v))
            return fail(c, path, line, "out of memory");
        break;
    case K_PORT:
        if ((num = parse_uint(v, 65535)) <= 0) return fail(c, path, line, "bad port \"%s\"", v);
        if (!o->port) o->port = (int)num;
        break;
    case K_CONNECT_TIMEOUT:
    case K_ALIVE_INTERVAL:
        if ((num = parse_time(v)) < 0) return fail(c, path, line, "bad time value \"%s\" for %s", v, kw);
        if (k == K_CONNECT_TIMEOUT && !o->connect_timeout) o->connect_timeout = (int)num;
        if (k == K_ALIVE_INTERVAL && !o->server_alive_interval) o->server_alive_interval = (int)num;
        break;
    case K_ALIVE_COUNT:
        if ((num = parse_uint(v, 0x7fffffff)) < 0) return fail(c, path, line, "bad number \"%s\" for %s", v, kw);
        if (!o->server_alive_count_max) o->server_alive_count_max = (int)num;
        break;
    case K_STRICT: {
        static const char *ok[] = { "yes", "no", "ask", "accept-new", "off", "true", "false" };
        size_t i;
        for (i = 0; i < sizeof ok / sizeof *ok; i++)
            if (strcasecmp(v, ok[i]) == 0) break;
        if (i == sizeof ok / sizeof *ok) return fail(c, path, line, "bad StrictHostKeyChecking \"%s\"", v);
        if (set_str(&o->strict_host_key_checking, ok[i])) return fail(c, path, line, "out of memory");
        break;
    }
    case K_UKH:
        if (!c->ukh.value && set_raw(&c->ukh, v, path, line)) return fail(c, path, line, "out of memory");
        break;
    case K_GKH:
        if (c->gkh_set) break;
        c->gkh_set = 1;
        if (n == 1 && strcmp(v, "none") == 0) break;
        if (n > SSHCFG_MAX_GLOBAL_KH) return fail(c, path, line, "more than %d files for %s", SSHCFG_MAX_GLOBAL_KH, kw);
        for (int i = 0; i < n; i++, c->n_gkh++)
            if (set_raw(&c->gkh[i], a[i], path, line)) return fail(c, path, line, "out of memory");
        break;
    case K_IDENTITY:
        if (c->n_ident < SSHCFG_MAX_IDENTITIES) {
            if (set_raw(&c->ident[c->n_ident], v, path, line)) return fail(c, path, line, "out of memory");
            c->n_ident++;
        }
        break;
    case K_CERT:
        if (c->n_cert < SSHCFG_MAX_IDENTITIES) {
            if (set_raw(&c->cert[c->n_cert], v, path, line)) return fail(c, path, line, "out of memory");
            c->n_cert++;
        }
        break;
    case K_NONE:
        break;
    }
    return 0;
}

static int process_line(struct ctx *c, char *s, const char *path, int line, int depth, int *active,
                        char ***argv, int *argcap)
{
    struct sshcfg *o = c->out;
    while (*s == ' ' || *s == '\t') s++;
    if (*s == '\0' || *s == '#') return 0;
    /* The keyword ends at whitespace or '='; one '=' may separate it from the value. */
    char *kw = s;
    while (*s && *s != ' ' && *s != '\t' && *s != '=') s++;
    char *kwend = s;
    while (*s == ' ' || *s == '\t') s++;
    if (*s == '=') s++;
    while (*s == ' ' || *s == '\t') s++;
    *kwend = '\0';

    int is_host = strcasecmp(kw, "host") == 0, is_match = strcasecmp(kw, "match") == 0;
    if (!is_host && !is_match && !*active) return 0;
    /* ProxyCommand is the rest of the line, as written (ssh passes it to a shell). */
    if (strcasecmp(kw, "proxycommand") == 0) {
        size_t len = strlen(s);
        while (len && (s[len - 1] == ' ' || s[len - 1] == '\t')) len--;
        if (len == 0) return fail(c, path, line, "ProxyCommand needs an argument");
        if (c->proxy_decided) return 0;
        c->proxy_decided = 1;
        char where[4200];
        where_of(where, sizeof where, path, line);
        if (!(o->proxy_command = strndup(s, len)) || !(o->proxy_command_where = strdup(where)))
            return fail(c, path, line, "out of memory");
        return 0;
    }
    int n = split_args(s, argv, argcap);
    if (n == -2) return fail(c, path, line, "out of memory");
    if (n < 0) return fail(c, path, line, "unterminated quote");
    char **a = *argv;

    if (c->strict && (is_host || is_match || strcasecmp(kw, "include") == 0))
        return fail(c, path, line, "%s is not allowed here", kw);
    if (is_host) { *active = host_matches(a, n, c->host); return 0; }
    if (is_match) {
        int m = match_line(c, a, n, path, line);
        if (m < 0) return -1;
        *active = m;
        return 0;
    }
    if (strcasecmp(kw, "include") == 0) {
        if (n == 0) return fail(c, path, line, "Include needs an argument");
        return include(c, a, n, path, line, depth, active);
    }
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        if (strcasecmp(kw, refused[i].name) != 0) continue;
        if (n >= 1 && harmless_value(refused[i].harmless, a[0])) break;
        return fail(c, path, line, "%s%s%s is not supported by sshs, which would ignore it and connect "
                    "another way (%s)", kw, n ? " " : "", n ? a[0] : "", refused[i].why);
    }

    enum option k = K_NONE;
    for (size_t i = 0; i < sizeof options / sizeof *options; i++)
        if (strcasecmp(kw, options[i].name) == 0) k = options[i].key;
    if (k == K_NONE) {                         /* a keyword sshs does not use */
        if (!c->strict) return 0;
        return fail(c, path, line, "sshs does not use the option '%s' (it knows HostName, User, Port, "
                    "IdentityFile, CertificateFile, ProxyJump, ProxyCommand, ConnectTimeout, "
                    "ConnectionAttempts, ServerAliveInterval, ServerAliveCountMax, StrictHostKeyChecking, "
                    "UserKnownHostsFile, GlobalKnownHostsFile, HashKnownHosts, HostKeyAlias, "
                    "ForwardAgent, IdentityAgent, Ciphers, MACs, KexAlgorithms)", kw);
    }
    if (n == 0) return fail(c, path, line, "%s needs an argument", kw);
    /* UserKnownHostsFile may list several files: sshs uses the first; GlobalKnownHostsFile: all. */
    if (n > 1 && k != K_UKH && k != K_GKH) return fail(c, path, line, "garbage at end of line after %s %s", kw, a[0]);

    return apply_option(c, k, kw, a, n, path, line);
}

/* Reads one file; a missing one is fine. *active is the state of the current Host block. */
static int read_file(struct ctx *c, const char *path, int depth, int *active)
{
    int r = 0, line = 0;
    char *buf = NULL, **argv = NULL;
    size_t cap = 0;
    int argcap = 0;
    FILE *f = fopen(path, "r");
    if (!f) return errno == ENOENT ? 0 : fail(c, path, 0, "%s", strerror(errno));
    ssize_t got;
    errno = 0;
    while ((got = getline(&buf, &cap, f)) >= 0) {
        line++;
        while (got > 0 && (buf[got - 1] == '\n' || buf[got - 1] == '\r')) buf[--got] = '\0';
        if ((r = process_line(c, buf, path, line, depth, active, &argv, &argcap)) != 0) goto out;
    }
    if (ferror(f)) r = fail(c, path, 0, "%s", strerror(errno ? errno : EIO));
out:
    free(argv);
    free(buf);
    fclose(f);
    return r;
}

/* Expands the path values once every other field is final. */
static int finish(struct ctx *c)
{
    struct sshcfg *o = c->out;
    for (int i = 0; i < c->n_ident; i++) {
        char *e = expand(c, c->ident[i].value, c->ident[i].where, 0);
        if (!e) return -1;
        int dup = 0;
        for (int k = 0; k < o->n_identity_files; k++)
            if (strcmp(o->identity_files[k], e) == 0) dup = 1;
        if (dup) { free(e); continue; }
        o->identity_files[o->n_identity_files++] = e;
    }
    for (int i = 0; i < c->n_cert; i++) {
        char *e = expand(c, c->cert[i].value, c->cert[i].where, 0);
        if (!e) return -1;
        o->certificate_files[o->n_certificate_files++] = e;
    }
    if (c->ukh.value && !(o->user_known_hosts_file = expand(c, c->ukh.value, c->ukh.where, 0)))
        return -1;
    o->global_kh_set = c->gkh_set;
    for (; o->n_global_kh < c->n_gkh; o->n_global_kh++)
        if (!(o->global_kh[o->n_global_kh] = expand(c, c->gkh[o->n_global_kh].value, c->gkh[o->n_global_kh].where, 0)))
            return -1;
    return 0;
}

/* Home from $HOME, else the passwd entry; the local user from the passwd entry, else $USER. */
static int who_am_i(struct ctx *c)
{
    struct passwd pw, *res = NULL;
    char buf[4096];
    getpwuid_r(getuid(), &pw, buf, sizeof buf, &res);
    const char *home = getenv("HOME");
    if (!home || !*home) home = res ? res->pw_dir : "/";
    const char *user = res ? res->pw_name : getenv("USER");
    if (!user) user = "";
    c->home = strdup(home);
    c->luser = strdup(user);
    return c->home && c->luser ? 0 : -1;
}

/* The -o lines, before any file: first value wins, so they win over the file. */
static int read_extra(struct ctx *c, const char *const *extra, int nextra)
{
    int r = 0, active = 1, argcap = 0;
    char **argv = NULL;
    c->strict = 1;
    for (int i = 0; i < nextra && r == 0; i++) {
        char *line = strdup(extra[i]);
        char where[300];
        snprintf(where, sizeof where, "-o '%.200s'", extra[i]);
        if (!line) r = fail(c, where, 0, "out of memory");
        else if (!strchr(line, '=') && !strpbrk(line, " \t"))
            r = fail(c, where, 0, "expected Keyword=value");
        else r = process_line(c, line, where, 0, 0, &active, &argv, &argcap);
        free(line);
    }
    c->strict = 0;
    free(argv);
    return r;
}

int sshcfg_lookup(const char *path, const char *host, struct sshcfg *out, char *err, size_t errlen)
{
    return sshcfg_lookup_with(path, host, NULL, 0, out, err, errlen);
}

int sshcfg_lookup_with(const char *path, const char *host, const char *const *extra, int nextra,
                       struct sshcfg *out, char *err, size_t errlen)
{
    return sshcfg_lookup_as(path, host, NULL, extra, nextra, out, err, errlen);
}

int sshcfg_lookup_as(const char *path, const char *host, const char *user, const char *const *extra,
                     int nextra, struct sshcfg *out, char *err, size_t errlen)
{
    int r = -1, active = 1; /* lines before the first Host apply to every host */
    struct ctx c = { .out = out, .err = err, .errlen = errlen };
    char dummy[1];
    if (!err || !errlen) { c.err = dummy; c.errlen = sizeof dummy; }
    c.err[0] = '\0';
    memset(out, 0, sizeof *out);
    if (!(c.host = strdup(host)) || who_am_i(&c) != 0) {
        fail(&c, path, 0, "out of memory");
        goto out;
    }
    for (char *s = c.host; *s; s++) *s = (char)tolower((unsigned char)*s);
    if (user && *user && !(out->user = strdup(user))) { fail(&c, path, 0, "out of memory"); goto out; }
    if (read_extra(&c, extra, nextra) != 0) goto out;
    if ((path && read_file(&c, path, 0, &active) != 0) || finish(&c) != 0) goto out;
    r = 0;
out:
    if (r) sshcfg_free(out);
    for (int i = 0; i < c.n_ident; i++) { free(c.ident[i].value); free(c.ident[i].where); }
    for (int i = 0; i < c.n_cert; i++) { free(c.cert[i].value); free(c.cert[i].where); }
    free(c.ukh.value);
    free(c.ukh.where);
    for (int i = 0; i < c.n_gkh; i++) { free(c.gkh[i].value); free(c.gkh[i].where); }
    free(c.host);
    free(c.home);
    free(c.luser);
    return r;
}

void sshcfg_free(struct sshcfg *c)
{
    free(c->hostname);
    free(c->user);
    free(c->proxyjump);
    free(c->strict_host_key_checking);
    free(c->user_known_hosts_file);
    free(c->ciphers);
    free(c->macs);
    free(c->kex_algorithms);
    for (int i = 0; i < c->n_identity_files; i++) free(c->identity_files[i]);
    for (int i = 0; i < c->n_global_kh; i++) free(c->global_kh[i]);
    for (int i = 0; i < c->n_certificate_files; i++) free(c->certificate_files[i]);
    free(c->proxy_command);
    free(c->proxy_command_where);
    free(c->hash_known_hosts);
    free(c->forward_agent);
    free(c->forward_agent_where);
    free(c->host_key_alias);
    free(c->identity_agent);
    memset(c, 0, sizeof *c);
}
