-- Compiles one Lua file to bytecode with the chunk name the runtime expects
-- ("=prelude" for the prelude, "=sshs/FILE" for other built-in modules): start-up then
-- skips the parser. Usage: lua5.4 scripts/luac.lua IN OUT
local src = assert(io.open(arg[1], "rb")):read("a")
local file = arg[1]:match("[^/]+$")
local name = file == "_prelude.lua" and "=prelude" or ("=sshs/" .. file)
local fn = assert(load(src, name, "t"))
assert(io.open(arg[2], "wb")):write(string.dump(fn))
