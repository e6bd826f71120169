/* Unit tests for interp/ssh_knownhosts.c: a temporary known_hosts with every kind of line, keys made by
   ssh-keygen, hashed entries made by ssh-keygen -H, and cross-checks against ssh-keygen -l / -F. */
#include "ssh_knownhosts.h"
#include "check.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

static char tmpdir[] = "/tmp/kh_test.XXXXXX";


struct key {
    char type[64];
    char b64[4096];
    unsigned char blob[4096];
    size_t len;
};

/* Runs a shell command; 0 on success. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

/* Makes a key pair with ssh-keygen and loads the public half. */
static int make_key(const char *name, const char *args, struct key *k)
{
    char pub[512];
    if (sh("ssh-keygen -q %s -N '' -C test -f %s/%s </dev/null >/dev/null", args, tmpdir, name) != 0)
        return -1;
    snprintf(pub, sizeof pub, "%s/%s.pub", tmpdir, name);
    FILE *f = fopen(pub, "r");
    if (!f) return -1;
    int n = fscanf(f, "%63s %4095s", k->type, k->b64);
    fclose(f);
    if (n != 2) return -1;
    size_t len = strlen(k->b64);
    int dec = EVP_DecodeBlock(k->blob, (unsigned char *)k->b64, (int)len);
    if (dec < 0) return -1;
    /* EVP_DecodeBlock counts the padding as zero bytes. */
    while (len > 0 && k->b64[len - 1] == '=') { len--; dec--; }
    k->len = (size_t)dec;
    return 0;
}

/* Output of a shell command, first line, without the newline. */
static void sh_out(char *out, size_t n, const char *cmd)
{
    out[0] = '\0';
    FILE *p = popen(cmd, "r");
    if (!p) return;
    if (!fgets(out, (int)n, p)) out[0] = '\0';
    pclose(p);
    out[strcspn(out, "\n")] = '\0';
}

static const char *status_name(int s)
{
    switch (s) {
    case KH_MATCH: return "MATCH";
    case KH_NOTFOUND: return "NOTFOUND";
    case KH_MISMATCH: return "MISMATCH";
    case KH_REVOKED: return "REVOKED";
    default: return s < 0 ? strerror(-s) : "?";
    }
}

static void expect(const char *path, const char *host, int port, const struct key *k, int want,
                   int want_line, const char *desc)
{
    int line = -1;
    int got = kh_check(path, host, port, k->type, k->blob, k->len, &line);
    int ok = got == want && (want_line <= 0 || line == want_line);
    check(ok, desc, "host %s port %d: got %s (line %d), want %s (line %d)", host, port,
          status_name(got), line, status_name(want), want_line);
}

int main(void)
{
    plan(58);
    struct key a, b, c, r, rsa;
    char path[256], line[8192];
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    if (make_key("a", "-t ed25519", &a) || make_key("b", "-t ed25519", &b) ||
        make_key("c", "-t ecdsa -b 256", &c) || make_key("r", "-t ed25519", &r) ||
        make_key("rsa", "-t rsa -b 1024", &rsa)) {
        check(0, "ssh-keygen makes test keys", "ssh-keygen failed");
        goto out;
    }

    /* Hashed entries, hashed by OpenSSH itself. */
    snprintf(path, sizeof path, "%s/hashed", tmpdir);
    FILE *f = fopen(path, "w");
    fprintf(f, "hashedhost %s %s\n[hashedport]:2200 %s %s\n", a.type, a.b64, a.type, a.b64);
    fclose(f);
    int hashed_ok = sh("ssh-keygen -q -H -f %s >/dev/null 2>&1", path) == 0;
    char hashed[2][1024] = { "", "" };
    f = fopen(path, "r");
    for (int i = 0; f && i < 2 && fgets(hashed[i], sizeof hashed[i], f); i++) {}
    if (f) fclose(f);
    check(hashed_ok && strncmp(hashed[0], "|1|", 3) == 0 && strncmp(hashed[1], "|1|", 3) == 0,
          "ssh-keygen -H hashes the test entries", "got: %s", hashed[0]);

    snprintf(path, sizeof path, "%s/known_hosts", tmpdir);
    f = fopen(path, "w");
    /* Line numbers matter below: keep this list in order. */
    fprintf(f, "# a comment\n");                                               /* 1 */
    fprintf(f, "\n");                                                          /* 2 */
    fprintf(f, "garbage-without-fields\n");                                    /* 3 */
    fprintf(f, "plainhost %s !!!not-base64!!!\n", a.type);                     /* 4 */
    fprintf(f, "plainhost %s %s comment here\n", a.type, a.b64);               /* 5 */
    fprintf(f, "[porthost]:2222 %s %s\n", a.type, a.b64);                      /* 6 */
    fprintf(f, "%s", hashed[0]);                                               /* 7 */
    fprintf(f, "%s", hashed[1]);                                               /* 8 */
    fprintf(f, "*.wild.example %s %s\n", a.type, a.b64);                       /* 9 */
    fprintf(f, "*.neg.example,!bad.neg.example %s %s\n", a.type, a.b64);       /* 10 */
    fprintf(f, "ho?t %s %s\n", a.type, a.b64);                                 /* 11 */
    fprintf(f, "changed %s %s\n", b.type, b.b64);                              /* 12 */
    fprintf(f, "changed %s %s\n", c.type, c.b64);                              /* 13 */
    fprintf(f, "ecdsahost %s %s\n", c.type, c.b64);                            /* 14 */
    fprintf(f, "@cert-authority certonly %s %s\n", a.type, a.b64);             /* 15 */
    fprintf(f, "multi %s %s\n", b.type, b.b64);                                /* 16 */
    fprintf(f, "  multi,other %s %s\r\n", a.type, a.b64);                      /* 17 */
    fprintf(f, "MixedCase %s %s\n", a.type, a.b64);                            /* 18 */
    fprintf(f, "plainhost %s %s\n", r.type, r.b64);                            /* 19 */
    fprintf(f, "@revoked * %s %s\n", r.type, r.b64);                           /* 20 */
    fprintf(f, "rsahost %s %s\n", rsa.type, rsa.b64);                          /* 21 */
    fprintf(f, "@unknown-marker plain2 %s %s\n", a.type, a.b64);               /* 22 */
    fprintf(f, "10.1.2.3,[10.1.2.3]:2022 %s %s\n", a.type, a.b64);             /* 23 */
    fclose(f);

    expect(path, "plainhost", 22, &a, KH_MATCH, 5, "plain entry after malformed lines matches");
    expect(path, "plainhost", 0, &a, KH_MATCH, 5, "port 0 means 22");
    expect(path, "plainhost", 2222, &a, KH_NOTFOUND, 0, "a bare name matches only port 22");
    expect(path, "porthost", 2222, &a, KH_MATCH, 6, "[host]:port entry matches");
    expect(path, "porthost", 22, &a, KH_NOTFOUND, 0, "[host]:port entry is not port 22");
    expect(path, "porthost", 2223, &a, KH_NOTFOUND, 0, "[host]:port entry is not another port");
    expect(path, "hashedhost", 22, &a, KH_MATCH, 7, "hashed entry matches");
    expect(path, "hashedport", 2200, &a, KH_MATCH, 8, "hashed [host]:port entry matches");
    expect(path, "hashedhost", 2200, &a, KH_NOTFOUND, 0, "hashed entry is for port 22 only");
    expect(path, "hashedport", 22, &a, KH_NOTFOUND, 0, "hashed [host]:port entry is not port 22");
    expect(path, "hashedhost", 22, &b, KH_MISMATCH, 7, "hashed entry with another key is a mismatch");
    expect(path, "x.wild.example", 22, &a, KH_MATCH, 9, "* wildcard matches");
    expect(path, "a.b.wild.example", 22, &a, KH_MATCH, 9, "* wildcard spans dots");
    expect(path, "wild.example", 22, &a, KH_NOTFOUND, 0, "* wildcard needs its literal part");
    expect(path, "good.neg.example", 22, &a, KH_MATCH, 10, "pattern list with negation matches others");
    expect(path, "bad.neg.example", 22, &a, KH_NOTFOUND, 0, "negated pattern excludes the host");
    expect(path, "host", 22, &a, KH_MATCH, 11, "? wildcard matches one character");
    expect(path, "hoost", 22, &a, KH_NOTFOUND, 0, "? wildcard matches exactly one character");
    expect(path, "changed", 22, &a, KH_MISMATCH, 12, "same key type, other key: mismatch with its line");
    expect(path, "ecdsahost", 22, &a, KH_NOTFOUND, 0, "entry of another key type is not a mismatch");
    expect(path, "ecdsahost", 22, &c, KH_MATCH, 14, "ecdsa entry matches");
    expect(path, "changed", 22, &c, KH_MATCH, 13, "second key type for a host matches");
    expect(path, "certonly", 22, &a, KH_NOTFOUND, 0, "@cert-authority lines are skipped");
    expect(path, "plain2", 22, &a, KH_NOTFOUND, 0, "unknown markers are skipped");
    expect(path, "multi", 22, &a, KH_MATCH, 17, "later entry matches after a different key (CRLF, indent)");
    expect(path, "other", 22, &a, KH_MATCH, 17, "second name in a list matches");
    expect(path, "mixedcase", 22, &a, KH_MATCH, 18, "host names compare case-insensitively");
    expect(path, "MIXEDCASE", 22, &a, KH_MATCH, 18, "looked-up name is lower-cased");
    expect(path, "plainhost", 22, &r, KH_REVOKED, 20, "@revoked wins over a plain entry with that key");
    expect(path, "anyhost", 22, &r, KH_REVOKED, 20, "@revoked * covers every host");
    expect(path, "unknown", 22, &a, KH_NOTFOUND, 0, "unknown host is not found");
    expect(path, "10.1.2.3", 2022, &a, KH_MATCH, 23, "IP address [addr]:port matches");
    expect(path, "rsahost", 22, &rsa, KH_MATCH, 21, "ssh-rsa entry matches");
    {
        int rsa_line = -1;
        int got = kh_check(path, "rsahost", 22, "rsa-sha2-512", rsa.blob, rsa.len, &rsa_line);
        check(got == KH_MATCH && rsa_line == 21, "rsa-sha2-512 names the ssh-rsa key type", "got %s",
              status_name(got));
        got = kh_check(path, "plainhost", 22, a.type, a.blob, a.len, NULL);
        check(got == KH_MATCH, "line_out may be NULL", "got %s", status_name(got));
    }

    /* Missing and unreadable files. */
    {
        char missing[300];
        snprintf(missing, sizeof missing, "%s/no/such/file", tmpdir);
        int got = kh_check(missing, "plainhost", 22, a.type, a.blob, a.len, NULL);
        check(got == KH_NOTFOUND, "missing file is NOTFOUND", "got %s", status_name(got));
        got = kh_check(tmpdir, "plainhost", 22, a.type, a.blob, a.len, NULL);
        check(got < 0, "unreadable file (a folder) is -errno", "got %d", got);
    }

    /* Fingerprint against ssh-keygen -l. */
    {
        char fp[KH_FP_LEN], want[256], cmd[512];
        struct key *keys[] = { &a, &c, &rsa };
        const char *names[] = { "a", "c", "rsa" };
        for (int i = 0; i < 3; i++) {
            kh_fingerprint(keys[i]->blob, keys[i]->len, fp);
            snprintf(cmd, sizeof cmd, "ssh-keygen -E sha256 -lf %s/%s.pub | cut -d' ' -f2", tmpdir, names[i]);
            sh_out(want, sizeof want, cmd);
            char desc[128];
            snprintf(desc, sizeof desc, "fingerprint of %s equals ssh-keygen -lf", keys[i]->type);
            check(strcmp(fp, want) == 0 && want[0], desc, "got %s want %s", fp, want);
        }
    }

    /* kh_append: creates folders and file, writes a line OpenSSH reads. */
    {
        char newpath[300], cmd[700], out[1024], want[8192];
        struct stat st;
        snprintf(newpath, sizeof newpath, "%s/new/sub/known_hosts", tmpdir);
        int r1 = kh_append(newpath, "NewHost", 2222, a.type, a.blob, a.len);
        check(r1 == 0, "kh_append creates folders and the file", "returned %d", r1);
        check(stat(newpath, &st) == 0 && (st.st_mode & 0777) == 0600, "appended file has mode 0600",
              "mode %o", (unsigned)st.st_mode & 0777);
        snprintf(cmd, sizeof cmd, "%s/new/sub", tmpdir);
        check(stat(cmd, &st) == 0 && (st.st_mode & 0777) == 0700, "created folder has mode 0700",
              "mode %o", (unsigned)st.st_mode & 0777);
        f = fopen(newpath, "r");
        line[0] = '\0';
        if (f) { if (!fgets(line, sizeof line, f)) line[0] = '\0'; fclose(f); }
        snprintf(want, sizeof want, "[newhost]:2222 %s %s\n", a.type, a.b64);
        check(strcmp(line, want) == 0, "appended line is \"[host]:port type base64\"", "got %s", line);
        expect(newpath, "newhost", 2222, &a, KH_MATCH, 1, "kh_check finds the appended entry");
        snprintf(cmd, sizeof cmd, "ssh-keygen -F '[newhost]:2222' -f %s | grep -c -v '^#'", newpath);
        sh_out(out, sizeof out, cmd);
        check(strcmp(out, "1") == 0, "ssh-keygen -F finds the appended entry", "got %s", out);

        /* A file whose last line lacks its newline. */
        f = fopen(newpath, "a");
        fprintf(f, "nolf %s %s", b.type, b.b64);
        fclose(f);
        r1 = kh_append(newpath, "plain22", 22, b.type, b.blob, b.len);
        check(r1 == 0, "kh_append after a line without newline", "returned %d", r1);
        expect(newpath, "nolf", 22, &b, KH_MATCH, 2, "the unterminated line stays intact");
        expect(newpath, "plain22", 22, &b, KH_MATCH, 3, "port 22 is written as a bare name");
        expect(newpath, "newhost", 2222, &a, KH_MATCH, 1, "earlier entries are kept");

        r1 = kh_append(newpath, "bad host", 22, b.type, b.blob, b.len);
        check(r1 == -EINVAL, "kh_append refuses a name with a space", "returned %d", r1);
        r1 = kh_append(newpath, "rsa2", 22, "rsa-sha2-256", rsa.blob, rsa.len);
        snprintf(cmd, sizeof cmd, "grep '^rsa2 ssh-rsa ' %s | wc -l", newpath);
        sh_out(out, sizeof out, cmd);
        check(r1 == 0 && strcmp(out, "1") == 0, "kh_append writes rsa-sha2-* keys as ssh-rsa", "got %s", out);

        /* HashKnownHosts: the name hashed, found by us and by ssh-keygen -F, two salts differ. */
        snprintf(newpath, sizeof newpath, "%s/hashed_known_hosts", tmpdir);
        r1 = kh_append_as(newpath, "Hashed.Example", 2200, a.type, a.blob, a.len, 1);
        int r2 = kh_append_as(newpath, "other", 22, b.type, b.blob, b.len, 1);
        snprintf(cmd, sizeof cmd, "grep -c '^|1|[A-Za-z0-9+/=]*|[A-Za-z0-9+/=]* ' %s", newpath);
        sh_out(out, sizeof out, cmd);
        check(r1 == 0 && r2 == 0 && strcmp(out, "2") == 0, "kh_append_as(hashed) writes |1|salt|hash lines", "got %s", out);
        snprintf(cmd, sizeof cmd, "grep -c -i 'hashed.example\\|other' %s", newpath);
        sh_out(out, sizeof out, cmd);
        check(strcmp(out, "0") == 0, "... the names are not in the file", "got %s", out);
        expect(newpath, "hashed.example", 2200, &a, KH_MATCH, 1, "kh_check finds a hashed entry");
        expect(newpath, "other", 22, &b, KH_MATCH, 2, "... with port 22 too");
        snprintf(cmd, sizeof cmd, "ssh-keygen -F '[hashed.example]:2200' -f %s | grep -c -v '^#'", newpath);
        sh_out(out, sizeof out, cmd);
        check(strcmp(out, "1") == 0, "ssh-keygen -F finds the hashed entry", "got %s", out);
    }

out:
    sh("rm -rf %s", tmpdir);
    return failures ? 1 : 0;
}
