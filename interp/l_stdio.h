/* io.write, file:write on io.stdout / io.stderr, and warn go above a question on the terminal
   (output.c's out_set_question) instead of across it. */
#ifndef SSHS_L_STDIO_H
#define SSHS_L_STDIO_H
#include <lua.h>

/* Wraps io.write, the file handles' write method and warn; call after luaL_openlibs, before
   the prelude (which wraps io.write in turn). */
void stdio_open(lua_State *L);

#endif
