/* Loading .sshs (translated) and .lua (as is) chunks with file:line error positions. */
#ifndef SSHS_LOADER_H
#define SSHS_LOADER_H
#include <lua.h>

/* Loads the file at path as a chunk named "@path"; .lua files skip the sugar.
   Pushes the function and returns LUA_OK, or pushes "path:LINE: message" and returns an error code. */
int loader_loadfile(lua_State *L, const char *path);
/* The same for text in memory (chunkname as for lua_load: "=(command line)", "@file");
   sugar < 0 loads the runtime's own bytecode. */
int loader_loadbuffer(lua_State *L, const char *src, size_t len, const char *chunkname, int sugar);
/* Lua: core.loadfile(path) -> fn | nil, message;  core.translate(src) -> lua | nil, line, message. */
int loader_lua_loadfile(lua_State *L);
int loader_lua_translate(lua_State *L);
/* Lua: core.embedded(name) -> source, filename | nil  (the stdlib compiled into the binary). */
int loader_lua_embedded(lua_State *L);
/* Lua: core.load(src, chunkname, sugar) -> fn | nil, message. */
int loader_lua_load(lua_State *L);

#endif
