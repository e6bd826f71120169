# Start-up loads no runtime module it does not need (issue 21 item 3): the prelude alone runs,
# each module (_loader, _results, _contexts, _commands, json …) loads the first time something
# uses it, and a script sees the same globals, paths and messages as when all were loaded.
source "$TESTROOT/lib.sh"
plan 15

run_sshs -e 'local t = {} for k in pairs(package.loaded) do if k:sub(1, 1) == "_" and k ~= "_G" or k == "json" then t[#t + 1] = k end end
table.sort(t) print("loaded:" .. table.concat(t, ","))'
expect_out "loaded:" "a script that uses nothing loads none of the runtime's modules"

run_sshs -e 'local n = 0 with cd("/") do n = 1 end print(n, type(package.loaded._contexts))'
expect_out "1	table" "a global (cd) loads its module on first use and works"

run_sshs -e 'print(_SSHS.quote("a b"), type(package.loaded._quoting))'
expect_out "'a b'	table" "_SSHS's fields load their module on first use"

run_sshs -e 'local json = require "json" print(null == json.null, tostring(null), json.encode({1, null}))
print(pcall(function() null.x = 1 end))'
expect_out "true	null	[1,null]
false	(command line):2: json.null cannot be changed" "the global null is json.null (tostring, encode, cannot be changed)"

script paths.sshs <<'X'
print(package.path:find(arg[0]:match("^(.*)/") .. "/?.sshs;", 1, true) == 1, package.path:find("/share/sshs/?.lua", 1, true) ~= nil)
X
run_sshs "$TMP/paths.sshs"
expect_out "true	true" "package.path names the script's folder first and the stdlib folder before any require"

run_sshs -e 'require "no_such_module_for_startup"'
expect_rc 1 "a missing module: exit 1"
case "$err" in "(command line):1: module 'no_such_module_for_startup' not found:"*"no built-in sshs module"*) ok "a missing module's error names the user's line and what was tried";;
  *) not_ok "a missing module's error names the user's line and what was tried" "$(show)";; esac

run_sshs -e 'thread(42)'
expect_err_has "(command line):1: thread: expected a function, got number" "an argument error of a prelude global names the user's line"

run_sshs -e 'print(#$(head -c 3000000 /dev/zero | tr "\\0" x)) collectgarbage() print($(echo small))'
expect_out "3000000
small" "a big capture (its string mapped in place) and a small one after it"

# The collector's first cycle waits until the script has allocated as much as start-up made
# (main.c): it still runs by itself, finalizers included, and memory stays bounded.
run_sshs -e 'local ran = false
setmetatable({}, {__gc = function() ran = true end})
for i = 1, 300000 do local t = {i, tostring(i)} end
print(ran, collectgarbage("count") < 4096)'
expect_out "true	true" "garbage is collected without collectgarbage() (a finalizer runs, memory stays bounded)"

# Lua's memory is the small-block arena's until it is used up, then malloc's (small_alloc.c):
# a run that keeps far more than the arena holds, frees it and allocates again.
run_sshs -e 'local keep = {}
for i = 1, 100000 do keep[i] = {i, ("x"):rep(i % 300)} end
local n = 0 for i = 1, #keep do n = n + #keep[i][2] end
keep = nil collectgarbage()
local again = {} for i = 1, 50000 do again[i] = tostring(i) .. "y" end
print(n, #again, again[50000])'
expect_out "14940100	50000	50000y" "a run far bigger than the small-block arena: its data intact, freed and reused"

# The state is made with lua_newstate (main.c): warnings behave as in the lua interpreter (off
# until "@on"; "Lua warning: " and the pieces; "@off"; while off, the last piece of a message
# may be a control message), an error in __gc is one of them.
run_sshs -e 'warn("x") warn("@on") warn("a", "b") warn("@off") warn("c") warn("@on") warn("d", "@off")
warn("@off") warn("e", "@on") warn("f") setmetatable({}, {__gc = function() error("in gc") end})'
want='Lua warning: ab
Lua warning: d@off
Lua warning: f
Lua warning: error in __gc ((command line):2: in gc)'
if [ "$rc" = 0 ] && [ "$err" = "$want" ]; then ok "warn(): as the lua interpreter (off at first, @on, @off, pieces)"
else not_ok "warn(): as the lua interpreter (off at first, @on, @off, pieces)" "$(show)"; fi

# libuv loads with the event loop, on first use (interp/uv_lazy.c): a run that waits on
# nothing does without it; sleep, a command or a connection make it.
maps='local m = io.open("/proc/self/maps"):read("a") return m:find("libuv", 1, true) and "libuv" or "none"'
run_sshs -e "local f = function() $maps end io.stderr:write(f(), ' ') sleep(0) io.stderr:write(f(), '\n') print(\$(echo ok))"
if [ "$rc" = 0 ] && [ "$err" = "none libuv" ] && [ "$out" = ok ]; then ok "libuv is loaded on first use of the event loop"
else not_ok "libuv is loaded on first use of the event loop" "$(show)"; fi

# A libuv that cannot be used (a broken installation) fails a run that needs the loop with
# its reason; a run that needs none goes on.
if cc -shared -o "$TMP/libuv.so.1" -x c /dev/null 2>/dev/null; then
  rc=0; out=$(LD_LIBRARY_PATH=$TMP "$SSHS" -e 'print("fine")' 2>&1) || rc=$?
  expect_out "fine" "a run that needs no event loop does not need libuv"
  rc=0; err=$(LD_LIBRARY_PATH=$TMP "$SSHS" -e 'sleep(0)' 2>&1) || rc=$?
  if [ "$rc" = 1 ] && [ "$err" = "sshs: cannot load libuv.so.1: it has no uv_close" ]; then ok "an unusable libuv: exit 1 and why"
  else not_ok "an unusable libuv: exit 1 and why" "$(show)"; fi
else
  not_ok "a C compiler to build a stand-in libuv" "cc -shared failed"; not_ok "an unusable libuv: exit 1 and why"
fi
