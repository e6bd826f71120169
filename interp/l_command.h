/* Command objects in Lua, for local and remote commands alike (see command.h):
   op:wait() -> "stdout"|"stderr", chunk  or  "done" (raises the command's error, or
   "interrupted" after Ctrl-C);  op:result() -> {stdout, stderr, duration, exitcode | signal,
   timed_out};  op:kill([sig]);  __gc and __close stop a command that still runs. */
#ifndef SSHS_L_COMMAND_H
#define SSHS_L_COMMAND_H
#include <lua.h>

struct command;

/* Pushes a new command object pointing nowhere yet; set *returned once the command exists
   (an error before that leaves an object that is collected harmlessly). */
struct command **command_push(lua_State *L);

#endif
