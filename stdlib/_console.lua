-- console(): one shell with a pty on the current session, in which each `$cmd` runs, so
-- `cd` and variables persist; shell(): the user's terminal handed to a shell there.
--
-- How a command's end is found without guessing from timing: the command is sent as
--   command eval "$(printf 'CMD as octal escapes')"; printf '\036SSHS-%s:%d\036' 'TOKEN-N' "$?"
-- (only printable ASCII crosses the pty: see command_word) and the shell's output is read until
-- "\036SSHS-TOKEN-N:<status>\036" appears. The shell parses the whole line (the $( ) spans
-- as many lines as CMD needs) before it runs any of it, so a program that reads the terminal
-- cannot take the marker's part as input; a syntax error in CMD (an unbalanced quote or
-- brace, a bad heredoc) is eval's failure (status 2) and `command` keeps it from aborting the
-- line (dash would skip the marker). TOKEN is 128 random bits per console and N counts
-- commands, so neither the command's own output (even a line that looks like a marker) nor
-- an echo of the command line (it holds the format, not the joined marker) can end a command
-- early. Everything before the marker is the command's output, byte for byte.
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

-- What crosses the pty for a command is printable ASCII only: the terminal's line discipline
-- acts on control bytes (^U erases the line, ^C/^Z/^\ signal, ^D/^W/^V/DEL edit it, CR turns
-- into a newline, ^S stops output), so a byte of a value must never reach it as one. The
-- command goes as printf octal escapes, which the shell decodes itself:
--   command eval "$(printf 'LINE1'<newline>printf 'LINE2'<newline>...)"
-- Letters, digits and ` ,./:=@_+` go as they are; every other byte is \ooo (so also quotes,
-- `\`, `%`, `!`, which bash's history expansion would read even here, and `-`: a format
-- starting with it would be an option to printf). Lines stay
-- under 3000 bytes: a terminal in canonical mode keeps at most 4095 bytes of a line. The
-- command's trailing newlines, which $( ) would drop, follow as newlines of their own.
local LINE = 3000
local function encoded(s)
  return (s:gsub("[^A-Za-z0-9 ,./:=@_+]", function(ch) return string.format("\\%03o", ch:byte()) end))
end
local function command_word(s)
  local last = #s
  while s:byte(last) == 10 do last = last - 1 end
  local e, lines, pos = encoded(s:sub(1, last)), {}, 1
  while pos <= #e do
    local stop = math.min(pos + LINE - 1, #e)
    -- never cut an escape (\ooo: a backslash in the last three bytes starts a cut one)
    local cut = stop < #e and e:sub(stop - 2, stop):find("\\", 1, true)
    if cut then stop = stop - 4 + cut end
    lines[#lines + 1] = "printf '" .. e:sub(pos, stop) .. "'"
    pos = stop + 1
  end
  return '"$(' .. table.concat(lines, "\n") .. ")" .. s:sub(last + 1) .. '"'
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

-- sudo{password =} in a console: the password must reach sudo and nothing else, so it never
-- crosses the pty (whatever prints a prompt there could read it). A separate command on the
-- session (its stdin a pipe) makes a private folder D (0700, a fresh random name: mkdir fails
-- on anything already there) holding the password (pw, 0600) and a helper script (a); the
-- console runs `SUDO_ASKPASS=/bin/sh sudo -A -p D/a`, so sudo, when it needs the password,
-- runs `/bin/sh D/a` as the calling user: the helper opens pw, removes it, and prints it to
-- sudo. Once only: a second call (the password was wrong) finds no pw, leaves `again` and
-- fails, and sudo gives up. The command sudo runs (another user) cannot enter D; D is removed
-- when the command ends. /bin/sh runs the helper, so a noexec /tmp does not matter.
local ASKPASS = 'exec 2>/dev/null; { rm -f "${0%/*}/pw" && cat; } <"${0%/*}/pw" || ' ..
                '{ : >"${0%/*}/again"; exit 1; }'
local MAKE_DIR = 'umask 077 && case ${TMPDIR-} in /*) t=$TMPDIR;; *) t=/tmp;; esac && ' ..
  'case $t in *[!A-Za-z0-9/._-]*) t=/tmp;; esac && d=${t%/}/sshs-sudo-TOKEN && mkdir "$d" && ' ..
  'cat >"$d/pw" && printf "%s\\n" HELPER >"$d/a" && printf %s "$d"'

local function session_run(sess, script, stdin)
  local fine, r = pcall(sess.exec, sess, "/bin/sh -c " .. S.quote(script), {stdin = stdin, timeout = 30}, false)
  if fine and r.exitcode == 0 then return r.stdout end
  return nil, fine and ((r.stderr ~= "" and r.stderr or r.stdout):gsub("%s+$", "")) or
              tostring(type(r) == "table" and r.message or r)
end

function Console:_askpass_dir(password)
  local script = MAKE_DIR:gsub("TOKEN", random_token(), 1):gsub("HELPER", function() return S.quote(ASKPASS) end, 1)
  local d, why = session_run(self.console_session, script, tostring(password))
  if not d or not d:match("^/[A-Za-z0-9/._-]+$") then
    S.user_error("console: sudo: could not make the password's private folder on " .. self.host ..
      ": " .. tostring(why or d))
  end
  return d
end

-- Removes D; true when the helper was called again (sudo refused the password).
function Console:_askpass_done(d)
  local out = session_run(self.console_session, "test -e " .. S.quote(d .. "/again") ..
    " && echo again; rm -rf " .. S.quote(d))
  if not out then self.leftover = d end     -- tried again after the next command, and at close
  return out ~= nil and out:find("again", 1, true) ~= nil
end

-- The line the console's shell runs for cmd under sudo, and the password folder (if any).
-- env{} values stay off sudo's command line (where ps shows them): they go as a heredoc on
-- sudo's stdin (typed into the console's shell, encoded as every command is), which the
-- shell sudo starts reads before it takes the terminal back as its stdin.
function Console:_sudo_line(cmd, o)
  local u = S.quote(o.sudo.user)
  local inner = S.shell_command(cmd, {cwd = o.cwd, pty = true})          -- cd only
  local heredoc = ""
  if o.env and next(o.env) then
    local assignments = S.shell_command("", {env = o.env, pty = true})  -- "export K='v'; ..."
    local delim
    repeat delim = "SSHS_ENV_" .. random_token() until not assignments:find(delim, 1, true)
    inner = 'eval "$(cat)"; exec </dev/tty; ' .. inner
    heredoc = " <<'" .. delim .. "'\n" .. assignments .. "\n" .. delim
  end
  local run = " -u " .. u .. " -- /bin/sh -c " .. S.quote(inner) .. heredoc
  if not o.sudo.password then return "sudo -n" .. run end
  local d = self:_askpass_dir(o.sudo.password)
  return "SUDO_ASKPASS=/bin/sh sudo -A -p " .. S.quote(d .. "/a") .. run, d
end

-- `$cmd` in a console block: runs cmd in the console's shell. Returns the raw result.
-- (cd/env blocks opened inside apply in a subshell; sudo as above.)
function Console:exec(cmd, o, show, prefix)
  self:_alive()
  if o.stdin then S.user_error("console: stdin= is not available in a console (use c:send)") end
  if self.need_sync then self:_recover() end
  if self.leftover then
    local d = self.leftover
    self.leftover = nil
    self:_askpass_done(d)
  end
  self.buf = ""                         -- output nobody expect()ed is dropped
  local line, askpass_dir = cmd, nil
  if o.sudo then
    line, askpass_dir = self:_sudo_line(cmd, o)
  else
    local inner = S.shell_command(cmd, {cwd = o.cwd, env = o.env, pty = true})
    if inner ~= cmd then line = "( " .. inner .. "\n)" end   -- a block's cd/env stay in the block
  end
  self.seq = self.seq + 1
  local tok = self.token .. "-" .. self.seq
  local pat = "\030SSHS%-" .. escape(tok) .. ":(%d+)\030"
  local t0 = core.clock()
  local deadline = o.timeout and (t0 + o.timeout)
  local shown, out, status, timed_out = 0, nil, nil, false
  self.collecting = true
  local fine, err = pcall(function()
    self.pty:write("command eval " .. command_word(line) .. "; " .. marker_line(tok))
    while true do
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
  local refused = false
  if askpass_dir then
    if fine then refused = self:_askpass_done(askpass_dir) else self.leftover = askpass_dir end
  end
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
  local d = self.leftover                 -- a password folder a stopped command left
  self.leftover = nil
  if d then self:_askpass_done(d) end
end
Console.__close = function(c) c:close() end
function Console:retain() end
function Console:release() end

-- zsh: its line editor echoes on its own, and its `command` runs only programs unless
-- POSIX_BUILTINS is set (the wrapper needs `command eval`). bash: no history (it joins the
-- lines of a long command into one entry, line by line: seconds for a command of 1 MB).
local SETUP = "[ -n \"${ZSH_VERSION-}\" ] && { unsetopt zle prompt_cr prompt_sp; " ..
  "setopt posix_builtins no_bang_hist; PROMPT_EOL_MARK=''; RPROMPT=''; } 2>/dev/null; " ..
  "stty -echo -onlcr 2>/dev/null; set +o emacs +o vi 2>/dev/null; " ..
  "[ -n \"${BASH_VERSION-}\" ] && set +o history; " ..
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
