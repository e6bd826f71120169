/* Checking the server's host key against known_hosts, with messages that say what to do. */
#include "ssh_hostkey.h"
#include "ssh_knownhosts.h"
#include <stdio.h>
#include <string.h>

static const char *keytype_name(int type)
{
    switch (type) {
    case LIBSSH2_HOSTKEY_TYPE_RSA: return "ssh-rsa";
    case LIBSSH2_HOSTKEY_TYPE_DSS: return "ssh-dss";
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_256: return "ecdsa-sha2-nistp256";
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_384: return "ecdsa-sha2-nistp384";
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_521: return "ecdsa-sha2-nistp521";
    case LIBSSH2_HOSTKEY_TYPE_ED25519: return "ssh-ed25519";
    default: return "unknown";
    }
}

static void known_hosts_name(const struct ssh_params *p, char *out, size_t n)
{
    if (p->port == 22) snprintf(out, n, "%s", p->hostkey_name);
    else snprintf(out, n, "[%s]:%d", p->hostkey_name, p->port);
}

/* What the user's file and the global ones say about this key, as OpenSSH decides: @revoked
   in any file refuses; else an entry with this key in any file accepts; else an entry of the
   same type with another key is a changed key; else the key is unknown.  *file and *line
   name the entry that decided; a file that exists but cannot be read is an error (-errno). */
static int check_all(const struct ssh_params *p, const char *tname, const unsigned char *key, size_t len,
                     const char **file, int *line)
{
    static const int rank[] = {[KH_NOTFOUND] = 0, [KH_MISMATCH] = 1, [KH_MATCH] = 2, [KH_REVOKED] = 3};
    int best = KH_NOTFOUND;
    *file = p->known_hosts;
    *line = 0;
    for (int i = p->known_hosts ? -1 : 0; i < p->n_global_kh; i++) {
        const char *path = i < 0 ? p->known_hosts : p->global_kh[i];
        int l = 0, st = kh_check(path, p->hostkey_name, p->port, tname, key, len, &l);
        if (st < 0) { *file = path; return st; }
        if (rank[st] > rank[best]) { best = st; *file = path; *line = l; }
    }
    return best;
}

/* An unknown key with UserKnownHostsFile none: accept-new takes it for this connection only
   (there is no file to add it to; OpenSSH warns the same way), "yes" refuses it. */
static int unknown_without_user_file(const struct ssh_params *p, const char *name, const char *tname,
                                     const char *fp, char *err, size_t errlen)
{
    if (p->hostkey_mode == HOSTKEY_ACCEPT_NEW) {
        fprintf(stderr, "sshs: accepted %s (%s %s) for this connection; not recorded "
                "(UserKnownHostsFile none)\n", name, tname, fp);
        return 0;
    }
    snprintf(err, errlen,
             "unknown host key for %s: %s %s is in no known_hosts file (UserKnownHostsFile none, "
             "%d global file%s). If that fingerprint is right, accept it for this connection with "
             "connect(..., {host_key_check = \"accept-new\"}) or name a file to check: "
             "connect(..., {known_hosts = PATH})",
             p->display, tname, fp, p->n_global_kh, p->n_global_kh == 1 ? "" : "s");
    return -1;
}

int hostkey_verify(LIBSSH2_SESSION *session, const struct ssh_params *p, char *err, size_t errlen)
{
    size_t len = 0;
    int type = 0;
    const unsigned char *key = (const unsigned char *)libssh2_session_hostkey(session, &len, &type);
    if (!key) { snprintf(err, errlen, "%s sent no host key", p->display); return -1; }
    const char *tname = keytype_name(type);
    char fp[KH_FP_LEN], name[300];
    kh_fingerprint(key, len, fp);
    known_hosts_name(p, name, sizeof name);
    /* "no" skips only the unknown-key check: a changed or @revoked key is always refused. */
    int line = 0;
    const char *file;
    int st = check_all(p, tname, key, len, &file, &line);
    switch (st) {
    case KH_MATCH:
        return 0;
    case KH_REVOKED:
        snprintf(err, errlen, "host key of %s (%s %s) is marked @revoked in %s:%d; refusing to connect",
                 p->display, tname, fp, file, line);
        return -1;
    case KH_MISMATCH:
        snprintf(err, errlen,
                 "HOST KEY CHANGED for %s: the server sent %s %s, but %s:%d has a different %s key. "
                 "Someone may be intercepting the connection, or the host was reinstalled. "
                 "If you are sure the new key is right, remove the old one with: ssh-keygen -R '%s' -f %s",
                 p->display, tname, fp, file, line, tname, name, file);
        return -1;
    case KH_NOTFOUND:
        if (p->hostkey_mode == HOSTKEY_NO) return 0;
        if (!p->known_hosts) return unknown_without_user_file(p, name, tname, fp, err, errlen);
        if (p->hostkey_mode == HOSTKEY_ACCEPT_NEW) {
            int r = kh_append_as(p->known_hosts, p->hostkey_name, p->port, tname, key, len, p->hash_known_hosts);
            if (r < 0) {
                snprintf(err, errlen, "cannot add the host key of %s to %s: %s",
                         p->display, p->known_hosts, strerror(-r));
                return -1;
            }
            fprintf(stderr, "sshs: added %s (%s %s) to %s%s\n", name, tname, fp, p->known_hosts,
                    p->hash_known_hosts ? " (hashed)" : "");
            return 0;
        }
        snprintf(err, errlen,
                 "unknown host key for %s: %s %s is not in %s. If that fingerprint is right, accept it "
                 "with connect(..., {host_key_check = \"accept-new\"}) or add it with: "
                 "ssh-keyscan -p %d -t %s %s >> %s",
                 p->display, tname, fp, p->known_hosts, p->port,
                 strncmp(tname, "ssh-", 4) == 0 ? tname + 4 : tname, p->hostkey_name, p->known_hosts);
        return -1;
    default:
        snprintf(err, errlen, "cannot read known hosts file %s: %s", file, strerror(-st));
        return -1;
    }
}

