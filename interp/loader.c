#include "loader.h"
#include "preproc.h"
#include "embedded.h"
#include <lauxlib.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The name Lua puts in front of error positions: "@deploy.sshs" -> "deploy.sshs". */
static const char *display_name(const char *chunkname)
{
    return (chunkname[0] == '@' || chunkname[0] == '=') ? chunkname + 1 : chunkname;
}

int loader_loadbuffer(lua_State *L, const char *src, size_t len, const char *chunkname, int sugar)
{
    if (sugar < 0) return luaL_loadbufferx(L, src, len, chunkname, "b");   /* our own bytecode */
    if (!sugar) return luaL_loadbufferx(L, src, len, chunkname, "t");
    struct pp_result r;
    if (pp_translate(src, len, &r) != 0) {
        lua_pushfstring(L, "%s:%d: %s", display_name(chunkname), r.err_line, r.err);
        pp_result_free(&r);
        return LUA_ERRSYNTAX;
    }
    int status = luaL_loadbufferx(L, r.lua, r.len, chunkname, "t");
    pp_result_free(&r);
    return status;
}

static char *read_file(const char *path, size_t *len, int *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) { *err = errno; return NULL; }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) { fclose(f); *err = EISDIR; return NULL; }
    struct { char *p; size_t n, cap; } b = {0};
    for (;;) {
        if (b.cap - b.n < 65536) {
            size_t cap = b.cap ? b.cap * 2 : 65536;
            char *p = realloc(b.p, cap);
            if (!p) { free(b.p); fclose(f); *err = ENOMEM; return NULL; }
            b.p = p;
            b.cap = cap;
        }
        size_t got = fread(b.p + b.n, 1, b.cap - b.n, f);
        b.n += got;
        if (got == 0) break;
    }
    int failed = ferror(f) ? errno : 0;
    fclose(f);
    if (failed) { free(b.p); *err = failed; return NULL; }
    *len = b.n;
    return b.p;
}

int loader_loadfile(lua_State *L, const char *path)
{
    size_t len = 0;
    int err = 0;
    char *src = read_file(path, &len, &err);
    if (!src) {
        lua_pushfstring(L, "cannot open %s: %s", path, strerror(err));
        return LUA_ERRFILE;
    }
    lua_pushfstring(L, "@%s", path);
    const char *chunkname = lua_tostring(L, -1);
    int sugar = !has_suffix(path, ".lua");
    const char *body = src;
    size_t body_len = len;
    /* A .lua file may start with "#!": Lua's own loadfile skips that line, keep its newline. */
    if (!sugar && len > 0 && src[0] == '#') {
        while (body_len > 0 && *body != '\n') { body++; body_len--; }
    }
    int status = loader_loadbuffer(L, body, body_len, chunkname, sugar);
    free(src);
    lua_remove(L, -2);
    return status;
}

int loader_lua_loadfile(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    if (loader_loadfile(L, path) == LUA_OK) return 1;
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
}

int loader_lua_translate(lua_State *L)
{
    size_t len;
    const char *src = luaL_checklstring(L, 1, &len);
    struct pp_result r;
    if (pp_translate(src, len, &r) != 0) {
        lua_pushnil(L);
        lua_pushinteger(L, r.err_line);
        lua_pushstring(L, r.err);
        pp_result_free(&r);
        return 3;
    }
    lua_pushlstring(L, r.lua, r.len);
    pp_result_free(&r);
    return 1;
}

int loader_lua_embedded(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    for (const struct embedded_file *f = embedded_files; f->module; f++) {
        if (strcmp(f->module, name) == 0) {
            lua_pushlstring(L, f->source, f->len);
            lua_pushstring(L, f->filename);
            return 2;
        }
    }
    return 0;
}

int loader_lua_load(lua_State *L)
{
    size_t len;
    const char *src = luaL_checklstring(L, 1, &len);
    const char *name = luaL_checkstring(L, 2);
    /* sugar: true for .sshs text; "bytecode" for the built-in modules compiled at build time */
    int sugar = lua_type(L, 3) == LUA_TSTRING ? -1 : lua_toboolean(L, 3);
    if (loader_loadbuffer(L, src, len, name, sugar) == LUA_OK) return 1;
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
}
