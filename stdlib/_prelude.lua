-- The Lua half of the sshs runtime, compiled into the binary and run once at start-up: the
-- wiring. It loads _loader, and through it, each on first use, the runtime's modules (each a
-- stdlib/_*.lua file with an explicit return: _results, _quoting, _contexts, _commands,
-- _sessions, _outcome, _start, _files, _sync, _asroot, _console, _fleet, _fleetout, _last, _repl),
-- builds _SSHS (what the translated sugar and C call) and defines the
-- globals a script sees. C primitives arrive as `core` (interp/l_runtime.c); the table S is
-- returned to C, which keeps its own reference (a script may reassign the global _SSHS).
local core = ...
local S = {core = core}
_SSHS = S
local options = core.options

-- Every module loads on first use, so start-up runs this file alone: _loader (require, the
-- built-in modules) by hand, every other built-in module through it (builtin), which runs
-- the module with (builtin, core): no module reads _SSHS. _SSHS's fields load theirs through
-- its __index, the globals are functions that call the module's (a tail call: errors name
-- the same line, this file's frames are the runtime's own and skipped).
local loader_module
local function loader()
  if not loader_module then
    local src, file = core.embedded("_loader")
    loader_module = assert(core.load(src, "=sshs/" .. file, "bytecode"))(core, S)
  end
  return loader_module
end
local function builtin(name) return loader().builtin(name) end
local type, setmetatable = type, setmetatable

-- Where require looks (before any module loads, as a script may read package.path): the
-- script's folder, the user's LuaRocks tree ahead of Lua's default paths (the system tree,
-- /usr/local/…/5.4, is on them already, as `luarocks path` puts it), $SSHS_PATH, and the
-- installed stdlib folder (make install: PREFIX/share/sshs, compiled in as core.datadir).
do
  local script_dir = options.script and options.script:match("^(.*)/[^/]*$") or "."
  local extra = script_dir .. "/?.sshs;" .. script_dir .. "/?.lua;"
  local tail = ""
  for dir in (os.getenv("SSHS_PATH") or ""):gmatch("[^:]+") do
    tail = tail .. ";" .. dir .. "/?.sshs;" .. dir .. "/?.lua"
  end
  local data = core.datadir .. "/?.sshs;" .. core.datadir .. "/?.lua"
  local home = os.getenv("HOME")
  local rocks, crocks = "", ""
  if home and home ~= "" then
    rocks = home .. "/.luarocks/share/lua/5.4/?.lua;" .. home .. "/.luarocks/share/lua/5.4/?/init.lua;"
    crocks = home .. "/.luarocks/lib/lua/5.4/?.so;"
  end
  package.path = extra .. rocks .. package.path .. tail .. ";" .. data
  package.cpath = crocks .. package.cpath
end
-- The built-in modules come first (a _files.lua or json.lua beside a script must not replace
-- the runtime's own), and every "?.lua" on package.path is also tried as "?.sshs".
package.searchers[2] = function(name) return loader().builtin_searcher(name) end
table.insert(package.searchers, 3, function(name) return loader().sshs_searcher(name) end)

local function user_error(msg) return builtin("_results").user_error(msg) end

---------------------------------------------------------------------------- _SSHS

-- Field = the module whose function of that name it is: what translated chunks call
-- (interp/preproc.c: $cmd, $(cmd), $?(cmd), `$`, #{v}, heredocs, with), what C calls (the
-- scheduler: user_where; main.c: error_text, report_unobserved and the functions below), and quote (one shell
-- word, for scripts and tests that build command text themselves).
local lazy_fields = {
  run = "_commands", cap = "_commands", sub = "_commands", test = "_commands", last = "_commands",
  q = "_quoting", hd = "_quoting", quote = "_quoting", with = "_contexts",
  user_where = "_results", error_text = "_results", report_unobserved = "_start",
}
setmetatable(S, {__index = function(t, k)
  local module = lazy_fields[k]
  if not module then return nil end
  local v = builtin(module)[k]
  rawset(t, k, v)
  return v
end})
S.builtin = builtin
function S.read_source(path, chunk) return loader().read_source(path, chunk) end

-- A new thread's state (the scheduler asks): a copy of its creator's session stack and
-- context blocks. One whose creator has none yet (the main thread, threads of a script that
-- has not used a session or context block) starts empty, as _contexts.state() fills in the
-- local session when something first looks: a run that never does needs no _contexts.
function S.inherit_state(parent)
  if parent and parent.stack then return builtin("_contexts").inherit_state(parent) end
  return {}
end

---------------------------------------------------------------------------- globals

-- Globals that are a module's function: a function of the same name that calls it.
local function global_from(module, names)
  for _, name in ipairs(names) do
    _G[name] = function(...) return builtin(module)[name](...) end
  end
end
global_from("_quoting", {"raw", "maybe_empty"})
global_from("_contexts", {"cd", "env", "timeout", "idle_timeout", "check", "output_limits", "sudo"})
global_from("_sessions", {"connect", "close", "forward"})
function run(...) return builtin("_commands").run_current(...) end
function require(name) return loader().require(name) end
-- What r:json() gives for JSON null: json.lua takes this sentinel from core when built in.
null = setmetatable({}, {
  __name = "json.null",
  __tostring = function() return "null" end,
  __newindex = function() error("json.null cannot be changed", 2) end,
})
core.json_null = null

function thread(fn, ...)
  if type(fn) ~= "function" then user_error("thread: expected a function, got " .. type(fn)) end
  return core.thread(function(...)
    -- When the thread ends, by any exit, it lets go of the sessions it holds (none when its
    -- state never got a session stack: see S.inherit_state).
    local st = core.state()
    local _ <close> = setmetatable({}, {__close = function()
      local stack = st.stack
      if not stack then return end
      for i = #stack, 2, -1 do
        local s = stack[i]
        stack[i] = nil
        if s.release then s:release() end
      end
    end})
    return fn(...)
  end, ...)
end

sleep = core.sleep

-- A thread that writes to stdout faster than its reader takes it (stdout queued, output.c)
-- waits here, not the loop: other threads, timers and signals go on meanwhile.
local function out_wait()
  if not core.out_backlogged() or not coroutine.isyieldable() then return end
  repeat core.sleep(0.01) until not core.out_backlogged()
end

-- print() in a per-host thread is prefixed by the host (or gathered with -b / --json).
function print(...)
  local st = core.state() or {}
  local n = select("#", ...)
  local parts = {}
  for i = 1, n do parts[i] = tostring((select(i, ...))) end
  local text = table.concat(parts, "\t") .. "\n"
  if st.streams then
    st.streams.stdout(text)
    if st.streams.quiet then return end
  end
  if st.sink then st.sink[#st.sink + 1] = text; return end
  if st.prefix then text = st.prefix .. text:gsub("\n(.)", "\n" .. st.prefix:gsub("%%", "%%%%") .. "%1") end
  core.write(1, text)
  out_wait()
end

-- io.write to a stdout queue past its bound (a slow reader) waits the same way.
local io_write = io.write
function io.write(...)
  local r = table.pack(io_write(...))
  out_wait()
  return table.unpack(r, 1, r.n)
end

global_from("_console", {"console", "shell"})

function each(hosts, fn, opts) return builtin("_fleet").each(hosts, fn, opts) end

-- vars([host]): the inventory variables of a host (stdlib/_start.lua).
function vars(host) return builtin("_start").vars(host) end

-- File transfer (stdlib/_files.lua, _sync.lua).
global_from("_files", {"upload", "download", "put_text", "get_text"})
global_from("_sync", {"sync"})

---------------------------------------------------------------------------- the run itself

-- The main chunk once, as the main thread; a run with more to it (connection flags to check
-- first, -G, -H, the REPL) is stdlib/_start.lua's.
function S.start_main(chunk, ...)
  if #options.ssh_options > 0 or options.ssh_config or options.print_config or options.hosts or options.repl then
    return builtin("_start").start_main(chunk, ...)
  end
  return thread(chunk, ...)
end

-- The exit status a run asks for beyond its main thread's outcome (-H's, a usage error's).
function S.exit_status()
  local outcome = loader_module and loader_module.loaded("_outcome")
  return outcome and outcome.exit_status or 0
end

return S
