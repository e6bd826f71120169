/* Loads the SSH module (ssh_api.h) the first time something needs a connection: libcrypto,
   libssh2 and the connection side stay out of start-up. */
#include "sshmod.h"
#include "modload.h"
#include <stdio.h>

const struct ssh_api *sshapi;

const struct ssh_api *sshmod_load(char *err, size_t errlen)
{
    if (sshapi) return sshapi;
    const struct ssh_api *api = modload(SSHMOD_FILE, SSH_API_SYMBOL, "SSH", err, errlen);
    if (!api) return NULL;
    if (api->version != SSH_API_VERSION) {
        snprintf(err, errlen, "cannot load the SSH module %s: it is from another build of sshs "
                 "(interface %d, this binary needs %d)", SSHMOD_FILE, api->version, SSH_API_VERSION);
        return NULL;
    }
    sshapi = api;               /* kept loaded until exit */
    return sshapi;
}
