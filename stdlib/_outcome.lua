-- The run's outcome beyond its main thread's: the exit status that -H and usage errors ask
-- for, and whether -H draws the progress line (file transfers then join it).
local builtin, core = ...
local M = {exit_status = 0, fleet_progress = false}

-- A mistake on the command line: its one line and a hint (not the whole help), exit status 2,
-- nothing run. Returns the (empty) main thread.
function M.usage_exit(msg)
  core.write(2, "sshs: " .. msg .. "\nTry 'sshs --help' for more information.\n")
  M.exit_status = 2
  return thread(function() end)
end

return M
