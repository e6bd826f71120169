# require: .sshs and .lua modules from the script's folder, $SSHS_PATH and package.path;
# the built-in stdlib; errors in modules reported at the module's FILE:LINE.
source "$TESTROOT/lib.sh"
plan 26

mkdir -p "$TMP/proj" "$TMP/lib1" "$TMP/lib2" "$TMP/elsewhere"
cat > "$TMP/proj/helpers.sshs" <<'EOF'
local M = {}
function M.greet(who)
  return $(echo hello #{who})
end
M.loaded_at = debug.getinfo(1, "S").short_src
return M
EOF
printf 'return {kind = "lua module"}\n' > "$TMP/proj/plainmod.lua"
printf 'return {from = "SSHS_PATH " .. "lib1"}\n' > "$TMP/lib1/pathmod.sshs"
printf 'return {from = "second dir"}\n' > "$TMP/lib2/second.lua"
printf 'return {from = "package.path"}\n' > "$TMP/lib2/pp.lua"
cat > "$TMP/proj/broken.sshs" <<'EOF'
local M = {}
function M.fail()
  $ sh -c 'exit 6'
end
function M.lua_fail()
  error("module-error")
end
return M
EOF
printf 'local M = {}\n$[[\necho\n' > "$TMP/proj/badsugar.sshs"
printf 'local M = {}\nfunction M.f(\nreturn M\n' > "$TMP/proj/badlua.sshs"

cat > "$TMP/proj/main.sshs" <<EOF
local h = require "helpers"
print("sshs module:", h.greet("world it's me"))
print("lua module:", require("plainmod").kind)
print("SSHS_PATH:", require("pathmod").from)
print("second SSHS_PATH dir:", require("second").from)
package.path = "$TMP/lib2/?.lua;" .. package.path
print("package.path:", require("pp").from)
print("cached:", require("helpers") == h)
local ns = require "nodeset"
print("stdlib nodeset:", table.concat(ns.expand("web[01-03]"), ","))
local t = thread(function() return require("helpers").greet("thread") end)
print("in a thread:", t:join())
local b = require "broken"
local ok, e = pcall(b.fail)
print("module cmd error:", tostring(e))
local ok2, e2 = pcall(b.lua_fail)
print("module lua error:", tostring(e2))
local ok3, e3 = pcall(require, "badsugar")
print("module sugar error:", tostring(e3))
local ok4, e4 = pcall(require, "badlua")
print("module syntax error:", tostring(e4))
local ok5, e5 = pcall(require, "no_such_module_sshs")
print("missing:", ok5, (tostring(e5):match("module 'no_such_module_sshs' not found") ~= nil))
EOF

cd "$TMP/elsewhere"   # the script's folder is searched, not only the current one
SSHS_PATH="$TMP/lib1:$TMP/lib2" run_sshs "$TMP/proj/main.sshs"
cd - > /dev/null
expect_rc 0 "require script: exit 0"
expect_out_has "sshs module:	hello world it's me" ".sshs module in the script's folder, with sugar"
expect_out_has "lua module:	lua module" ".lua module in the script's folder"
expect_out_has "SSHS_PATH:	SSHS_PATH lib1" ".sshs module from \$SSHS_PATH"
expect_out_has "second SSHS_PATH dir:	second dir" "every \$SSHS_PATH folder is searched"
expect_out_has "package.path:	package.path" "modules on package.path"
expect_out_has "cached:	true" "require caches modules"
expect_out_has "stdlib nodeset:	web01,web02,web03" "built-in stdlib module: nodeset"
expect_out_has "in a thread:	hello thread" "require and module commands inside a thread"
expect_out_has "module cmd error:	$TMP/proj/broken.sshs:3: command failed on local (exit 6)" \
  "a command failing in a module names the module's FILE:LINE"
expect_out_has "module lua error:	$TMP/proj/broken.sshs:6: module-error" "a Lua error in a module: module FILE:LINE"
expect_out_has "module sugar error:" "a sugar error in a module is raised by require"
expect_out_has "badsugar.sshs:2: unterminated \$[[ block" "a sugar error in a module: module FILE:LINE"
expect_out_has "badlua.sshs:3:" "a Lua syntax error in a module: module FILE:LINE"
expect_out_has "missing:	false	true" "a missing module: the usual 'not found' error"

# an uncaught error from a module
printf 'require("broken").fail()\n' > "$TMP/proj/uncaught.sshs"
run_sshs "$TMP/proj/uncaught.sshs"
expect_rc 1 "uncaught error in a module: exit 1"
expect_err_has "$TMP/proj/broken.sshs:3: command failed on local (exit 6): sh -c 'exit 6'" \
  "uncaught error in a module: message at the module's line"

# a module that runs a command while it loads (require runs in the script's thread)
printf 'local M = {}\nM.os = $(echo loaded-with-command)\nreturn M\n' > "$TMP/proj/cmdmod.sshs"
printf 'print(require("cmdmod").os)\n' > "$TMP/proj/cmdmain.sshs"
run_sshs "$TMP/proj/cmdmain.sshs"
expect_rc 0 "a module that runs a command at load time: exit 0"
expect_out "loaded-with-command" "a module that runs a command at load time: loads"

# the built-in modules are always the embedded ones: files of their names beside a script
# (the runtime's own _files, or json / nodeset) are not loaded, for the runtime or for require
mkdir -p "$TMP/shadow"
for m in _files _console _fleet json nodeset; do
  printf 'io.stdout:write("SHADOW %s LOADED\\n")\nreturn {upload = function() return "evil" end, put_text = function() end, get_text = function() return "evil" end, decode = function() return "evil" end, expand = function() return {"evil"} end}\n' "$m" > "$TMP/shadow/$m.lua"
done
cp "$TMP/shadow/json.lua" "$TMP/shadow/inventory.sshs"
cat > "$TMP/shadow/main.sshs" <<EOF
put_text("$TMP/shadow/out.txt", "text")
print("get_text:", get_text("$TMP/shadow/out.txt"))
print("json:", require("json").decode('{"a":"b"}').a, require("json") == _SSHS.builtin("json"))
print("nodeset:", require("nodeset").expand("n[1-2]")[2])
print("files:", type(require("_files").upload), require("_files") == _SSHS.builtin("_files"))
EOF
run_sshs "$TMP/shadow/main.sshs"
expect_rc 0 "a script beside files named like built-in modules runs"
expect_out_has "get_text:	text" "put_text/get_text are the runtime's, not a _files.lua beside the script"
expect_out_has "json:	b	true" "require('json') is the built-in one, the runtime's own instance"
expect_out_has "nodeset:	n2" "require('nodeset') is the built-in one"
expect_out_has "files:	function	true" "require('_files') is the built-in one"
case "$out" in *SHADOW*) not_ok "no file named like a built-in module was loaded" "$(show)";;
  *) ok "no file named like a built-in module was loaded";; esac
# Built-in modules loaded after a script reassigned _SSHS still work: they are loaded on first
# use, after the script started, and reach each other through the loader, not the global.
mkdir -p "$TMP/reassign"
cat > "$TMP/reassign/main.lua" <<EOF
_SSHS = nil
put_text("$TMP/reassign/out.txt", "after reassigning")
print("text:", get_text("$TMP/reassign/out.txt"))
EOF
run_sshs "$TMP/reassign/main.lua"
expect_out_has "text:	after reassigning" "built-in modules loaded after a script reassigned _SSHS still work"
