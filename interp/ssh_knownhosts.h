/* Our own known_hosts reader/writer: OpenSSH's format, including hashed entries, wildcards,
   negation, @revoked and @cert-authority (skipped). libssh2's reader stops at the first line it
   cannot parse and knows none of these; its writer rewrites the whole file. */
#ifndef SSHS_KNOWNHOSTS_H
#define SSHS_KNOWNHOSTS_H
#include <stddef.h>

#define KH_FP_LEN 64

enum kh_status { KH_MATCH = 0, KH_NOTFOUND = 1, KH_MISMATCH = 2, KH_REVOKED = 3 };

/* Looks up host:port in the known_hosts file at path. keytype is the SSH key type name
   ("ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa", …); blob/bloblen the raw public-key blob as the
   server sent it. Returns a kh_status (>= 0), or -errno when the file exists but cannot be read
   (a missing file is KH_NOTFOUND). MATCH: an entry for this host has this exact key. MISMATCH: no
   entry matches, and an entry for this host with the SAME key type has a different key
   (*line_out = that line number). An entry of a different key type is not a mismatch.
   REVOKED: a `@revoked` line whose host patterns match lists this key (wins over MATCH).
   line_out may be NULL; on MATCH/REVOKED it gets the line of that entry. */
int  kh_check(const char *path, const char *host, int port, const char *keytype,
              const unsigned char *blob, size_t bloblen, int *line_out);

/* Appends one line "host keytype base64\n" (host written as "[host]:port" when port != 22),
   creating the file (mode 0600) and its folder (0700) if missing. Never rewrites the file. 0 or -errno. */
int  kh_append(const char *path, const char *host, int port, const char *keytype,
               const unsigned char *blob, size_t bloblen);

/* The same with the host field hashed when hashed != 0 (HashKnownHosts yes): "|1|salt|hash",
   HMAC-SHA1 keyed with a random 20-byte salt over the name as looked up, as ssh writes it. */
int  kh_append_as(const char *path, const char *host, int port, const char *keytype,
                  const unsigned char *blob, size_t bloblen, int hashed);

/* "SHA256:" + unpadded base64 of SHA-256(blob), as ssh-keygen -l prints. */
void kh_fingerprint(const unsigned char *blob, size_t bloblen, char out[KH_FP_LEN]);

#endif
