-- console(): one shell with a pty on the current session, in which each `$cmd` runs, so
-- `cd` and variables persist; shell(): the user's terminal handed to a shell there.
--
-- How a command's end is found without guessing from timing: the command is sent as
--   command eval 'CMD'; printf '\036SSHS-%s:%d\036' 'TOKEN-N' "$?"
-- and the shell's output is read until "\036SSHS-TOKEN-N:<status>\036" appears. The shell
-- parses the whole line (CMD is one quoted word, however many lines it has) before it runs
-- any of it, so a program that reads the terminal cannot take the marker's part as input;
-- a syntax error in CMD (an unbalanced quote or brace, a bad heredoc) is eval's failure
-- (status 2) and `command` keeps it from aborting the line (dash would skip the marker). TOKEN is
-- 128 random bits per console and N counts commands, so neither the command's own output
-- (even a line that looks like a marker) nor an echo of the command line (it holds the
-- format, not the joined marker) can end a command early. Everything before the marker is
-- the command's output, byte for byte.
local builtin, core = ...
-- The runtime's parts this module uses (stdlib/_results.lua, _contexts.lua, _quoting.lua,
-- _commands.lua), by the names it had on _SSHS.
local S
do
  local results, contexts = builtin("_results"), builtin("_contexts")
  S = {user_error = results.user_error, user_where = results.user_where, ConnectError = results.ConnectError,
       state = contexts.state, current_session = contexts.current_session, LOCAL = contexts.LOCAL,
       quote = builtin("_quoting").quote, shell_command = builtin("_commands").shell_command}
end
local M = {}

local Console = {__name = "sshs.console"}
-- Fields a console does not have come from the session it runs on (host, conn, kind...).
Console.__index = function(c, k)
  local v = Console[k]
  if v ~= nil then return v end
  return rawget(c, "console_session")[k]
end
Console.__tostring = function(c) return "console on " .. tostring(c.host) end

local SYNC_TIMEOUT = 15          -- seconds for the shell to answer a marker of ours
local KEEP = 1 << 20             -- unread console output kept for expect (the newest bytes)

local function random_token()
  local f = io.open("/dev/urandom", "rb")
  local s = f and f:read(16)
  if f then f:close() end
  if not s or #s < 16 then s = tostring(core.clock()) .. tostring({}) end
  return (s:gsub(".", function(ch) return string.format("%02x", ch:byte()) end))
end

local function tail(s)
  if #s > 300 then s = "..." .. s:sub(-300) end
  return string.format("%q", s):gsub("\\\n", "\\n")
end

local function escape(s) return (s:gsub("%p", "%%%0")) end

-- A terminal in canonical mode keeps at most 4095 bytes of a line (the rest is dropped until
-- the newline), so CMD goes as one shell word in physical lines of a few KB: quoted pieces
-- joined by backslash-newline, which the shell removes. 900 bytes quote to at most 3.6 KB.
local PIECE = 900
local function word_in_lines(s)
  if #s <= PIECE then return S.quote(s) end
  local parts = {}
  for i = 1, #s, PIECE do parts[#parts + 1] = S.quote(s:sub(i, i + PIECE - 1)) end
  return table.concat(parts, "\\\n")
end

-- The marker line for token tok, ending the command list before it.
local function marker_line(tok, status)
  return "printf '\\036SSHS-%s:%d\\036' '" .. tok .. "' " .. (status or "\"$?\"") .. "\n"
end

function Console:_alive()
  if self.dead then
    S.user_error("console: the shell on " .. self.host .. " has ended" ..
      (self.dead ~= true and (" (" .. self.dead .. ")") or ""))
  end
end

-- Reads more output into self.buf: false when the time ran out; raises when the shell ended.
function Console:_fill(seconds)
  local data, why = self.pty:read(seconds)
  if data == nil then
    self.dead = self.pty:why() or true
    self:_alive()
  end
  if data == "" then return false end
  self.buf = self.buf .. data
  if #self.buf > KEEP * 2 and not self.collecting then self.buf = self.buf:sub(-KEEP) end
  return true
end

-- Sends a marker of its own and reads up to it: returns what came before, or nil when it did
-- not come within `seconds` (it raises when the shell ended).
function Console:_sync(status, seconds)
  self.seq = self.seq + 1
  local tok = self.token .. "-" .. self.seq
  self.pty:write(marker_line(tok, status or "0"))
  local pat = "\030SSHS%-" .. escape(tok) .. ":(%d+)\030"
  local deadline = core.clock() + (seconds or SYNC_TIMEOUT)
  self.collecting = true
  while true do
    local s, e = self.buf:find(pat)
    if s then
      local before = self.buf:sub(1, s - 1)
      self.buf = self.buf:sub(e + 1)
      self.collecting = false
      return before
    end
    local left = deadline - core.clock()
    if left <= 0 then self.collecting = false; return nil end
    self:_fill(left)
  end
end

-- After Ctrl-C (a timeout, or the REPL's): the shell drops what it was running; a marker of
-- ours says when it listens again. The marker line goes only once the interrupted program
-- has had a moment to go (a program still reading the terminal would take the line as its
-- input); if it is eaten anyway, Ctrl-C and a new marker again.
function Console:_recover()
  local got = {}
  -- A Ctrl-C that lands while the shell is still starting the command reaches the shell, not
  -- the command: so Ctrl-C and a marker again, soon, a few times.
  for _ = 1, 6 do
    self.pty:write("\003")
    local quiet = core.clock() + 0.3
    while core.clock() < quiet do self:_fill(quiet - core.clock()) end
    got[#got + 1] = self.buf
    self.buf = ""
    local out = self:_sync("130", 2)
    if out then
      self.need_sync = false
      return table.concat(got) .. out
    end
  end
  self.dead = "it did not come back after Ctrl-C; last output: " .. tail(table.concat(got) .. self.buf)
  self:_alive()
end

-- `$cmd` in a console block: runs cmd in the console's shell. Returns the raw result.
-- (cd/env blocks opened inside apply in a subshell; sudo answers sudo's prompt.)
function Console:exec(cmd, o, show, prefix)
  self:_alive()
  if self.need_sync then self:_recover() end
  self.buf = ""                         -- output nobody expect()ed is dropped
  local inner = S.shell_command(cmd, {cwd = o.cwd, env = o.env, pty = true})
  local line = cmd
  local sudo_prompt
  if o.sudo then
    local u = S.quote(o.sudo.user)
    if o.sudo.password then
      sudo_prompt = random_token()
      line = "sudo -p \"$(printf '\\036SUDO-%s\\036' '" .. sudo_prompt .. "')\" -u " .. u ..
             " -- /bin/sh -c " .. S.quote(inner)
    else
      line = "sudo -n -u " .. u .. " -- /bin/sh -c " .. S.quote(inner)
    end
  elseif inner ~= cmd then
    line = "( " .. inner .. "\n)"       -- a block's cd/env stay in the block
  end
  if o.stdin then S.user_error("console: stdin= is not available in a console (use c:send)") end
  self.seq = self.seq + 1
  local tok = self.token .. "-" .. self.seq
  local pat = "\030SSHS%-" .. escape(tok) .. ":(%d+)\030"
  local prompt_pat = sudo_prompt and ("\030SUDO%-" .. sudo_prompt .. "\030")
  local t0 = core.clock()
  local deadline = o.timeout and (t0 + o.timeout)
  self.pty:write("command eval " .. word_in_lines(line) .. "; " .. marker_line(tok))
  local shown, out, status, timed_out = 0, nil, nil, false
  local answered, refused, newline_at = false, false, nil
  self.collecting = true
  local fine, err = pcall(function()
    while true do
      if prompt_pat then
        local s, e = self.buf:find(prompt_pat)
        if s and answered then
          -- Asked again: the password was wrong. Stop sudo rather than let it ask twice more.
          local before = self.buf:sub(1, s - 1)
          self.buf = ""
          self:_recover()
          out, status, refused = before, 1, true
          break
        end
        if s then
          self.buf = self.buf:sub(1, s - 1) .. self.buf:sub(e + 1)
          self.pty:write(tostring(o.sudo.password) .. "\n")
          answered, newline_at = true, s
        end
      end
      -- sudo ends its (silent) password line with a newline of its own: not output.
      if newline_at and #self.buf >= newline_at then
        if self.buf:sub(newline_at, newline_at) == "\n" then
          self.buf = self.buf:sub(1, newline_at - 1) .. self.buf:sub(newline_at + 1)
        end
        newline_at = nil
      end
      local s, e, code = self.buf:find(pat)
      if s then
        out, status = self.buf:sub(1, s - 1), tonumber(code)
        self.buf = self.buf:sub(e + 1)
        break
      end
      if show then
        -- Live output: all but what might be the start of the marker.
        local hold = self.buf:find("\030", shown + 1, true) or (#self.buf + 1)
        if hold - 1 > shown then
          core.write(1, self.buf:sub(shown + 1, hold - 1))
          shown = hold - 1
        end
      end
      local left = deadline and (deadline - core.clock())
      if left and left <= 0 then
        timed_out = true
        local before = self.buf
        self.buf = ""
        out = (before .. self:_recover()):gsub(pat, "")
        break
      end
      self:_fill(left)
    end
  end)
  self.collecting = false
  if not fine then
    if not self.dead then self.need_sync = true; self.pty:write("\003") end
    if type(err) == "string" and err == "interrupted" then error(err, 0) end
    if self.dead then
      error(setmetatable({message = S.user_where() .. "console: the shell on " .. self.host ..
        " ended while running: " .. cmd .. "; last output: " .. tail(self.buf), host = self.host,
        cmd = cmd, kind = "connection"}, S.ConnectError), 0)
    end
    error(err, 0)
  end
  if show and #out > shown then core.write(1, out:sub(shown + 1)) end
  local r = {stdout = out, stderr = refused and "sudo: the password was not accepted\n" or "",
             duration = core.clock() - t0, timed_out = timed_out}
  if timed_out then r.signal = "INT" else r.exitcode = status end
  return r
end

-- c:send(text): to the shell (or the program running in it), as typed.
function Console:send(text)
  if type(text) ~= "string" then S.user_error("send: expected a string, got " .. type(text)) end
  self:_alive()
  self.pty:write(text)
end

-- c:expect(pattern [, seconds]): waits until the output (since the last expect or command)
-- matches the Lua pattern; returns it up to and including the match.
function Console:expect(pattern, seconds)
  if type(pattern) ~= "string" then S.user_error("expect: expected a Lua pattern, got " .. type(pattern)) end
  seconds = seconds or 30
  if type(seconds) ~= "number" or seconds <= 0 then S.user_error("expect: the time limit must be a positive number") end
  local fine, msg = pcall(string.find, "", pattern)
  if not fine then S.user_error("expect: bad pattern: " .. tostring(msg)) end
  local deadline = core.clock() + seconds
  while true do
    local s, e = self.buf:find(pattern)
    if s then
      local text = self.buf:sub(1, e)
      self.buf = self.buf:sub(e + 1)
      return text
    end
    if self.dead then
      S.user_error("expect: the shell on " .. self.host .. " ended before " .. string.format("%q", pattern) ..
        " appeared; last output: " .. tail(self.buf))
    end
    local left = deadline - core.clock()
    if left <= 0 then
      S.user_error("expect: " .. string.format("%q", pattern) .. " not seen within " .. seconds ..
        "s on " .. self.host .. "; last output: " .. tail(self.buf))
    end
    local ok = pcall(self._fill, self, left)
    if not ok and not self.dead then error("interrupted", 0) end
  end
end

-- Pops the console from its thread's stack and hangs its shell up.
function Console:close()
  if self.closed then return end
  self.closed = true
  local st = self.st
  if st then
    for i = #st.stack, 2, -1 do
      if st.stack[i] == self then table.remove(st.stack, i); break end
    end
  end
  self.pty:close()
end
Console.__close = function(c) c:close() end
function Console:retain() end
function Console:release() end

-- zsh: its line editor echoes on its own, and its `command` runs only programs unless
-- POSIX_BUILTINS is set (the wrapper needs `command eval`).
local SETUP = "[ -n \"${ZSH_VERSION-}\" ] && { unsetopt zle prompt_cr prompt_sp; " ..
  "setopt posix_builtins no_bang_hist; PROMPT_EOL_MARK=''; RPROMPT=''; } 2>/dev/null; " ..
  "stty -echo -onlcr 2>/dev/null; set +o emacs +o vi 2>/dev/null; " ..
  "unset HISTFILE PROMPT_COMMAND 2>/dev/null; PS1=''; PS2=''; export TERM=dumb PAGER=cat GIT_PAGER=cat; "

-- console(): opens the shell and pushes it on this thread's session stack.
function M.console(opts)
  if opts ~= nil and type(opts) ~= "table" then S.user_error("console: options must be a table") end
  opts = opts or {}
  local st = S.state()
  local sess = S.current_session(st)
  if getmetatable(sess) == Console then sess = sess.console_session end
  local p
  local fine, err = pcall(function()
    if sess == S.LOCAL then p = core.pty_local{shell = opts.shell or "/bin/sh", cols = 200, rows = 50}
    else
      -- shell = path: that shell instead of the login shell (one that is not of the sh
      -- family, fish or csh, cannot run the wrapper); sshd starts it through the login shell.
      if opts.shell ~= nil and type(opts.shell) ~= "string" then S.user_error("console: shell must be a path") end
      p = sess.conn:pty{cols = 200, rows = 50, term = "xterm", cmd = opts.shell and ("exec " .. S.quote(opts.shell))}
    end
  end)
  if not fine then S.user_error("console: " .. tostring(err)) end
  local c = setmetatable({pty = p, console_session = sess, token = random_token(), seq = 0,
                          buf = "", st = st}, Console)
  local ok, e = pcall(function()
    p:write(SETUP)
    if not c:_sync("0") then
      c.dead = "it did not answer within " .. SYNC_TIMEOUT .. "s; last output: " .. tail(c.buf)
      c:_alive()
    end
  end)
  if not ok then
    p:close()
    if e == "interrupted" then error(e, 0) end
    local why = p:why()
    S.user_error("console: could not start a shell on " .. sess.host .. ": " ..
      (why or (type(e) == "table" and e.message or tostring(e))))
  end
  st.stack[#st.stack + 1] = c
  return c
end
M.Console = Console

-- shell(): the user's terminal bridged to an interactive shell on the current session.
function M.shell()
  local sess = S.current_session()
  if getmetatable(sess) == Console then sess = sess.console_session end
  local p
  local fine, err = pcall(function()
    if sess == S.LOCAL then p = core.pty_local{shell = os.getenv("SHELL") or "/bin/sh"}
    else p = sess.conn:pty{term = os.getenv("TERM") or "xterm"} end
  end)
  if not fine then S.user_error("shell: " .. tostring(err)) end
  local _ <close> = p
  local ok, e = pcall(p.bridge, p)
  if not ok then
    if e == "interrupted" then error(e, 0) end
    S.user_error(tostring(e))
  end
  local why = p:why()
  if why then S.user_error("shell: " .. why) end
end

return M
