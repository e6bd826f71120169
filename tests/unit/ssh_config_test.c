/* Unit tests for interp/ssh_config.c: a temporary $HOME with a config covering each rule, plus a
   cross-check of HostName/User/Port against OpenSSH's own `ssh -G`. */
#include "ssh_config.h"
#include "check.h"

#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char home[] = "/tmp/sshcfg_test.XXXXXX";


static int streq(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

#define S(x) ((x) ? (x) : "(null)")

static void check_str(const char *got, const char *want, const char *desc)
{
    check(streq(got, want), desc, "got \"%s\", want \"%s\"", S(got), S(want));
}

static void check_int(int got, int want, const char *desc)
{
    check(got == want, desc, "got %d, want %d", got, want);
}

static void write_file(const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", home, rel);
    FILE *f = fopen(path, "w");
    if (!f) { perror(path); exit(1); }
    fputs(text, f);
    fclose(f);
}

/* Looks host up in config file rel (under $HOME), expecting success. */
static int lookup(const char *rel, const char *host, struct sshcfg *c)
{
    char path[512], err[512] = "";
    snprintf(path, sizeof path, "%s/%s", home, rel);
    int r = sshcfg_lookup(path, host, c, err, sizeof err);
    char desc[256];
    snprintf(desc, sizeof desc, "lookup of %s succeeds", host);
    check(r == 0, desc, "returned %d: %s", r, err);
    return r;
}

/* Expects lookup of host in a config with text to fail with err containing want. */
static void expect_error(const char *text, const char *host, const char *want, const char *desc)
{
    char path[512], err[512] = "";
    struct sshcfg c;
    write_file("bad_config", text);
    snprintf(path, sizeof path, "%s/bad_config", home);
    int r = sshcfg_lookup(path, host, &c, err, sizeof err);
    check(r == -1 && strstr(err, want) != NULL, desc, "returned %d, err \"%s\", want \"%s\"", r, err, want);
    sshcfg_free(&c);
}

static const char *CONFIG =
    "# options before any Host apply everywhere\n"
    "ConnectTimeout 7\n"
    "Compression yes\n"
    "\n"
    "Host alias\n"
    "  HostName real.%h.example\n"
    "  User alice\n"
    "  Port 2222\n"
    "  IdentityFile ~/.ssh/id_alias\n"
    "  IdentityFile %d/keys/%h-%u-%r-%p-%n\n"
    "  ProxyJump jump1,jump2:2200\n"
    "\n"
    "Host *.corp !secret.corp\n"
    "  User corpuser\n"
    "  ServerAliveInterval=30\n"
    "  ServerAliveCountMax = 5\n"
    "  StrictHostKeyChecking Accept-New\n"
    "  Port=2022\n"
    "\n"
    "Host other al?as   # a comment after patterns\n"
    "  User bob\n"
    "  Port 3333\n"
    "  IdentityFile ~/.ssh/id_second\n"
    "  IdentityFile ~/.ssh/id_alias\n"
    "  UserKnownHostsFile \"~/my known hosts\" /second/file\n"
    "\n"
    "Match host matchonly\n"
    "  User matched\n"
    "  Port 2345\n"
    "\n"
    "Host quoted\n"
    "  HostName = \"q host\"\n"
    "  User='x y'\n"
    "  IDENTITYFILE \"%%literal\"\n"
    "  userknownhostsfile=/k\\ h\n"
    "\n"
    "Host nomatch\n"
    "  Include never.inc\n"
    "\n"
    "Host inc*\n"
    "  Include conf.d/*.conf\n"
    "  User after-include\n"
    "\n"
    "Host *\n"
    "  User fallback\n"
    "  IdentityFile ~/.ssh/id_default\n"
    "  ServerAliveInterval 1m30s\n";

int main(void)
{
    plan(111);
    struct sshcfg c;
    char want[1024], err[512];
    if (!mkdtemp(home)) { perror("mkdtemp"); return 1; }
    setenv("HOME", home, 1);
    snprintf(want, sizeof want, "%s/.ssh", home);
    mkdir(want, 0700);
    snprintf(want, sizeof want, "%s/.ssh/conf.d", home);
    mkdir(want, 0700);

    write_file(".ssh/config", CONFIG);
    write_file(".ssh/conf.d/a.conf", "Host inc1\n  HostName included.example\n  Port 4444\n");
    write_file(".ssh/conf.d/b.conf", "Port 5555\n");  /* no Host line: continues the includer's block */
    write_file(".ssh/never.inc", "User shouldnot\nPort 1\n");

    struct passwd *pw = getpwuid(getuid());
    const char *luser = pw ? pw->pw_name : "";

    if (lookup(".ssh/config", "alias", &c) == 0) {
        check_str(c.hostname, "real.alias.example", "HostName expands %h to the typed name");
        check_str(c.user, "alice", "first User wins over later blocks");
        check_int(c.port, 2222, "first Port wins");
        check_int(c.connect_timeout, 7, "options before the first Host apply");
        check_str(c.proxyjump, "jump1,jump2:2200", "ProxyJump kept verbatim");
        check_int(c.server_alive_interval, 90, "time value 1m30s from Host *");
        check_int(c.server_alive_count_max, 0, "unset ServerAliveCountMax is 0");
        check_str(c.strict_host_key_checking, NULL, "unset StrictHostKeyChecking is NULL");
        check_int(c.n_identity_files, 4, "IdentityFile accumulates over blocks, duplicates dropped");
        snprintf(want, sizeof want, "%s/.ssh/id_alias", home);
        check_str(c.identity_files[0], want, "~ in IdentityFile is $HOME");
        snprintf(want, sizeof want, "%s/keys/real.alias.example-%s-alice-2222-alias", home, luser);
        check_str(c.identity_files[1], want, "%d %h %u %r %p %n expand with final values");
        snprintf(want, sizeof want, "%s/.ssh/id_second", home);
        check_str(c.identity_files[2], want, "IdentityFile from a wildcard block");
        snprintf(want, sizeof want, "%s/.ssh/id_default", home);
        check_str(c.identity_files[3], want, "IdentityFile from Host *");
        snprintf(want, sizeof want, "%s/my known hosts", home);
        check_str(c.user_known_hosts_file, want, "quoted UserKnownHostsFile, first file, ~ expanded");
        sshcfg_free(&c);
        sshcfg_free(&c);
        check(c.hostname == NULL && c.n_identity_files == 0, "sshcfg_free empties and is safe twice", NULL);
    }
    if (lookup(".ssh/config", "ALIAS", &c) == 0) {
        check_str(c.user, "alice", "typed name matches case-insensitively");
        check_str(c.hostname, "real.alias.example", "%h is the lower-cased typed name");
        sshcfg_free(&c);
    }
    if (lookup(".ssh/config", "alfas", &c) == 0) {
        check_str(c.user, "bob", "? wildcard in Host");
        check_int(c.port, 3333, "port from the ? block");
        check_str(c.hostname, NULL, "unset HostName is NULL");
        sshcfg_free(&c);
    }
    if (lookup(".ssh/config", "web.corp", &c) == 0) {
        check_str(c.user, "corpuser", "* wildcard in Host");
        check_int(c.server_alive_interval, 30, "Key=value form");
        check_int(c.server_alive_count_max, 5, "Key = value form");
        check_str(c.strict_host_key_checking, "accept-new", "StrictHostKeyChecking lower-cased");
        check_int(c.port, 2022, "Port=value form");
        sshcfg_free(&c);
    }
    if (lookup(".ssh/config", "secret.corp", &c) == 0) {
        check_str(c.user, "fallback", "negated pattern excludes the block");
        check_int(c.port, 0, "unset Port is 0");
        check_str(c.strict_host_key_checking, NULL, "nothing from the excluded block");
        sshcfg_free(&c);
    }
    if (lookup(".ssh/config", "matchonly", &c) == 0) {
        check_str(c.user, "matched", "Match host applies to its host");
        check_int(c.port, 2345, "... every line of the block");
        sshcfg_free(&c);
    }
    if (lookup(".ssh/config", "quoted", &c) == 0) {
        check_str(c.hostname, "q host", "double-quoted value with Key = value");
        check_str(c.user, "x y", "single-quoted value with Key=value");
        check_int(c.n_identity_files, 2, "case-insensitive keyword IDENTITYFILE");
        check_str(c.identity_files[0], "%literal", "%% expands to %");
        check_str(c.user_known_hosts_file, "/k h", "backslash-escaped space");
        sshcfg_free(&c);
    }
    if (lookup(".ssh/config", "plain", &c) == 0) {
        check_str(c.user, "fallback", "Include in a non-matching block does not apply");
        check_int(c.port, 0, "nothing from a non-applying Include");
        sshcfg_free(&c);
    }
    if (lookup(".ssh/config", "inc1", &c) == 0) {
        check_str(c.hostname, "included.example", "Include glob relative to ~/.ssh");
        check_int(c.port, 4444, "Port from the included Host block");
        check_str(c.user, "after-include", "after an Include the includer's block state resumes");
        sshcfg_free(&c);
    }
    if (lookup(".ssh/config", "inc2", &c) == 0) {
        check_int(c.port, 5555, "included lines without Host continue the includer's block");
        check_str(c.user, "after-include", "lines after Include still apply to the block");
        sshcfg_free(&c);
    }

    /* Missing file. */
    {
        snprintf(want, sizeof want, "%s/no/such/config", home);
        memset(&c, 0x55, sizeof c);
        int r = sshcfg_lookup(want, "alias", &c, err, sizeof err);
        check(r == 0 && !c.hostname && !c.user && !c.port && !c.n_identity_files && !c.proxyjump,
              "missing file: 0 and everything unset", "returned %d", r);
        sshcfg_free(&c);
    }

    /* Errors that matter, and the same mistakes where they do not. */
    snprintf(want, sizeof want, "%s/bad_config:3: bad port", home);
    expect_error("Host x\n  User u\n  Port abc\n", "x", want, "bad Port in an applying block: path:line: why");
    expect_error("Port 70000\n", "x", "bad port", "port out of range");
    expect_error("Host x\n  User \"open\n", "x", "unterminated quote", "unterminated quote");
    expect_error("Host x\n  HostName\n", "x", "needs an argument", "missing argument");
    expect_error("Host x\n  User a b\n", "x", "garbage at end of line", "extra argument");
    expect_error("ConnectTimeout 5x\n", "x", "bad time value", "bad time value");
    expect_error("StrictHostKeyChecking maybe\n", "x", "bad StrictHostKeyChecking", "bad StrictHostKeyChecking");
    expect_error("IdentityFile ~/.ssh/%z\n", "x", "bad_config:1: unknown token %z", "unknown %-token in IdentityFile");
    write_file(".ssh/loop", "Include loop\n");
    {
        struct sshcfg c2;
        write_file("ok_config", "Host y\n  Port abc\n  User \"open\n  HostName\nHost *\n  User ok\n");
        snprintf(want, sizeof want, "%s/ok_config", home);
        int r = sshcfg_lookup(want, "x", &c2, err, sizeof err);
        check(r == 0 && streq(c2.user, "ok"), "bad lines in a block that does not apply are ignored",
              "returned %d: %s", r, err);
        sshcfg_free(&c2);
    }
    expect_error("Include loop\n", "x", "nested more than", "Include recursion is bounded (self-include)");

    /* GlobalKnownHostsFile: every file, expanded; first line wins; "none"; unset. */
    write_file("gkh_config", "Host g\n  GlobalKnownHostsFile ~/g1 /etc/%h_kh\n  GlobalKnownHostsFile /later\n"
                             "Host n\n  GlobalKnownHostsFile none\n");
    if (lookup("gkh_config", "g", &c) == 0) {
        snprintf(want, sizeof want, "%s/g1", home);
        check(c.global_kh_set && c.n_global_kh == 2, "GlobalKnownHostsFile keeps every file of its first line",
              "set %d, %d files", c.global_kh_set, c.n_global_kh);
        check_str(c.global_kh[0], want, "... ~ expanded");
        check_str(c.global_kh[1], "/etc/g_kh", "... %h expanded");
        sshcfg_free(&c);
    }
    if (lookup("gkh_config", "n", &c) == 0) {
        check(c.global_kh_set && c.n_global_kh == 0, "GlobalKnownHostsFile none: set, no file", NULL);
        sshcfg_free(&c);
    }
    if (lookup("gkh_config", "x", &c) == 0) {
        check(!c.global_kh_set, "GlobalKnownHostsFile unset: the caller's default applies", NULL);
        sshcfg_free(&c);
    }
    expect_error("GlobalKnownHostsFile a b c d e f g h i\n", "x", "more than 8 files", "too many global files is an error");
    write_file("ukh_config", "Host n\n  UserKnownHostsFile none\n");
    if (lookup("ukh_config", "n", &c) == 0) {
        check_str(c.user_known_hosts_file, "none", "UserKnownHostsFile none stays \"none\" (no file; the caller decides)");
        sshcfg_free(&c);
    }


    /* Match host / user / all, negation, AND; other criteria are errors naming them. */
    write_file("m_config",
               "Host a1\n  HostName real-a1\n"
               "Match host real-a1 user bob\n  Port 1001\n"
               "Match host real-*,!real-a2 !user carol\n  Port 1002\n"
               "Match user carol\n  IdentityFile /k/carol\n"
               "Match all\n  ConnectTimeout 9\n");
    {
        char path[512];
        snprintf(path, sizeof path, "%s/m_config", home);
        struct sshcfg m;
        int r = sshcfg_lookup_as(path, "a1", "bob", NULL, 0, &m, err, sizeof err);
        check(r == 0 && m.port == 1001, "Match host (the HostName so far) and user (given) both hold", "r=%d port %d %s", r, m.port, err);
        check(r == 0 && m.connect_timeout == 9, "Match all applies", "timeout %d", m.connect_timeout);
        check_str(m.user, "bob", "the given user wins over the file");
        sshcfg_free(&m);
        r = sshcfg_lookup_as(path, "a1", "carol", NULL, 0, &m, err, sizeof err);
        check(r == 0 && m.port == 0 && m.n_identity_files == 1, "Match !user and Match user", "r=%d port %d ids %d", r, m.port, m.n_identity_files);
        sshcfg_free(&m);
        r = sshcfg_lookup_as(path, "a1", "dave", NULL, 0, &m, err, sizeof err);
        check(r == 0 && m.port == 1002, "a pattern list with a negated item", "r=%d port %d", r, m.port);
        sshcfg_free(&m);
    }
    expect_error("Host x\n  User u\nMatch exec \"true\"\n  Port 1\n", "x", "bad_config:3: Match exec is not supported",
                 "Match exec is an error naming it and the line");
    expect_error("Match canonical host x\n", "x", "Match canonical is not supported", "Match canonical is an error");
    expect_error("Match host\n", "x", "Match host needs a pattern list", "Match host without patterns");

    /* Keywords that would send traffic another way: an error naming them where they apply. */
    expect_error("Host x\n  LocalForward 8080 db:5432\n", "x", "bad_config:2: LocalForward 8080 is not supported",
                 "LocalForward is refused with file:line");
    expect_error("Host *\n  ForwardX11 yes\n", "x", "ForwardX11 yes is not supported", "ForwardX11 yes is refused");
    expect_error("BindAddress 10.0.0.1\n", "x", "BindAddress 10.0.0.1 is not supported", "BindAddress is refused");
    expect_error("Host x\n  IdentityAgent /tmp/other.sock\n", "x", "IdentityAgent /tmp/other.sock is not supported",
                 "IdentityAgent elsewhere is refused");
    write_file("r_config", "Host other\n  LocalForward 1 a:2\n  DynamicForward 1080\n"
               "Host *\n  ForwardX11 no\n  Tunnel no\n  AddressFamily any\n  ControlMaster auto\n"
               "  SendEnv LANG\n  VisualHostKey yes\n"
               "  ProxyCommand ssh -W %h:%p \"jump host\" # kept as written\n  ProxyJump ignored\n"
               "  CertificateFile ~/.ssh/c-%r-cert.pub\n  HashKnownHosts yes\n  ConnectionAttempts 4\n"
               "  HostKeyAlias hka\n  IdentityAgent none\n");
    if (lookup("r_config", "x", &c) == 0) {
        check(1, "refused keywords in a block that does not apply, and their off values, are fine", NULL);
        check_str(c.proxy_command, "ssh -W %h:%p \"jump host\" # kept as written", "ProxyCommand: the rest of the line, tokens left");
        check(c.proxy_command_where && strstr(c.proxy_command_where, "r_config:11"), "... with its file:line", "%s", S(c.proxy_command_where));
        check_str(c.proxyjump, NULL, "ProxyJump after a ProxyCommand is ignored (first wins)");
        snprintf(want, sizeof want, "%s/.ssh/c-%s-cert.pub", home, luser);
        check(c.n_certificate_files == 1 && streq(c.certificate_files[0], want), "CertificateFile expanded", "%s",
              c.n_certificate_files ? c.certificate_files[0] : "(none)");
        check_str(c.hash_known_hosts, "yes", "HashKnownHosts");
        check_int(c.connection_attempts, 4, "ConnectionAttempts");
        check_str(c.host_key_alias, "hka", "HostKeyAlias");
        check_str(c.identity_agent, "none", "IdentityAgent none");
        sshcfg_free(&c);
    }
    write_file("pj_config", "ProxyJump j1\nProxyCommand nc %h %p\n");
    if (lookup("pj_config", "x", &c) == 0) {
        check(streq(c.proxyjump, "j1") && !c.proxy_command, "ProxyCommand after a ProxyJump is ignored", "%s %s",
              S(c.proxyjump), S(c.proxy_command));
        sshcfg_free(&c);
    }

    /* Cross-check with OpenSSH: `ssh -G` resolves the same HostName/User/Port. */
    {
        static const char *hosts[] = { "alias", "alfas", "web.corp", "secret.corp", "quoted" };
        write_file("g_config",
                   "Host alias\n  HostName real.%h.example\n  User alice\n  Port 2222\n"
                   "Host *.corp !secret.corp\n  User corpuser\n  Port=2022\n"
                   "Host other al?as\n  User bob\n  Port 3333\n"
                   "Host quoted\n  HostName = \"qhost\"\n  User='x y'\n"
                   "Match host real-*,!*.corp user alice\n  Port 2999\n"
                   "Match user corpuser\n  HostName matched.corp\n"
                   "Host *\n  User fallback\n  Port 22\n");
        for (size_t i = 0; i < sizeof hosts / sizeof *hosts; i++) {
            char cmd[1024], line[512], h[512] = "", u[512] = "";
            int port = 0;
            snprintf(cmd, sizeof cmd, "ssh -G -F %s/g_config %s 2>/dev/null", home, hosts[i]);
            FILE *p = popen(cmd, "r");
            while (p && fgets(line, sizeof line, p)) {
                line[strcspn(line, "\n")] = '\0';
                if (!strncmp(line, "hostname ", 9)) snprintf(h, sizeof h, "%s", line + 9);
                if (!strncmp(line, "user ", 5)) snprintf(u, sizeof u, "%s", line + 5);
                if (!strncmp(line, "port ", 5)) port = atoi(line + 5);
            }
            if (p) pclose(p);
            snprintf(cmd, sizeof cmd, "%s/g_config", home);
            struct sshcfg g;
            int r = sshcfg_lookup(cmd, hosts[i], &g, err, sizeof err);
            const char *gh = g.hostname ? g.hostname : hosts[i];
            char desc[256];
            snprintf(desc, sizeof desc, "agrees with ssh -G for %s", hosts[i]);
            check(r == 0 && strcmp(gh, h) == 0 && streq(g.user, u) && g.port == port, desc,
                  "ssh -G: %s %s %d; ours: %s %s %d", h, u, port, gh, S(g.user), g.port);
            sshcfg_free(&g);
        }
    }

    /* -o lines (sshs -l/-p/--identity/-o): read before the file, so they win; unknown
       keywords, blocks and bad values are errors naming the option. */
    {
        char path[512];
        snprintf(path, sizeof path, "%s/.ssh/config", home);
        const char *extra[] = {"User=bob", "Port 2200", "IdentityFile=/o/key"};
        struct sshcfg o;
        int r = sshcfg_lookup_with(path, "alias", extra, 3, &o, err, sizeof err);
        check(r == 0 && streq(o.user, "bob"), "-o User wins over the file", "r=%d user %s (%s)", r, S(o.user), err);
        check(r == 0 && o.port == 2200, "-o 'Port 2200' (space form) wins over the file", "port %d", o.port);
        check(r == 0 && o.n_identity_files > 1 && streq(o.identity_files[0], "/o/key"),
              "-o IdentityFile is tried first, the file's follow", "%d files, first %s", o.n_identity_files,
              o.n_identity_files ? o.identity_files[0] : "(none)");
        check(r == 0 && streq(o.hostname, "real.alias.example"), "the file still applies to the rest", "%s", S(o.hostname));
        sshcfg_free(&o);
        static const char *bad[][2] = {
            {"VisualHostKey=yes", "does not use the option 'VisualHostKey'"},
            {"Port=x", "-o 'Port=x': bad port"},
            {"Host=x", "Host is not allowed"},
            {"Port", "expected Keyword=value"},
        };
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
            r = sshcfg_lookup_with(NULL, "h", &bad[i][0], 1, &o, err, sizeof err);
            char desc[256];
            snprintf(desc, sizeof desc, "-o '%s' is refused: %s", bad[i][0], bad[i][1]);
            check(r == -1 && strstr(err, bad[i][1]) != NULL, desc, "r=%d err \"%s\"", r, err);
            sshcfg_free(&o);
        }
    }

    snprintf(want, sizeof want, "rm -rf %s", home);
    if (system(want) != 0) fprintf(stderr, "cleanup failed\n");
    return failures ? 1 : 0;
}
