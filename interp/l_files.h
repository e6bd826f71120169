/* Lua bindings for file transfer: SFTP requests on a connection and the local file system
   calls the transfer logic (stdlib/_files.lua) needs. */
#ifndef SSHS_L_FILES_H
#define SSHS_L_FILES_H
#include <lua.h>

/* Adds core.sftp and core.fs_* to the core table at core_idx. */
void files_open(lua_State *L, int core_idx);
/* At exit: unfinished transfers clean up their temporaries (bounded). */
void files_shutdown(void);

#endif
