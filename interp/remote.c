#include "remote.h"

void remote_open(lua_State *L, int core_idx)
{
    (void)L;
    (void)core_idx;
}

void remote_shutdown(void)
{
}
