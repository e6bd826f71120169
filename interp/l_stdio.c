/* Lua's own writes to the terminal (io.write, io.stdout:write, io.stderr:write, warn) while
   a question is on it (output.c): their text is made as Lua makes it, into a memory stream
   standing in for the real one for that one call, then written above the question. At any
   other time, and to any other file, the library's own function runs, untouched. */
#include "l_stdio.h"
#include "output.h"
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>

static lua_CFunction lib_io_write, lib_file_write, lib_warn;

/* 1 or 2 when f is stdio's stdout or stderr and a question is on that terminal; else 0. */
static int question_fd(FILE *f)
{
    int fd = f == stdout ? 1 : f == stderr ? 2 : 0;
    return fd && out_question_on(fd) ? fd : 0;
}

/* The arguments from first on are what a write takes (strings, numbers), or this raises the
   error the library would. Checked before the stream is swapped: nothing may raise then. */
static void check_writable(lua_State *L, int first)
{
    for (int i = first; i <= lua_gettop(L); i++)
        if (lua_type(L, i) != LUA_TNUMBER) luaL_checklstring(L, i, NULL);
}

/* Runs fn with *slot pointing to a memory stream, then writes what it wrote to fd (above
   the question). fn returns the library function's result count. */
static int capture(lua_State *L, lua_CFunction fn, FILE **slot, int fd)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem) return fn(L);                  /* no memory: written as it would be anyway */
    FILE *real = *slot;
    fflush(real);                            /* anything still buffered keeps its place */
    *slot = mem;
    int n = fn(L);
    *slot = real;
    fclose(mem);
    if (len) out_write_all(fd, text, len);
    free(text);
    return n;
}

/* io.write(...): to the default output file. */
static int io_write_above_question(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, "_IO_output");   /* liolib's default output */
    luaL_Stream *p = lua_touserdata(L, -1);
    lua_pop(L, 1);
    int fd = p && p->closef ? question_fd(p->f) : 0;
    if (!fd) return lib_io_write(L);
    check_writable(L, 1);
    return capture(L, lib_io_write, &p->f, fd);
}

/* file:write(...), io.stdout:write(...), io.stderr:write(...) */
static int file_write_above_question(lua_State *L)
{
    luaL_Stream *p = luaL_testudata(L, 1, LUA_FILEHANDLE);
    int fd = p && p->closef ? question_fd(p->f) : 0;
    if (!fd) return lib_file_write(L);
    check_writable(L, 2);
    return capture(L, lib_file_write, &p->f, fd);
}

/* warn(...): lauxlib's warning function writes to stdio's stderr (lua_writestringerror). */
static int warn_above_question(lua_State *L)
{
    int fd = question_fd(stderr);
    if (!fd) return lib_warn(L);
    luaL_checkstring(L, 1);
    for (int i = 2; i <= lua_gettop(L); i++) luaL_checkstring(L, i);
    return capture(L, lib_warn, &stderr, fd);
}

/* Replaces t[name] (a C function) with fn, keeping the library's in *lib. */
static void wrap(lua_State *L, int t, const char *name, lua_CFunction fn, lua_CFunction *lib)
{
    lua_getfield(L, t, name);
    *lib = lua_tocfunction(L, -1);
    lua_pop(L, 1);
    if (!*lib) return;                       /* not the library's: leave it */
    lua_pushcfunction(L, fn);
    lua_setfield(L, t, name);
}

void stdio_open(lua_State *L)
{
    int top = lua_gettop(L);
    lua_getglobal(L, "io");
    if (lua_istable(L, -1)) wrap(L, lua_gettop(L), "write", io_write_above_question, &lib_io_write);
    luaL_getmetatable(L, LUA_FILEHANDLE);
    if (lua_istable(L, -1) && lua_getfield(L, -1, "__index") == LUA_TTABLE)
        wrap(L, lua_gettop(L), "write", file_write_above_question, &lib_file_write);
    lua_pushglobaltable(L);
    wrap(L, lua_gettop(L), "warn", warn_above_question, &lib_warn);
    lua_settop(L, top);
}
