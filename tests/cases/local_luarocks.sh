#!/usr/bin/env bash
# Libraries from elsewhere (issue 22 item 5): require finds Debian's Lua 5.4 C modules
# (lua-cjson), pure-Lua and C modules in the user's LuaRocks tree (~/.luarocks, as
# `luarocks --local --lua-version 5.4 install` lays them out), and the paths that
# `eval "$(luarocks path)"` exports (LUA_PATH_5_4, LUA_CPATH_5_4).
source "$TESTROOT/lib.sh"
plan 7
H=$TMP/home
mkdir -p "$H/.luarocks/share/lua/5.4/rockpkg" "$H/.luarocks/lib/lua/5.4" "$TMP/elsewhere"
printf 'return {name = "rockmod"}\n' > "$H/.luarocks/share/lua/5.4/rockmod.lua"
printf 'return {name = "rockpkg init"}\n' > "$H/.luarocks/share/lua/5.4/rockpkg/init.lua"
printf 'return {name = "from LUA_PATH_5_4"}\n' > "$TMP/elsewhere/envmod.lua"
# A C module built for Lua 5.4, as luarocks builds one.
cat > "$TMP/crock.c" <<'EOF'
#include <lua.h>
#include <lauxlib.h>
static int twice(lua_State *L) { lua_pushinteger(L, 2 * luaL_checkinteger(L, 1)); return 1; }
int luaopen_crock(lua_State *L) { lua_newtable(L); lua_pushcfunction(L, twice); lua_setfield(L, -2, "twice"); return 1; }
EOF
if ! cc -shared -fPIC $(pkg-config --cflags lua5.4) -o "$H/.luarocks/lib/lua/5.4/crock.so" "$TMP/crock.c" 2> "$TMP/cc.err"; then
  not_ok "a Lua 5.4 C module builds" "$(cat "$TMP/cc.err")"
fi
cp "$H/.luarocks/lib/lua/5.4/crock.so" "$TMP/elsewhere/envcmod.so"

script main.sshs <<'EOF'
local cjson = require "cjson"
local t = cjson.decode($(printf '{"hosts":["web1","web2"],"n":2}'))
print("cjson:", t.hosts[2], math.tointeger(t.n), cjson.encode({ok = true}))
print("rock:", require("rockmod").name)
print("rock dir:", require("rockpkg").name)
print("c rock:", require("crock").twice(21))
print("env path:", require("envmod").name)
print("env cpath:", require("envcmod") ~= nil)
EOF
# envcmod.so exports luaopen_crock only: Lua looks for luaopen_envcmod, so give it that name.
sed 's/luaopen_crock/luaopen_envcmod/' "$TMP/crock.c" > "$TMP/envcmod.c"
cc -shared -fPIC $(pkg-config --cflags lua5.4) -o "$TMP/elsewhere/envcmod.so" "$TMP/envcmod.c" 2>/dev/null
HOME=$H LUA_PATH_5_4="$TMP/elsewhere/?.lua;;" LUA_CPATH_5_4="$TMP/elsewhere/?.so;;" run_sshs "$TMP/main.sshs"
expect_out_has 'cjson:	web2	2	{"ok":true}' "require \"cjson\" (Debian's lua-cjson, a C module) from a .sshs script"
expect_out_has "rock:	rockmod" "a pure-Lua module in ~/.luarocks/share/lua/5.4"
expect_out_has "rock dir:	rockpkg init" "a module folder with init.lua in the LuaRocks tree"
expect_out_has "c rock:	42" "a C module in ~/.luarocks/lib/lua/5.4"
expect_out_has "env path:	from LUA_PATH_5_4" "LUA_PATH_5_4 (luarocks path) is honoured"
expect_out_has "env cpath:	true" "LUA_CPATH_5_4 (luarocks path) is honoured"
HOME=$H run_sshs -e 'print(package.path:find(os.getenv("HOME") .. "/.luarocks/share/lua/5.4/?.lua", 1, true) ~= nil)'
expect_out "true" "the user's LuaRocks tree is on package.path"
