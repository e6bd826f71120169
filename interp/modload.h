/* Finding and loading sshs's own shared modules on first use (the SSH side, sshmod.c; the
   REPL's line editor, repl_lazy.c). Core: no Lua, no libssh2. */
#ifndef SSHS_MODLOAD_H
#define SSHS_MODLOAD_H
#include <stddef.h>

/* Loads FILE (e.g. "sshs-ssh.so") from beside the binary (a build tree), else from
   ../lib/sshs/ (an installation: PREFIX/bin/sshs, PREFIX/lib/sshs/), and returns the address
   of its exported SYMBOL; the module stays loaded until exit. NULL with err set ("cannot load
   the WHAT module …: why") when it is missing or does not fit this binary. */
const void *modload(const char *file, const char *symbol, const char *what, char *err, size_t errlen);

#endif
