/* Loads the SSH module (ssh_api.h) with dlopen the first time something needs a connection:
   libcrypto, libssh2 and the connection side stay out of start-up. The module is looked for
   next to the executable as /proc/self/exe names it (so a build tree and an installed copy
   each use their own), never on the library path. */
#include "sshmod.h"
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const struct ssh_api *sshapi;

/* The folder of the running executable, with its trailing '/'; 0 when /proc is not there. */
static size_t exe_dir(char *out, size_t outlen)
{
    ssize_t n = readlink("/proc/self/exe", out, outlen - 1);
    if (n <= 0 || (size_t)n >= outlen - 1) return 0;
    out[n] = '\0';
    char *slash = strrchr(out, '/');
    if (!slash) return 0;
    slash[1] = '\0';
    return (size_t)(slash + 1 - out);
}

const struct ssh_api *sshmod_load(char *err, size_t errlen)
{
    if (sshapi) return sshapi;
    char dir[PATH_MAX], path[PATH_MAX + 64];
    if (!exe_dir(dir, sizeof dir)) {
        snprintf(err, errlen, "cannot load the SSH module: /proc/self/exe: %s", strerror(errno));
        return NULL;
    }
    /* A build tree has it beside the binary, an installation in ../lib/sshs/. */
    snprintf(path, sizeof path, "%s%s", dir, SSHMOD_FILE);
    if (access(path, F_OK) != 0) snprintf(path, sizeof path, "%s../lib/sshs/%s", dir, SSHMOD_FILE);
    if (access(path, F_OK) != 0) {
        snprintf(err, errlen, "cannot load the SSH module: no %s%s nor %s (sshs is not installed "
                 "completely; reinstall it)", dir, SSHMOD_FILE, path);
        return NULL;
    }
    /* RTLD_NOW: a module that does not fit this binary fails here, not in mid-connection. */
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(err, errlen, "cannot load the SSH module %s: %s", path, dlerror());
        return NULL;
    }
    const struct ssh_api *api = dlsym(h, SSH_API_SYMBOL);
    if (!api || api->version != SSH_API_VERSION) {
        snprintf(err, errlen, "cannot load the SSH module %s: it is from another build of sshs "
                 "(interface %d, this binary needs %d)", path, api ? api->version : -1, SSH_API_VERSION);
        dlclose(h);
        return NULL;
    }
    sshapi = api;               /* kept loaded until exit */
    return sshapi;
}
