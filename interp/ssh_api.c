/* The SSH module's table (ssh_api.h): the only symbol the module exports (it is built with
   hidden visibility), read by sshmod.c after dlopen. */
#include "ssh_api.h"
#include "ssh_proxy.h"

__attribute__((visibility("default")))
const struct ssh_api sshs_ssh_api = {
    .version = SSH_API_VERSION,
#define SSH_API_ENTRY(ret, name, params) .name = name,
    SSH_API_FUNCTIONS(SSH_API_ENTRY)
#undef SSH_API_ENTRY
};
