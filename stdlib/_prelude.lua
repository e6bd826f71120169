-- The Lua half of the sshs runtime, compiled into the binary and run once at start-up: the
-- wiring. It loads the runtime's modules (each a stdlib/_*.lua file with an explicit return:
-- _results, _quoting, _contexts, _commands, _sessions, _outcome, _loader; _files, _sync,
-- _asroot, _console, _fleet, _fleetout, _last and _repl on first use), builds _SSHS (what the translated sugar and C call) and defines the
-- globals a script sees. C primitives arrive as `core` (interp/l_runtime.c); the table S is
-- returned to C, which keeps its own reference (a script may reassign the global _SSHS).
local core = ...
local S = {core = core}
_SSHS = S
local options = core.options

-- The loader is loaded by hand; every other built-in module through it (builtin), which
-- runs the module with (builtin, core): no module reads _SSHS.
local loader
do
  local src, file = core.embedded("_loader")
  loader = assert(core.load(src, "=sshs/" .. file, "bytecode"))(core, S)
end
local builtin = loader.builtin
local results, quoting, contexts = builtin("_results"), builtin("_quoting"), builtin("_contexts")
local commands, sessions, outcome = builtin("_commands"), builtin("_sessions"), builtin("_outcome")
local user_error, state = results.user_error, contexts.state
local type, setmetatable = type, setmetatable

---------------------------------------------------------------------------- _SSHS

-- What translated chunks call (interp/preproc.c): $cmd, $(cmd), $?(cmd), `$`, #{v}, heredocs, with.
S.run, S.cap, S.sub, S.test, S.last = commands.run, commands.cap, commands.sub, commands.test, commands.last
S.q, S.hd, S.with = quoting.q, quoting.hd, contexts.with
-- What C calls: the scheduler (user_where, inherit_state) and main.c (the rest, below).
S.user_where, S.inherit_state = results.user_where, contexts.inherit_state
S.builtin, S.read_source, S.error_text = builtin, loader.read_source, results.error_text
-- One shell word, for scripts and tests that build command text themselves.
S.quote = quoting.quote

---------------------------------------------------------------------------- globals

raw, maybe_empty = quoting.raw, quoting.maybe_empty
cd, env, timeout, idle_timeout = contexts.cd, contexts.env, contexts.timeout, contexts.idle_timeout
check, output_limits, sudo = contexts.check, contexts.output_limits, contexts.sudo
run = commands.run_current
connect, close, forward = sessions.connect, sessions.close, sessions.forward
require = loader.require
null = builtin("json").null      -- what r:json() gives for JSON null

function thread(fn, ...)
  if type(fn) ~= "function" then user_error("thread: expected a function, got " .. type(fn)) end
  return core.thread(function(...)
    -- When the thread ends, by any exit, it lets go of the sessions it holds.
    local st = state()
    local _ <close> = setmetatable({}, {__close = function()
      for i = #st.stack, 2, -1 do
        local s = st.stack[i]
        st.stack[i] = nil
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

function console(opts) return builtin("_console").console(opts) end
function shell() return builtin("_console").shell() end

function each(hosts, fn, opts) return builtin("_fleet").each(hosts, fn, opts) end

-- vars([host]): the inventory variables of a host (default: the host this each()/-H thread
-- runs for); an empty table for a host no inventory names.
function vars(host)
  if host == nil then host = (core.state() or {}).host end
  if type(host) ~= "string" then
    user_error("vars: expected a host name" .. (host == nil and " (outside each() or -H, name the host)" or ""))
  end
  local ok, v = pcall(builtin("inventory").vars, host)
  if not ok then user_error(tostring(v)) end
  return v
end

-- File transfer (stdlib/_files.lua), loaded on first use.
function upload(src, dst, opts) return builtin("_files").upload(src, dst, opts) end
function download(src, dst, opts) return builtin("_files").download(src, dst, opts) end
function put_text(path, text, opts) return builtin("_files").put_text(path, text, opts) end
function get_text(path) return builtin("_files").get_text(path) end
function sync(src, dst, opts) return builtin("_sync").sync(src, dst, opts) end

---------------------------------------------------------------------------- the run itself

-- -o / -l / -p / --identity / -F are checked before anything runs.
local function check_connection_flags()
  if #options.ssh_options > 0 then
    local ok, err = pcall(core.sshconfig, "localhost", "/dev/null", options.ssh_options)
    if not ok then error(tostring(err), 0) end
  end
  if options.ssh_config then
    local f, err = io.open(commands.home_path(options.ssh_config), "r")
    if not f then error("-F: cannot read " .. tostring(err), 0) end
    f:close()
  end
end

function S.start_main(chunk, ...)
  local fine, err = pcall(check_connection_flags)
  if not fine then return outcome.usage_exit(tostring(err)) end
  if options.print_config then            -- -G HOST
    return thread(function()
      local ok, e = pcall(sessions.print_settings, options.print_config)
      if not ok then
        core.write(2, "sshs: -G " .. options.print_config .. ": " .. results.error_text(e, false) .. "\n")
        outcome.exit_status = 1
      end
    end)
  end
  if options.hosts and (options.list_hosts or not options.repl) then return builtin("_fleet").start(chunk, ...) end
  if options.repl and options.hosts then return thread(builtin("_repl").fleet) end
  if options.repl then
    -- The REPL runs on the main thread's own state, after the script (-i) if there is one,
    -- so the script's globals and session stack stay.
    local args = table.pack(...)
    return thread(function()
      if chunk then
        local fine, err = pcall(chunk, table.unpack(args, 1, args.n))
        if not fine then core.write(2, S.error_text(err, false) .. "\n") end
      end
      builtin("_repl").run()
    end)
  end
  return thread(chunk, ...)
end

-- The exit status a run asks for beyond its main thread's outcome (-H's, a usage error's).
function S.exit_status() return outcome.exit_status end

function S.report_unobserved(verbose)
  for _, err in ipairs(core.unobserved()) do
    core.write(2, "sshs: a thread failed and nobody joined it: " .. S.error_text(err, verbose) .. "\n")
  end
end

return S
