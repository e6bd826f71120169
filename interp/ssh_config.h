/* The subset of ~/.ssh/config sshs honours: Host blocks with patterns, Match host/user/all,
   Include, and the keywords below; a keyword that would change where or how traffic goes and
   that sshs does not implement is an error naming it (see ssh_config.c). */
#ifndef SSHS_SSHCONFIG_H
#define SSHS_SSHCONFIG_H
#include <stddef.h>

#define SSHCFG_MAX_IDENTITIES 16
#define SSHCFG_MAX_GLOBAL_KH 8   /* more GlobalKnownHostsFile files is an error, not a silent cut */

struct sshcfg {
    char *hostname, *user, *proxyjump, *strict_host_key_checking, *user_known_hosts_file;
    /* (user_known_hosts_file: the first file, expanded; "none" as written: no user file) */
    char *ciphers, *macs, *kex_algorithms;   /* plain lists only: "+…", "-…", "^…" are ignored */
    int   port;                  /* 0 when unset */
    int   connect_timeout;       /* seconds, 0 when unset */
    int   server_alive_interval; /* seconds, 0 when unset */
    int   server_alive_count_max;/* 0 when unset */
    char *identity_files[SSHCFG_MAX_IDENTITIES]; int n_identity_files;
    /* GlobalKnownHostsFile: every file listed ("none": no file), when global_kh_set */
    char *global_kh[SSHCFG_MAX_GLOBAL_KH]; int n_global_kh, global_kh_set;
    /* ProxyCommand as written, %-tokens left for the caller, who knows the final user and
       port ("none" included); where: "path:line" for messages. ProxyCommand and ProxyJump:
       whichever comes first wins, as in ssh. */
    char *proxy_command, *proxy_command_where;
    char *certificate_files[SSHCFG_MAX_IDENTITIES]; int n_certificate_files;   /* expanded */
    char *hash_known_hosts, *forward_agent;   /* "yes" / "no", NULL when unset */
    char *forward_agent_where;   /* ForwardAgent's "path:line", for messages */
    char *host_key_alias, *identity_agent;    /* IdentityAgent: "none" or "SSH_AUTH_SOCK" */
    int   connection_attempts;   /* 0 when unset */
};

/* Reads the config at path for `host` (the name the user typed), filling the fields of every matching Host block,
   first value wins (as ssh does); IdentityFile accumulates. A missing file is fine (returns 0, all unset).
   Returns 0, or -1 with a message "path:line: why" in err for a malformed line that matters.
   Values are stored as written except: HostName has %h/%% expanded; IdentityFile and
   UserKnownHostsFile (its first file) and GlobalKnownHostsFile (all its files) have ~ and
   %d %h %u %n %p %r %i %l %% expanded;
   StrictHostKeyChecking is lower-cased; ProxyJump is verbatim ("none" included).
   *out is overwritten; on error it is left empty. */
int  sshcfg_lookup(const char *path, const char *host, struct sshcfg *out, char *err, size_t errlen);

/* The same, with ssh -o style "Keyword=value" lines read before the file (so they win over it).
   In those lines a keyword sshs does not use, Host, Match or Include is an error
   ("-o 'Ciphers=x': sshs does not use …"). path may be NULL (no file). */
int  sshcfg_lookup_with(const char *path, const char *host, const char *const *extra, int nextra,
                        struct sshcfg *out, char *err, size_t errlen);

/* The same, with the remote user already known (user@host, connect{user=}), so that Match user
   sees it and it wins over User lines; user may be NULL. */
int  sshcfg_lookup_as(const char *path, const char *host, const char *user, const char *const *extra,
                      int nextra, struct sshcfg *out, char *err, size_t errlen);

/* Frees every string in c and leaves it empty (safe to call twice). */
void sshcfg_free(struct sshcfg *c);

#endif
