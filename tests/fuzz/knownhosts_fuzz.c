/* libFuzzer: the known_hosts reader on any file contents, looked up for a few hosts. */
#include "ssh_knownhosts.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!path[0]) snprintf(path, sizeof path, "/tmp/sshs-fuzz-kh.%d", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    static const unsigned char blob[] = "\0\0\0\x0bssh-ed25519\0\0\0\x20" "0123456789abcdef0123456789abcdef";
    static const char *const hosts[] = {"example.com", "127.0.0.1", "web01", "[::1]"};
    static const char *const types[] = {"ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256"};
    for (int i = 0; i < 4; i++) {
        int line = -1;
        int r = kh_check(path, hosts[i], i == 1 ? 2222 : 22, types[i % 3], blob, sizeof blob - 1, &line);
        if (r > KH_REVOKED) abort();
        if ((r == KH_MATCH || r == KH_REVOKED || r == KH_MISMATCH) && line < 1) abort();
    }
    unlink(path);
    return 0;
}
