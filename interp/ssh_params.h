/* What a connection is asked to do: target, credentials, host key policy, timers.
   A leaf header, so authentication and host key checks need not see the connection. */
#ifndef SSHS_SSH_PARAMS_H
#define SSHS_SSH_PARAMS_H

#define SSH_MAX_KEYS 24
#define SSH_MAX_GLOBAL_KH 8

enum hostkey_mode { HOSTKEY_NO, HOSTKEY_ACCEPT_NEW, HOSTKEY_YES };

struct ssh_params {
    char *display;          /* "user@host[:port]" for messages */
    char *hostname;         /* what to resolve and connect to */
    char *hostkey_name;     /* the name looked up in known_hosts */
    char *user;
    int   port;
    char *password, *passphrase;
    char *keys[SSH_MAX_KEYS];
    int   key_given[SSH_MAX_KEYS]; /* named by the user (opts.key / IdentityFile), not a default */
    int   nkeys;
    char *cert_files[SSH_MAX_KEYS];  /* CertificateFile: each used with the key it certifies */
    int   ncerts;
    int   agent;
    char *known_hosts;      /* the user's file: read, and written by accept-new (NULL: none) */
    char *global_kh[SSH_MAX_GLOBAL_KH];   /* GlobalKnownHostsFile: only read */
    int   n_global_kh;
    enum hostkey_mode hostkey_mode;
    int   hash_known_hosts;  /* accept-new writes the host name hashed (HashKnownHosts yes) */
    /* No defaults here: the prelude decides them (connect_defaults) and C checks them. */
    double timeout;         /* connect + handshake + auth, seconds; 0: none */
    int   keepalive;        /* seconds, 0 = off */
    int   keepalive_max;    /* missed intervals before the peer counts as dead (>= 1) */
    int   max_channels;     /* channels open at once (the server's MaxSessions; >= 1) */
    int   interactive;      /* may prompt on the terminal */
    char *ciphers, *macs, *kex;   /* the user's algorithm lists (comma-separated), or NULL */
    char *proxy_command;    /* ProxyCommand, tokens expanded: carries the stream instead of TCP */
    char *agent_fwd_sock;   /* forward the agent listening here (SSH_AUTH_SOCK); NULL: don't */
    int   tunnel_only;      /* a jump host's connection: tunnels only, so no session channel is
                               opened ahead (a bastion's MaxSessions 0 would log its refusal) */
};
void ssh_params_free(struct ssh_params *p);

/* "libssh2 X.Y.Z" of the library linked at run time (for --version), without libssh2.h
   (defined in ssh_algs.c, with the other facts about what the library offers). */
const char *algs_library_version(void);

#endif
