/* Big Lua strings without a second copy: a command's captured output becomes its result
   string in place, so a 1 GiB capture peaks at about 1 GiB, not 2. */
#ifndef SSHS_BIGSTR_H
#define SSHS_BIGSTR_H
#include <lua.h>
#include "buf.h"

/* Call once, right after the state is made: learns the size of a string's header; the
   state's allocator is wrapped from the first big string on. */
void bigstr_install(lua_State *L);
/* Pushes the spool's bytes as one string and empties the spool. */
void bigstr_push_spool(lua_State *L, struct spool *s);

/* A big capture goes straight into a memory file as it arrives, so building its string at
   the end costs one copy in place (no page is held twice, and the loop is not held up by
   a second pass). The file's text starts after a gap for the string's header. */
struct bigfile { int fd; size_t len; };
/* Moves the spool's bytes into a new file (the spool is emptied); 0, or -1 (spool kept). */
int  bigstr_spill(struct bigfile *f, struct spool *s);
/* Appends n bytes; 0, or -1 when memory runs out. */
int  bigstr_append(struct bigfile *f, const void *p, size_t n);
/* Pushes the file's text as one string and closes the file. */
void bigstr_push_file(lua_State *L, struct bigfile *f);
void bigstr_close(struct bigfile *f);

#endif
