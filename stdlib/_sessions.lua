-- Remote sessions: targets, connect options merged with ~/.ssh/config and the defaults,
-- opening a connection (through jump hosts), the session object, connect() and close(),
-- and port forwards on the current session.
local builtin, core = ...
local results, contexts, commands = builtin("_results"), builtin("_contexts"), builtin("_commands")
local user_error, user_where, without_runtime_where = results.user_error, results.user_where, results.without_runtime_where
local ConnectError = results.ConnectError
local LOCAL, state, current_session, effective = contexts.LOCAL, contexts.state, contexts.current_session, contexts.effective
local check_run_args, run_on, home_path = commands.check_run_args, commands.run_on, commands.home_path
local options = core.options
local type, setmetatable, getmetatable, error = type, setmetatable, getmetatable, error
local M = {}

local Session = {__name = "sshs.session"}
Session.__index = Session
M.Session = Session

-- "user@host:port", "[v6]:port", "host" -> user, host, port (user and port may be nil).
-- A bare IPv6 address: hex groups and colons (with "::" or all eight groups), maybe a zone.
local function is_ipv6(s)
  local addr = s:match("^([%x:.]+)%%?[%w]*$")
  if not addr or not addr:find(":", 1, true) then return false end
  local _, colons = addr:gsub(":", "")
  return addr:find("::", 1, true) ~= nil or colons == 7
end

local function port_number(p, where)
  local n = math.tointeger(tonumber(p))
  if not n or n < 1 or n > 65535 then
    user_error(where .. ": port " .. tostring(p) .. " is out of range (1-65535)")
  end
  return n
end
M.port_number = port_number

local function parse_target(target)
  local user, rest = target:match("^(.*)@(.*)$")
  if user == "" or rest == "" then return nil end
  rest = rest or target
  local host, port
  if rest:sub(1, 1) == "[" then
    host, port = rest:match("^%[([^%]]+)%]:?(%d*)$")
  else
    host, port = rest:match("^([^:]+):(%d+)$")
    if not host and not rest:find(":", 1, true) then host = rest end
    if not host and is_ipv6(rest) then host = rest end
  end
  if not host or host == "" or host:find("[%s/@]") then return nil end
  if port and port ~= "" then port = port_number(port, "connect('" .. target .. "')") else port = nil end
  return user, host, port
end

-- Connection defaults, decided here only: C takes every value from the params table.
local connect_defaults = {port = 22, timeout = 30, keepalive = 0, keepalive_max = 3, max_sessions = 10}

local connect_options = {user = "string", port = "number", password = "string", key = "string",
  passphrase = "string", agent = "boolean", timeout = "number", keepalive = "number",
  known_hosts = "string", host_key_check = "string", via = true, max_sessions = "number",
  ssh_config = "string", ciphers = "string", macs = "string", kex = "string", proxy_command = "string",
  retries = "number", forward_agent = "boolean"}

local function check_connect_options(opts, where)
  if opts == nil then return {} end
  if type(opts) ~= "table" then user_error(where .. ": options must be a table") end
  for k, v in pairs(opts) do
    local want = connect_options[k]
    if not want then user_error(where .. ": unknown option '" .. tostring(k) .. "'") end
    if want ~= true and type(v) ~= want then
      user_error(where .. ": option " .. k .. " must be a " .. want .. ", got " .. type(v))
    end
  end
  local hk = opts.host_key_check
  if hk and hk ~= "yes" and hk ~= "accept-new" and hk ~= "no" then
    user_error(where .. ": host_key_check must be \"yes\", \"accept-new\" or \"no\"")
  end
  local ms = opts.max_sessions
  if ms and (ms < 1 or ms % 1 ~= 0) then user_error(where .. ": max_sessions must be a whole number >= 1") end
  local rt = opts.retries
  if rt and (rt < 0 or rt % 1 ~= 0) then user_error(where .. ": retries must be a whole number >= 0") end
  return opts
end
M.check_connect_options = check_connect_options

local hostkey_modes = {yes = "yes", ask = "yes", ["accept-new"] = "accept-new", no = "no", off = "no"}

-- `with timeout(s)` and each{host_timeout} also bound connecting inside them.
local function connect_timeout(t)
  local st = state()
  local eff = effective(st, nil)
  for _, bound in ipairs{eff.timeout or false, eff.idle_timeout or false, st.idle_timeout or false} do
    if bound and bound < t then t = bound end
  end
  if st.deadline then
    local left = st.deadline - core.clock()
    if left < t then t = math.max(left, 0.001) end
  end
  return t
end

-- ProxyCommand's %-tokens with the final values (as ssh expands them after the command line):
-- %h host name, %p port, %r remote user, %n the name as typed, %d home, %u local user, %%.
local function expand_proxy_command(cmd, where, v)
  return (cmd:gsub("%%(.?)", function(t)
    local r = v[t]
    if not r then
      user_error("connect: " .. where .. ": unknown token %" .. t .. " in ProxyCommand \"" .. cmd .. "\"")
    end
    return r
  end))
end

-- What a connection to target would use, from the options, ssh config and defaults: the
-- settings (for core.connect and sshs -G) and the jump chain (a string or session), or nil.
function M.connect_settings(target, opts)
  local tuser, alias, tport = parse_target(target)
  if not alias then user_error("connect: bad target '" .. target .. "' (expected host, user@host, user@host:port or [v6addr]:port)") end
  local home = os.getenv("HOME") or ""
  local cfg_path = home_path(opts.ssh_config or options.ssh_config) or (home .. "/.ssh/config")
  local ok, cfg = pcall(core.sshconfig, alias, cfg_path, options.ssh_options, opts.user or tuser)
  if not ok then user_error("connect: " .. tostring(cfg)) end
  local local_user = os.getenv("USER") or os.getenv("LOGNAME") or "root"
  local user = opts.user or tuser or cfg.user or local_user
  local port = opts.port or tport or cfg.port or connect_defaults.port
  port = port_number(port, "connect('" .. target .. "')")
  local hostname = cfg.hostname or alias
  local keys = {}
  if opts.key then keys[#keys + 1] = {path = home_path(opts.key), given = true} end
  for _, f in ipairs(cfg.identity_files) do keys[#keys + 1] = {path = f, given = true} end
  if #cfg.identity_files == 0 then
    for _, name in ipairs{"id_ed25519", "id_ecdsa", "id_rsa"} do
      keys[#keys + 1] = {path = home .. "/.ssh/" .. name}
    end
  end
  local shown = alias:find(":", 1, true) and ("[" .. alias .. "]") or alias
  local display = user .. "@" .. shown .. (port ~= connect_defaults.port and tport and (":" .. port) or "")
  local agent = opts.agent
  if agent == nil then agent = os.getenv("SSH_AUTH_SOCK") ~= nil and cfg.identity_agent ~= "none" end

  -- Jump hosts: opts.via, else ProxyJump or ProxyCommand (the first in the config), else the
  -- session we are inside of.
  local chain, proxy_command, where = opts.via, opts.proxy_command, "connect{proxy_command}"
  if chain == nil and proxy_command == nil then
    if cfg.proxyjump and cfg.proxyjump ~= "none" then chain = cfg.proxyjump end
    if cfg.proxycommand and cfg.proxycommand ~= "none" then
      proxy_command, where = cfg.proxycommand, cfg.proxycommand_where
    end
  end
  if proxy_command then
    proxy_command = expand_proxy_command(proxy_command, where,
      {h = hostname, p = tostring(port), r = user, n = alias, d = home, u = local_user, ["%"] = "%"})
  end
  local hostkey_name = cfg.host_key_alias or hostname
  local params = {
    display = display, hostname = hostname, hostkey_name = hostkey_name, user = user, port = port,
    password = opts.password, passphrase = opts.passphrase, keys = keys, agent = agent,
    -- UserKnownHostsFile none: no user file at all (as OpenSSH), not a file named "none".
    known_hosts = home_path(opts.known_hosts)
                  or (cfg.user_known_hosts_file ~= "none" and cfg.user_known_hosts_file)
                  or (cfg.user_known_hosts_file == nil and home .. "/.ssh/known_hosts") or nil,
    global_known_hosts = cfg.global_known_hosts_files or {"/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"},
    host_key_check = opts.host_key_check or hostkey_modes[cfg.strict_host_key_checking or "yes"] or "yes",
    timeout = opts.timeout or cfg.connect_timeout or connect_defaults.timeout,
    keepalive = opts.keepalive or cfg.server_alive_interval or connect_defaults.keepalive,
    keepalive_max = cfg.server_alive_count_max or connect_defaults.keepalive_max,
    max_channels = opts.max_sessions or connect_defaults.max_sessions,
    ciphers = opts.ciphers or cfg.ciphers, macs = opts.macs or cfg.macs, kex = opts.kex or cfg.kexalgorithms,
    proxy_command = proxy_command,
    hash_known_hosts = cfg.hash_known_hosts == "yes",
    certificates = cfg.certificate_files,
  }
  -- Agent forwarding: only when asked (forward_agent, else ForwardAgent yes), never by default.
  if opts.forward_agent ~= nil then
    params.forward_agent, params.forward_agent_where = opts.forward_agent, "forward_agent"
  else
    params.forward_agent = cfg.forward_agent == "yes"
    params.forward_agent_where = "ForwardAgent yes (" .. tostring(cfg.forward_agent_where) .. ")"
  end
  -- Connects made for a refused or reset connection: opts.retries + 1, else ConnectionAttempts.
  params.attempts = opts.retries and opts.retries + 1 or cfg.connection_attempts or 1
  return params, chain, cfg, alias
end

-- A connection the server's host refused (or, unless only = "refused", reset), which a flaky
-- host may accept next time.
local function refused_or_reset(err, only)
  local msg = type(err) == "table" and err.message or tostring(err)
  return msg:find("Connection refused", 1, true) ~= nil
      or only ~= "refused" and msg:find("Connection reset by peer", 1, true) ~= nil
end

-- sshs -G HOST: the settings a connection to HOST would use, one "keyword value" per line with
-- ssh -G's lower-case keywords, so a user can see what sshs will do (and compare with ssh -G).
function M.print_settings(target)
  local p, chain, cfg, alias = M.connect_settings(target, {})
  local lines = {}
  local function put(k, v) if v ~= nil and v ~= "" then lines[#lines + 1] = k .. " " .. tostring(v) end end
  local yesno = {[true] = "yes", [false] = "no"}
  put("host", alias)
  put("hostname", p.hostname)
  put("user", p.user)
  put("port", p.port)
  if p.hostkey_name ~= p.hostname then put("hostkeyalias", p.hostkey_name) end
  if p.proxy_command then put("proxycommand", cfg.proxycommand) end   -- as written, as ssh -G shows it
  if type(chain) == "string" then put("proxyjump", chain) end
  for _, k in ipairs(p.keys) do put("identityfile", k.path) end
  for _, c in ipairs(cfg.certificate_files) do put("certificatefile", c) end
  put("identityagent", p.agent and "SSH_AUTH_SOCK" or "none")
  put("connecttimeout", p.timeout)
  put("connectionattempts", p.attempts)
  put("serveraliveinterval", p.keepalive)
  put("serveralivecountmax", p.keepalive_max)
  put("stricthostkeychecking", p.host_key_check)
  put("userknownhostsfile", p.known_hosts or "none")
  put("globalknownhostsfile", #p.global_known_hosts > 0 and table.concat(p.global_known_hosts, " ") or "none")
  put("hashknownhosts", yesno[p.hash_known_hosts])
  put("forwardagent", cfg.forward_agent or "no")
  put("ciphers", p.ciphers)
  put("macs", p.macs)
  put("kexalgorithms", p.kex)
  core.write(1, table.concat(lines, "\n") .. "\n")
end

-- Forwarding asked for: the agent to forward (params.forward_agent_sock), or why not. A build
-- without it, or a script's forward_agent = true without an agent, is an error; ForwardAgent yes
-- without an agent is a warning (as ssh, the connection goes on without it).
local warned_no_agent = {}
local function agent_forwarding(params, opts)
  local what = "connect: " .. params.display .. ": " .. params.forward_agent_where
  if not core.agent_forwarding then
    user_error(what .. ": agent forwarding needs libssh2 1.11 or later and this sshs is built with " ..
      core.libssh2_version .. " (build it with the bundled libssh2: make LIBSSH2=bundled)")
  end
  local sock = os.getenv("SSH_AUTH_SOCK")
  if sock and sock ~= "" then params.forward_agent_sock = sock; return end
  if opts.forward_agent then
    user_error(what .. ": SSH_AUTH_SOCK is not set, so there is no local agent to forward (start " ..
      "ssh-agent and ssh-add a key)")
  end
  if not warned_no_agent[params.display] then
    warned_no_agent[params.display] = true
    core.write(2, "sshs: " .. what .. ": SSH_AUTH_SOCK is not set, so there is no local agent " ..
      "to forward; connecting without it\n")
  end
end

-- Opens one SSH connection (through `outer`, a session, when given) and returns a session.
-- retry_only = "refused": each() retries resets itself (they are sshd's MaxStartups drops).
-- tunnel_only: a jump host's connection, which carries tunnels and never runs a session.
function M.open_session(target, opts, outer, retry_only, tunnel_only)
  local params, chain = M.connect_settings(target, opts)
  local display = params.display
  if params.proxy_command and (outer or chain) then
    user_error("connect: " .. display .. " has a ProxyCommand, which runs locally, but is reached through " ..
      (chain and "a jump host (via)" or "the remote session it is opened in") .. "; use one or the other")
  end
  local jumps, via = {}, outer
  if type(chain) == "string" then
    for hop in chain:gmatch("[^,%s]+") do
      -- A hop carries a tunnel, never a command: it is not given the agent (ForwardAgent there
      -- would only set it up for nothing, or warn).
      local jopts = {agent = opts.agent, known_hosts = opts.known_hosts, host_key_check = opts.host_key_check,
                     timeout = opts.timeout, ssh_config = opts.ssh_config, forward_agent = false}
      via = M.open_session(hop, jopts, via, nil, true)
      jumps[#jumps + 1] = via
    end
  elseif type(chain) == "table" and getmetatable(chain) == Session then
    via = chain
    chain:retain()
    jumps[#jumps + 1] = chain
  elseif chain ~= nil then
    user_error("connect: via must be a target string or a session")
  end

  if params.forward_agent then agent_forwarding(params, opts) end
  params.forward_agent, params.forward_agent_where = nil, nil

  local timeout = params.timeout
  params.interactive = core.isatty(0) and core.isatty(2)
  params.via = via and via.conn
  params.tunnel_only = tunnel_only or nil
  -- A refused or reset connection is tried again (params.attempts in all), after a pause that
  -- doubles from 0.1 s up to 2 s, jittered (0.5x to 1.5x) so a fleet does not retry in step.
  local fine, conn, tries = false, nil, 0
  while true do
    tries = tries + 1
    params.timeout = connect_timeout(timeout)
    fine, conn = pcall(core.connect, params)
    if fine or tries >= params.attempts or not refused_or_reset(conn, retry_only) or core.interrupted() then break end
    core.sleep(math.min(2, 0.1 * 2 ^ (tries - 1)) * (0.5 + math.random()))
  end
  if not fine then
    for i = #jumps, 1, -1 do jumps[i]:release() end
    if type(conn) == "string" and conn == "interrupted" then error(conn, 0) end
    local msg = tostring(conn) .. (tries > 1 and " (" .. tries .. " attempts)" or "")
    error(setmetatable({message = user_where() .. msg, host = display, kind = "connect", attempts = tries},
                       ConnectError), 0)
  end
  return setmetatable({conn = conn, host = display, target = target, refs = 1, jumps = jumps,
                       kind = "remote", attempts = tries}, Session)
end

function Session:retain() self.refs = self.refs + 1 end

-- The last user lets go: close the connection, then the jump hosts it rode on.
function Session:release()
  self.refs = self.refs - 1
  if self.refs > 0 then return end
  self.conn:close()
  for i = #self.jumps, 1, -1 do self.jumps[i]:release() end
end

-- Pops the session from this thread's stack (wherever it is) and lets go of it.
function Session:close()
  local st = state()
  for i = #st.stack, 2, -1 do
    if st.stack[i] == self then
      table.remove(st.stack, i)
      self:release()
      return
    end
  end
end
Session.__close = function(s) s:close() end
Session.__tostring = function(s) return "session " .. s.host end

function Session:alive() return self.conn:alive() end
function Session:run(cmd, opts)
  check_run_args(cmd, opts)
  return run_on(self, cmd, opts)
end

-- Runs cmd on the remote host: cd/env/sudo as commands.shell_command says.
-- libssh2 sends a request in one packet of at most 35000 bytes: longer command lines fail
-- with a bare "Unable to send channel request", so they are refused here, saying why.
local REMOTE_LINE_MAX = 32768

function Session:exec(cmd, o, show, prefix)
  local line, stdin, feed = commands.shell_command(commands.own_parse(cmd), o)
  if #line > REMOTE_LINE_MAX then
    user_error("the command line for " .. self.host .. " is " .. #line .. " bytes; a remote command line " ..
      "is limited to " .. REMOTE_LINE_MAX .. " (one SSH packet in libssh2): pass the data on stdin " ..
      "(run(cmd, {stdin = data})) or upload() it; the command starts: " .. cmd:sub(1, 60))
  end
  -- A lost or closed connection is reported at the user's line, not in here.
  local function lost(err)
    if err == "interrupted" then error(err, 0) end
    err = without_runtime_where(err)
    error(setmetatable({message = user_where() .. err, host = self.host, cmd = cmd,
                        kind = "connection"}, ConnectError), 0)
  end
  local fine, started = pcall(self.conn.exec, self.conn, line,
                              commands.op_options(o, stdin, show, prefix, feed))
  if not fine then lost(started) end
  local op <close> = started
  return commands.collect(op, o, lost, feed)
end

function M.connect(target, opts)
  if type(target) ~= "string" then user_error("connect: expected a target string, got " .. type(target)) end
  opts = check_connect_options(opts, "connect")
  local st = state()
  local top = current_session(st)
  local s = M.open_session(target, opts, top ~= LOCAL and top or nil)
  st.stack[#st.stack + 1] = s
  return s
end

-- close(): pops the current session.
function M.close()
  local s = current_session()
  if s == LOCAL then user_error("close: no remote session is open") end
  s:close()
end

-- forward{listen = "[host:]port", to = "host:port"} (ssh -L) on the current session; the
-- object has .port (the one chosen for port 0) and closes with `with` or :close().
-- forward{remote = "[host:]port", to = "host:port"} (ssh -R): the server listens and its
-- connections come back here to `to` (numeric or localhost); .port is the server's port.
local function split_hostport(s, what, default_host)
  if type(s) == "number" then return default_host, math.tointeger(s) end
  if type(s) ~= "string" then user_error("forward: " .. what .. " must be \"host:port\" or a port number") end
  local h, p = s:match("^%[([^%]]+)%]:(%d+)$")
  if not h then h, p = s:match("^([^:]*):(%d+)$") end
  if not h and s:match("^%d+$") then h, p = default_host, s end
  if not h or p == nil then user_error("forward: bad " .. what .. " \"" .. s .. "\" (want host:port)") end
  if h == "" then h = default_host end
  return h, tonumber(p)
end
function M.forward(spec)
  if type(spec) ~= "table" then user_error("forward: expected a table {listen = …, to = …}") end
  if (spec.listen == nil) == (spec.remote == nil) or spec.to == nil then
    user_error("forward: needs listen = \"[host:]port\" (ssh -L) or remote = \"[host:]port\" (ssh -R), and to = \"host:port\"")
  end
  local s = current_session()
  if not s or not s.conn then user_error("forward: no remote session (use it inside `with connect(…)`)") end
  if spec.remote ~= nil then
    local rh, rp = split_hostport(spec.remote, "remote", "127.0.0.1")
    local th, tp = split_hostport(spec.to, "to", "localhost")
    local ok, f = pcall(core.forward_remote, s.conn, rh, rp, th, tp)
    if not ok then
      if f == "interrupted" then error(f, 0) end
      user_error((tostring(f):gsub("^[^:]*:%d+: ", "")))
    end
    return f
  end
  local lh, lp = split_hostport(spec.listen, "listen", "127.0.0.1")
  local th, tp = split_hostport(spec.to, "to", "localhost")
  local ok, f = pcall(core.forward, s.conn, lh, lp, th, tp)
  if not ok then user_error((tostring(f):gsub("^[^:]*:%d+: ", ""))) end
  return f
end

return M
