-- The prelude's less common half, loaded on first use (a plain run needs none of it): a run
-- that is more than its main chunk once (connection flags to check first, -G, -H, the
-- REPL), the report of threads that failed and were never joined, and vars().
local builtin, core = ...
local options = core.options
local type, pcall, tostring = type, pcall, tostring
local M = {}

local function user_error(msg) return builtin("_results").user_error(msg) end
local function error_text(err, verbose) return builtin("_results").error_text(err, verbose) end

-- -o / -l / -p / --identity / -F are checked before anything runs.
local function check_connection_flags()
  if #options.ssh_options > 0 then
    local ok, err = pcall(core.sshconfig, "localhost", "/dev/null", options.ssh_options)
    if not ok then error(tostring(err), 0) end
  end
  if options.ssh_config then
    local f, err = io.open(builtin("_commands").home_path(options.ssh_config), "r")
    if not f then error("-F: cannot read " .. tostring(err), 0) end
    f:close()
  end
end

function M.start_main(chunk, ...)
  local fine, err = pcall(check_connection_flags)
  if not fine then return builtin("_outcome").usage_exit(tostring(err)) end
  if options.print_config then            -- -G HOST
    return thread(function()
      local ok, e = pcall(builtin("_sessions").print_settings, options.print_config)
      if not ok then
        core.write(2, "sshs: -G " .. options.print_config .. ": " .. error_text(e, false) .. "\n")
        builtin("_outcome").exit_status = 1
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
        if not fine then core.write(2, error_text(err, false) .. "\n") end
      end
      builtin("_repl").run()
    end)
  end
  return thread(chunk, ...)
end

function M.report_unobserved(verbose)
  for _, err in ipairs(core.unobserved()) do
    core.write(2, "sshs: a thread failed and nobody joined it: " .. error_text(err, verbose) .. "\n")
  end
end

-- vars([host]): the inventory variables of a host (default: the host this each()/-H thread
-- runs for); an empty table for a host no inventory names.
function M.vars(host)
  if host == nil then host = (core.state() or {}).host end
  if type(host) ~= "string" then
    user_error("vars: expected a host name" .. (host == nil and " (outside each() or -H, name the host)" or ""))
  end
  local ok, v = pcall(builtin("inventory").vars, host)
  if not ok then user_error(tostring(v)) end
  return v
end

return M
