-- Commands: running one on a session with the thread's context blocks applied (what $cmd,
-- $(cmd), $?(cmd) and run() do), the shell text that carries cd, env and sudo to a shell we
-- reach through a command line, and the wait that streams output to callbacks.
local builtin, core = ...
local results, contexts = builtin("_results"), builtin("_contexts")
local quote = builtin("_quoting").quote
local user_error, cut, fail, overflow = results.user_error, results.cut, results.fail, results.overflow
local Result = results.Result
local LOCAL, state, current_session, effective = contexts.LOCAL, contexts.state, contexts.current_session, contexts.effective
local concat, type, setmetatable = table.concat, type, setmetatable
local M = {}

-- -v: every command and its output is echoed (prefixed by host); colour on a terminal.
M.verbose = core.options.verbose
M.color = core.isatty(2) and not os.getenv("NO_COLOR")

-- "cd DIR && export K=V; cmd" for shells we only reach through a command line.
local function quote_path(p)
  if p == "~" then return "~" end
  if p:sub(1, 2) == "~/" then return "~/" .. quote(p:sub(3)) end
  return quote(p)
end

local function env_assignments(env)
  local keys, parts = {}, {}
  for k in pairs(env) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v = env[k]
    if v == false then parts[#parts + 1] = "unset " .. k .. ";"
    else parts[#parts + 1] = "export " .. k .. "=" .. quote(tostring(v)) .. ";" end
  end
  return concat(parts, " ")
end

-- The user's command as one quoted word for eval, so that the shell parses it on its own:
-- a syntax error then quotes only the user's text ("bash: eval: line 1: `echo ( oops'"), not
-- the wrappers put around it (the pid marker, env, cd, sudo's tokens).
function M.own_parse(cmd) return "eval " .. quote(cmd) end

-- Wraps cmd for a shell we reach through a command line (remote, or under sudo) with o's
-- cwd, env and sudo; returns the command line, its stdin, and for sudo with a password the
-- feed that M.collect answers sudo's prompt with (see below). Env values never go on the
-- command line (where `ps` shows them): they come first on stdin, read by
-- `eval "$(head -c N)"`, which takes exactly those N bytes, so the command's own stdin follows
-- intact. With a pty (whose echo would print them) they stay on the command line.
function M.shell_command(cmd, o)
  local pre, lead = {}, ""
  if o.env and next(o.env) then
    local a = env_assignments(o.env)
    if o.pty then pre[#pre + 1] = a
    else
      pre[#pre + 1] = 'eval "$(head -c ' .. #a .. ')";'
      lead = a
    end
  end
  if o.cwd then pre[#pre + 1] = "cd " .. quote_path(o.cwd) .. " &&" end
  if #pre > 0 then cmd = concat(pre, " ") .. " " .. cmd end
  local stdin = lead ~= "" and (lead .. (o.stdin or "")) or o.stdin
  if not o.sudo then return cmd, stdin end
  local u = quote(o.sudo.user)
  if o.sudo.password then
    -- The password is written only when sudo asks: sudo prints our random prompt token
    -- (-p) on stderr, M.collect sees it (cmdout's watch), answers, and the token is taken
    -- out. The shell sudo starts prints a second token first; only then does the command's
    -- own stdin (env values, then o.stdin) go, and EOF. With NOPASSWD, cached credentials
    -- or root, sudo asks nothing and the password is never sent anywhere.
    local function token(what)
      return string.format("[sshs-%s-%08x%08x]", what, math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
    end
    local feed = {prompt = token("sudo"), start = token("run"), password = tostring(o.sudo.password), rest = stdin or ""}
    cmd = "printf '%s' " .. feed.start .. " >&2; " .. cmd
    return "sudo -S -p " .. quote(feed.prompt) .. " -u " .. u .. " -- /bin/sh -c " .. quote(cmd), nil, feed
  end
  return "sudo -n -u " .. u .. " -- /bin/sh -c " .. quote(cmd), stdin
end

-- The options of a command op (core.spawn, conn:exec) from o's, with stdin, the live echo
-- (show, prefix) and, for sudo with a password, what answers its prompt through M.collect
-- (feed as above).
function M.op_options(o, stdin, show, prefix, feed)
  local opts = {stdin = stdin, pty = o.pty, timeout = o.timeout, idle_timeout = o.idle_timeout,
                stoppable = o.stoppable, max_output = o.max_output, keep_shown = o.keep_shown,
                echo = show, prefix = prefix, color = prefix and M.color,
                stream_stdout = o.on_stdout and true, stream_stderr = o.on_stderr and true}
  if feed then
    opts.watch, opts.watch_stdout, opts.stdin_open, opts.stdin = {feed.prompt, feed.start}, o.pty, true, nil
  end
  return opts
end

-- A local path with a leading ~ made $HOME (nil stays nil).
local function home_path(p)
  if p and (p == "~" or p:sub(1, 2) == "~/") then return (os.getenv("HOME") or "") .. p:sub(2) end
  return p
end
M.home_path = home_path

-- Waits for a command op to end, handing streamed chunks to the callbacks; returns its raw
-- result. A failure of the wait itself (a lost connection) goes to on_lost, else is raised.
function M.collect(op, o, on_lost, feed)
  while true do
    local fine, ev, data = pcall(op.wait, op)
    if not fine then
      if on_lost then on_lost(ev) end
      error(ev, 0)
    end
    if ev == "done" then return op:result() end
    if ev == "watch" then
      if data == 1 and not feed.answered then      -- sudo asks: the password, once
        feed.answered = true
        op:write(feed.password .. "\n")
      elseif data == 1 then                         -- asked again: it was wrong; let sudo fail
        op:write("", true)
      else                                          -- the command runs: its own stdin
        op:write(feed.rest, true)
      end
      goto continue
    end
    do
      local cb = ev == "stdout" and o.on_stdout or o.on_stderr
      if cb then cb(data) end
    end
    ::continue::
  end
end

-- Runs cmd on the local machine; returns the raw result fields.
function LOCAL:exec(cmd, o, show, prefix)
  local sp, feed
  if o.sudo then       -- cd and env apply inside sudo (which resets the environment)
    local stdin
    cmd, stdin, feed = M.shell_command(M.own_parse(cmd), o)
    sp = M.op_options(o, stdin, show, prefix, feed)
  else
    sp = M.op_options(o, o.stdin, show, prefix)
    sp.cwd, sp.env = home_path(o.cwd), o.env
  end
  local fine, op = pcall(core.spawn, cmd, sp)
  if not fine then
    if sp.cwd then user_error("cd(" .. sp.cwd .. "): " .. tostring(op):gsub("^.-%): ", "", 1)) end
    user_error(cut(tostring(op)))
  end
  local _ <close> = op
  return M.collect(op, o, nil, feed)
end

-- Hands a shown command's output to the fleet's streams as it arrives (on_stdout/on_stderr,
-- the user's own still called). Streamed output is not kept by the command, so the last
-- keep_shown bytes are kept here; returns the function that puts them in the result.
local function tee_streams(o, streams)
  local bound = o.keep_shown or 1024 * 1024
  local tails = {stdout = {n = 0}, stderr = {n = 0}}
  local user = {stdout = o.on_stdout, stderr = o.on_stderr}
  for _, name in ipairs{"stdout", "stderr"} do
    local t, send, own = tails[name], streams[name], user[name]
    o["on_" .. name] = function(chunk)
      send(chunk)
      if own then return own(chunk) end
      t[#t + 1], t.n = chunk, t.n + #chunk
      if t.n > 2 * bound + 4096 then
        local s = table.concat(t):sub(-bound)
        for i = #t, 1, -1 do t[i] = nil end
        t[1], t.n = s, #s
      end
    end
  end
  return function(r)
    for _, name in ipairs{"stdout", "stderr"} do
      if not user[name] then
        local s = table.concat(tails[name])
        r[name] = #s > bound and s:sub(-bound) or s
      end
    end
  end
end

-- Runs one command on session sess with the thread's contexts (and extra options) applied.
local function exec(sess, cmd, show, extra, test)
  local st = state()
  local o = effective(st, sess)
  if extra then for k, v in pairs(extra) do o[k] = v end end
  if st.deadline then                       -- each{host_timeout}: what is left of it
    local left = st.deadline - core.clock()
    if left <= 0 then user_error("host time limit exceeded before: " .. cmd) end
    if not o.timeout or o.timeout > left then o.timeout = left end
  end
  if st.idle_timeout and not o.idle_timeout then o.idle_timeout = st.idle_timeout end  -- each{idle_timeout}
  local prefix = st.prefix
  -- -v outside each/-H: a remote command and its output carry the session's host.
  if M.verbose and not prefix and sess ~= LOCAL then prefix = sess.host .. ": " end
  if M.verbose then
    local line = (prefix or "") .. "$ " .. cmd .. "\n"
    if st.sink then st.sink[#st.sink + 1] = line else core.write(2, line) end
    show = true
  end
  local sink = show and st.sink
  local streams = show and st.streams         -- -H --output-dir / --jsonl: a copy as it comes
  local kept
  if streams then kept = tee_streams(o, streams) end
  local r = sess:exec(cmd, o, show and not sink and not (streams and streams.quiet), prefix)
  if kept then kept(r) end
  if sink then sink[#sink + 1] = r.stdout; sink[#sink + 1] = r.stderr end
  r.cmd, r.host, r.ok, r.timeout = cmd, sess.host, r.exitcode == 0, o.timeout
  r.timed_out = r.timed_out or false      -- the same (false) locally and remotely
  if r.idle_timed_out then r.idle_timeout = o.idle_timeout end
  setmetatable(r, Result)
  st.last = r
  if r.overflow then overflow(r) end
  if not r.ok and not test and o.check ~= false then fail(r) end
  return r
end

function M.run(parts) return exec(current_session(), concat(parts), true) end
function M.cap(parts) return exec(current_session(), concat(parts), false) end
function M.sub(parts) return (exec(current_session(), concat(parts), false).stdout:gsub("\n+$", "")) end
function M.test(parts) return exec(current_session(), concat(parts), false, nil, true).ok end
function M.last()
  local r = state().last
  if r == nil then user_error("$ has no value yet: no command has run in this thread") end
  return r
end

local run_options = {stdin = "string", pty = "boolean", timeout = "number", idle_timeout = "number", env = "table",
                     check = "boolean", on_stdout = "function", on_stderr = "function", show = "boolean",
                     stoppable = "boolean", max_output = "number", keep_shown = "number"}

function M.check_run_args(cmd, opts)
  if type(cmd) ~= "string" then user_error("run: expected a command string, got " .. type(cmd)) end
  if opts ~= nil and type(opts) ~= "table" then user_error("run: options must be a table") end
  for k, v in pairs(opts or {}) do
    local want = run_options[k]
    if not want then user_error("run: unknown option '" .. tostring(k) .. "'") end
    if type(v) ~= want then user_error("run: option " .. k .. " must be a " .. want .. ", got " .. type(v)) end
  end
  if opts and opts.env then contexts.check_env(opts.env, "run: option env") end
end

-- run(cmd, opts): the explicit API on the current session; quiet unless opts.show.
function M.run_current(cmd, opts)
  M.check_run_args(cmd, opts)
  return M.run_on(current_session(), cmd, opts)
end

function M.run_on(sess, cmd, opts)
  local extra
  if opts then
    extra = {}
    for k, v in pairs(opts) do extra[k] = v end
    if opts.env then
      local merged = effective(state(), sess).env or {}
      for k, v in pairs(opts.env) do merged[k] = v end
      extra.env = merged
    end
    extra.show = nil
  end
  return exec(sess, cmd, opts and opts.show or false, extra, opts and opts.check == false)
end

return M
