/* libFuzzer: node-set parsing (stdlib/nodeset.lua, run in a lua_State as sshs runs it).
   Any input either expands or fails with a "nodeset: " message; what expands folds back to
   a set that expands to the same names. The expansion limit is lowered to keep runs fast. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef NODESET_LUA
#error "build with -DNODESET_LUA=\"path/to/stdlib/nodeset.lua\""
#endif

static lua_State *L;

static const char check_src[] =
    "local M, spec = ...\n"
    "if spec:find('@', 1, true) then return end\n"     /* no @file reads while fuzzing */
    "local ok, names = pcall(M.expand, spec)\n"
    "if not ok then\n"
    "  if type(names) ~= 'string' or not names:find('^nodeset: ') then error('bad error: ' .. tostring(names)) end\n"
    "  return\n"
    "end\n"
    "if #names == 0 then return end\n"
    "local folded = M.fold(names)\n"
    "local ok2, again = pcall(M.expand, folded)\n"
    "if not ok2 then error('fold gave an unexpandable set: ' .. folded .. ': ' .. tostring(again)) end\n"
    "local a, b = {}, {}\n"
    "for _, n in ipairs(names) do a[n] = true end\n"
    "for _, n in ipairs(again) do b[n] = true end\n"
    "for n in pairs(a) do if not b[n] then error('fold lost ' .. n .. ' (' .. folded .. ')') end end\n"
    "for n in pairs(b) do if not a[n] then error('fold added ' .. n .. ' (' .. folded .. ')') end end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!L) {
        L = luaL_newstate();
        luaL_openlibs(L);
        if (luaL_dofile(L, NODESET_LUA) != LUA_OK) { fprintf(stderr, "%s\n", lua_tostring(L, -1)); abort(); }
        lua_pushinteger(L, 5000);
        lua_setfield(L, -2, "limit");
        lua_setglobal(L, "M");
        if (luaL_loadstring(L, check_src) != LUA_OK) abort();
        lua_setglobal(L, "check");
    }
    if (size > 4096) return 0;
    lua_getglobal(L, "check");
    lua_getglobal(L, "M");
    lua_pushlstring(L, (const char *)data, size);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
        fprintf(stderr, "nodeset: %s\n", lua_tostring(L, -1));
        abort();
    }
    lua_settop(L, 0);
    lua_gc(L, LUA_GCSTEP, 0);
    return 0;
}
