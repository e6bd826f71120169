/* Loads one of sshs's modules with dlopen. They are looked for next to the executable as
   /proc/self/exe names it (so a build tree and an installed copy each use their own), never
   on the library path. */
#include "modload.h"
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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

const void *modload(const char *file, const char *symbol, const char *what, char *err, size_t errlen)
{
    char dir[PATH_MAX], path[PATH_MAX + 64];
    if (!exe_dir(dir, sizeof dir)) {
        snprintf(err, errlen, "cannot load the %s module: /proc/self/exe: %s", what, strerror(errno));
        return NULL;
    }
    /* A build tree has it beside the binary, an installation in ../lib/sshs/. */
    snprintf(path, sizeof path, "%s%s", dir, file);
    if (access(path, F_OK) != 0) snprintf(path, sizeof path, "%s../lib/sshs/%s", dir, file);
    if (access(path, F_OK) != 0) {
        snprintf(err, errlen, "cannot load the %s module: no %s%s nor %s (sshs is not installed "
                 "completely; reinstall it)", what, dir, file, path);
        return NULL;
    }
    /* RTLD_NOW: a module that does not fit this binary fails here, not half-way through. */
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(err, errlen, "cannot load the %s module %s: %s", what, path, dlerror());
        return NULL;
    }
    const void *sym = dlsym(h, symbol);
    if (!sym) {
        snprintf(err, errlen, "cannot load the %s module %s: it has no %s (from another build of sshs?)",
                 what, path, symbol);
        dlclose(h);
        return NULL;
    }
    return sym;
}
