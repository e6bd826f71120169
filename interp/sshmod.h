/* The SSH module (ssh_api.h), loaded on first use (modload.c). Core: no Lua, no libssh2. */
#ifndef SSHS_SSHMOD_H
#define SSHS_SSHMOD_H
#include "ssh_api.h"
#include <stddef.h>

/* The file name of the module: beside the binary (a build tree), else in ../lib/sshs/ (an
   installed one: PREFIX/bin/sshs, PREFIX/lib/sshs/). */
#define SSHMOD_FILE "sshs-ssh.so"

/* The loaded table, NULL until sshmod_load succeeded. Every struct conn was made through it,
   so code that holds a connection may use it without checking. */
extern const struct ssh_api *sshapi;

/* Loads the module once (later calls return the same table). NULL with err set
   ("cannot load the SSH module …/sshs-ssh.so: …") when it is missing or from another build. */
const struct ssh_api *sshmod_load(char *err, size_t errlen);

#endif
