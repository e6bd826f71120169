/* libFuzzer: the ssh_config reader on any file contents (Include lines may name other
   files: they are only read). */
#include "ssh_config.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!path[0]) snprintf(path, sizeof path, "/tmp/sshs-fuzz-cfg.%d", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    static const char *const hosts[] = {"web1", "db.example.com", "127.0.0.1"};
    for (int i = 0; i < 3; i++) {
        struct sshcfg c;
        char err[256] = "";
        int r = sshcfg_lookup(path, hosts[i], &c, err, sizeof err);
        if (r != 0 && r != -1) abort();
        if (r == -1 && !err[0]) abort();                       /* an error says why */
        if (c.n_identity_files < 0 || c.n_identity_files > SSHCFG_MAX_IDENTITIES) abort();
        sshcfg_free(&c);
        sshcfg_free(&c);                                       /* promised safe twice */
    }
    unlink(path);
    return 0;
}
