/* Remote commands: one channel per command on a connection, run as an ssh_op. */
#ifndef SSHS_CHANNEL_H
#define SSHS_CHANNEL_H
#include <lua.h>

struct conn;

/* Registers the remote op metatable. */
void channel_init(lua_State *L);
/* Lua: conn:exec(cmd, opts) -> op (opts: stdin, pty, timeout, echo, prefix, color, stream).
   op:wait() and op:result() as for local commands; a lost connection raises from wait(). */
int channel_lua_exec(lua_State *L, struct conn *c);
/* Ctrl-C: stop every running remote command (signal TERM, then KILL). */
void channel_interrupt_all(void);
/* At exit: stop what still runs and give the signals up to 2 s to reach the servers. */
void channel_shutdown(void);

#endif
