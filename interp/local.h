/* The local session: commands run with posix_spawn, drained through non-blocking pipes. */
#ifndef SSHS_LOCAL_H
#define SSHS_LOCAL_H
#include <lua.h>
#include <sys/types.h>

/* Registers the Ctrl-C hook. */
void local_init(lua_State *L);

/* Lua: core.spawn(cmd, opts) -> command object (l_command.h).  opts: cwd, env (table),
   stdin (string), timeout (s), echo (bool), prefix (string), color (bool), stream_stdout /
   stream_stderr (bool: op:wait() returns chunks). */
int local_lua_spawn(lua_State *L);

/* Kills every command still running (their whole process groups), reaps them and closes
   their handles. For the end of the process. */
void local_shutdown(void);

/* The signal's name without "SIG" ("TERM"), or NULL when unknown. */
const char *local_signal_name(int sig);

#endif
