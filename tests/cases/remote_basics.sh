#!/usr/bin/env bash
# Remote sessions, the basics: connect/close/with and the session stack, targets and options,
# commands and results on a remote host, context blocks (cd, env, check, timeout), threads
# sharing a session, and a connection being closed when its last user is done.
source "$TESTROOT/remote_lib.sh"
plan 104

# ---------------------------------------------------------------------------------------------
# Commands and results on a remote session.
script commands.sshs <<'EOF'
local T = require "t"
local s = connect("127.0.0.1")
T.eq("connect returns a session whose host is user@host", s.host, T.user .. "@127.0.0.1")
T.like("$(...) runs on the remote host (SSH_CLIENT names the test port)", $(echo "${SSH_CLIENT:-none}"), " " .. T.port .. "$")

local r = $ printf 'hi\n'; printf 'warn\n' >&2
T.eq("result stdout", r.stdout, "hi\n")
T.eq("result stderr", r.stderr, "warn\n")
T.eq("result exitcode", r.exitcode, 0)
T.eq("result ok", r.ok, true)
T.eq("result cmd is the command as written", r.cmd, "printf 'hi\\n'; printf 'warn\\n' >&2")
T.eq("result host is user@host", r.host, T.user .. "@127.0.0.1")
T.ok("result duration is a non-negative number", type(r.duration) == "number" and r.duration >= 0, T.show(r.duration))
T.eq("tostring(result) is stdout", tostring(r), "hi\n")
T.eq("$ is the last result", $.stdout, "hi\n")
local lines = {}
for l in run("printf 'a\\nb\\n\\nc'"):lines() do lines[#lines + 1] = l end
T.eq("r:lines() over remote stdout", table.concat(lines, "|"), "a|b||c")

T.eq("$(...) strips trailing newlines only", $(printf '\n a b \n\n\n'), "\n a b ")
T.eq("$?(true) is true", $?(true), true)
T.eq("$?(exit 3) is false and does not raise", $?(exit 3), false)
T.eq("$ after $?(exit 3) has exitcode 3", $.exitcode, 3)
T.eq("multi-word pipeline runs in the remote shell", $(echo abc | tr a-c x-z | wc -c), "4")
T.eq("remote $HOME is the remote user's home", $(echo $HOME), T.sh("getent passwd " .. T.user .. " | cut -d: -f6"):gsub("\n", ""))

-- Failure of a remote command: message, fields.
local line = debug.getinfo(1, "l").currentline + 2
local msg, e = T.fails(function()
  $ echo 'first problem' >&2; echo second >&2; exit 4
end)
T.eq("failure message: FILE:LINE: command failed on user@host (exit N): CMD",
  (msg or ""):match("^[^\n]*"),
  arg[0] .. ":" .. line .. ": command failed on " .. T.user .. "@127.0.0.1 (exit 4): echo 'first problem' >&2; echo second >&2; exit 4")
T.has("failure message has the first lines of stderr", msg, "\n  first problem\n  second")
T.ok("failure error carries the result fields", type(e) == "table" and e.exitcode == 4 and e.stderr == "first problem\nsecond\n" and e.host == T.user .. "@127.0.0.1",
  type(e) == "table" and ("exitcode=" .. tostring(e.exitcode) .. " host=" .. tostring(e.host)) or tostring(e))
local m2 = T.fails(function() return $(exit 9) end)
T.like("$(...) raises on failure too", m2, "command failed on .*%(exit 9%)")

-- Interpolation reaches the remote shell as one word.
local nasty = "a b 'c' \"d\" $HOME `id` ; e \\ f\n*"
T.eq("#{string} is one word remotely, whatever it holds", $(printf '%s' #{nasty}), nasty)
local words = {"x y", "z", ""}
T.eq("#{array} is several quoted words", $(printf '[%s]' #{words}), "[x y][z][]")
T.eq("#{number}", $(echo #{42} #{1.5}), "42 1.5")

-- $[[ ]]: one shell for the whole block.
local blk = $[[
  cd /tmp
  X=five
  echo "$PWD $X"
]]
T.eq("$[[ ]] is one remote shell script (cd and variables carry)", blk.stdout, "/tmp five\n")

-- stdin and binary data.
T.eq("run{stdin=} feeds the remote command", run("cat", {stdin = "in\0put\n"}).stdout, "in\0put\n")
T.eq("binary stdout is kept byte for byte", run("printf '\\000\\001\\377\\r\\n'").stdout, "\0\1\255\r\n")
T.eq("s:run on the session", s:run("echo via-method").stdout, "via-method\n")
local r5 = run("exit 5", {check = false})
T.ok("run{check=false} returns the failed result", r5.exitcode == 5 and r5.ok == false, "exitcode " .. tostring(r5.exitcode))
T.like("run: unknown option is named", T.fails(run, "true", {bogus = 1}), "unknown option 'bogus'")
T.like("run: wrong option type", T.fails(run, "true", {pty = "yes"}), "option pty must be a boolean")
close()
T.eq("close() pops: commands are local again", run("echo local").host, "local")
EOF
lua_checks commands.sshs

# ---------------------------------------------------------------------------------------------
# Context blocks on a remote session.
script contexts.sshs <<'EOF'
local T = require "t"
with connect("127.0.0.1") as s do
  local d = $(mktemp -d /tmp/sshs-ctx.XXXXXX)
  $ mkdir -p #{d}/sub/deeper
  with cd(d) do
    T.eq("with cd(path): remote commands run there", $(pwd), d)
    with cd("sub") do
      T.eq("nested relative cd joins the paths", $(pwd), d .. "/sub")
      with cd("deeper") do T.eq("three levels of cd", $(pwd), d .. "/sub/deeper") end
    end
    T.eq("cd ends with its block", $(pwd), d)
  end
  with cd("~") do T.eq("cd('~') is the remote home", $(pwd), $(echo $HOME)) end
  T.eq("after the blocks, the login directory again", $(pwd), $(echo $HOME))
  local m = T.fails(function()
    with cd(d .. "/missing") do
      $ true
    end
  end)
  T.like("cd to a missing directory fails the command", m, "command failed on ")

  with env{A = "x y", B = 5, Q = "it's \"q\" $HOME"} do
    T.eq("with env{}: variables reach the remote command", $(echo "$A|$B"), "x y|5")
    T.eq("env values are not expanded by the remote shell", $(printf '%s' "$Q"), "it's \"q\" $HOME")
    with env{A = false} do T.eq("env{A = false} unsets A", $(echo "${A-unset}"), "unset") end
    T.eq("run{env=} merges with the context's env", run("echo $A-$C", {env = {C = "c"}}).stdout, "x y-c\n")
  end
  T.eq("env ends with its block", $(echo "${A-unset}"), "unset")

  with check(false) do
    local r = $ exit 6
    T.eq("with check(false): a failing command does not raise", r.exitcode, 6)
    T.eq("$ holds the failed result", $.exitcode, 6)
  end
  T.ok("check(true) again after the block", T.fails(function() return $(false) end) ~= nil)

  with timeout(5) do T.eq("with timeout(): a quick command is untouched", $(echo quick), "quick") end
  with timeout(1) do
    local m = T.fails(function()
      $ sleep 60
    end)
    T.like("with timeout(1): a slow remote command raises 'timed out'", m, "timed out")
  end
  $ rm -rf #{d}
end

-- cd/env belong to the session they were opened on; check/timeout to every command.
with cd("/tmp") do
  with env{SSHS_LOCAL_ONLY = "yes"} do
    with connect("127.0.0.1") do
      T.eq("a cd opened on the local session does not apply remotely", $(pwd), $(echo $HOME))
      T.eq("an env opened on the local session does not apply remotely", $(echo "${SSHS_LOCAL_ONLY-unset}"), "unset")
    end
    T.eq("... and still applies locally afterwards", $(pwd), "/tmp")
  end
end
with check(false) do
  with connect("127.0.0.1") do
    local r = $ exit 2
    T.eq("check(false) opened locally also covers remote commands", r.exitcode, 2)
  end
end
EOF
lua_checks contexts.sshs

# ---------------------------------------------------------------------------------------------
# The session stack, with/close, threads, and closing the connection when its last user is done.
script stack.sshs <<'EOF'
local T = require "t"
T.eq("no connection to the test server at start", T.conns(), 0)
local s = connect("127.0.0.1")
T.eq("connect opens one TCP connection", T.conns(), 1)
local h = thread(function()
  sleep(0.3)
  return $(echo "$SSH_CLIENT"), $.host
end)
close()
T.eq("after close(), the main thread is local", run("true").host, "local")
T.eq("the connection stays open while a thread still holds the session", T.conns(), 1)
local ok, out, host = pcall(h.join, h)
T.ok("a thread inherits its creator's session (runs remotely)", ok and host == T.user .. "@127.0.0.1", tostring(out), tostring(host))
T.ok("the connection closes once its last user is done", T.wait_for(function() return T.conns() == 0 end, 30), "conns: " .. T.conns())

local m = T.fails(function()
  with connect("127.0.0.1") do error("boom") end
end)
T.has("an error inside with connect() propagates", m, "boom")
T.eq("with connect() pops on error", run("true").host, "local")
T.ok("... and closes the connection", T.wait_for(function() return T.conns() == 0 end, 30), "conns: " .. T.conns())

local function f()
  with connect("127.0.0.1") do
    return $(echo from-inside)
  end
end
T.eq("return from inside with connect() gives the value", f(), "from-inside")
T.eq("with connect() pops on return", run("true").host, "local")
for i = 1, 3 do
  with connect("127.0.0.1") do
    break
  end
end
T.eq("with connect() pops on break", run("true").host, "local")
T.ok("no connection left after return and break", T.wait_for(function() return T.conns() == 0 end, 30), "conns: " .. T.conns())

with connect("127.0.0.1") as s2 do
  T.eq("with connect(t) as s: s is the session", getmetatable(s2) and getmetatable(s2).__name, "sshs.session")
  local hs = {}
  for i = 1, 5 do hs[i] = thread(function() return s2:run("echo " .. i).stdout end) end
  local all = {}
  for i = 1, 5 do all[i] = hs[i]:join() end
  T.eq("several threads use one session object", table.concat(all), "1\n2\n3\n4\n5\n")
  T.eq("... over one connection", T.conns(), 1)
end

-- s:close() pops the session wherever it is on the stack.
local a = connect("127.0.0.2")
local b = connect("127.0.0.1")
T.like("two sessions stacked: the top one runs commands", $(echo $SSH_CONNECTION), "127%.0%.0%.1 " .. T.port .. "$")
b:close()
T.like("s:close() on the top returns to the one below", $(echo $SSH_CONNECTION), "127%.0%.0%.2 " .. T.port .. "$")
a:close()
T.eq("closing the last one returns to local", run("true").host, "local")
T.like("close() with nothing open is an error", T.fails(close), "no remote session is open")
T.like("a closed session cannot run commands", T.fails(function() return a:run("true") end), "closed")
EOF
lua_checks stack.sshs

# ---------------------------------------------------------------------------------------------
# Targets and connect options.
cat > "$TMP/alias_config" <<EOF
Host myalias
  HostName 127.0.0.9
Host *
$(test_server_defaults)
EOF
script targets.sshs <<'EOF'
local T = require "t"
local U, P = T.user, T.port
local function try(target, opts)
  local ok, s = pcall(connect, target, opts)
  if not ok then return nil, T.msg(s) end
  local conn = $(echo "$SSH_CONNECTION")
  local host = $.host
  s:close()
  return conn, host
end
local c, h = try("127.0.0.3")
T.like("target host", c, " 127%.0%.0%.3 " .. P .. "$")
T.eq("host of a result is user@host", h, U .. "@127.0.0.3")
c, h = try(U .. "@127.0.0.4")
T.like("target user@host", c, " 127%.0%.0%.4 " .. P .. "$")
T.eq("host of user@host", h, U .. "@127.0.0.4")
c, h = try(U .. "@127.0.0.5:" .. P)
T.like("target user@host:port", c, " 127%.0%.0%.5 " .. P .. "$")
T.eq("host has :port when the target gave one", h, U .. "@127.0.0.5:" .. P)
c, h = try("127.0.0.6:" .. P)
T.like("target host:port", c, " 127%.0%.0%.6 " .. P .. "$")
if T.env("SSHS_TEST_NHOSTS") == "16" then
  print("ok - target [v6]:port # SKIP the test sshd does not listen on ::1")
  print("ok - host of a [v6]:port target keeps the brackets # SKIP the test sshd does not listen on ::1")
else
  c, h = try("[::1]:" .. P)
  T.like("target [v6]:port", c, "^::1 %d+ ::1 " .. P .. "$")
  T.eq("host of a [v6]:port target keeps the brackets", h, U .. "@[::1]:" .. P)
end
c, h = try("127.0.0.7", {user = U, port = P, key = T.env("SSHS_TEST_KEY"), known_hosts = T.env("SSHS_TEST_KNOWN_HOSTS"), ssh_config = "/dev/null"})
T.like("opts user/port/key/known_hosts without any ssh config", c, " 127%.0%.0%.7 " .. P .. "$")
T.eq("port from opts is not shown in host", h, U .. "@127.0.0.7")
c, h = try("myalias", {ssh_config = arg[1]})
T.like("an ssh-config alias connects to its HostName", c, " 127%.0%.0%.9 " .. P .. "$")
T.eq("host of an alias names the alias", h, U .. "@myalias")

T.like("unknown connect option is named", T.fails(function() connect("127.0.0.1", {bogus = 1}) end), "^" .. arg[0]:gsub("%p", "%%%0") .. ":%d+: connect: unknown option 'bogus'")
T.like("wrong option type", T.fails(connect, "127.0.0.1", {port = "22"}), "option port must be a number")
T.like("bad host_key_check value", T.fails(connect, "127.0.0.1", {host_key_check = "maybe"}), "host_key_check must be")
T.like("bad target", T.fails(connect, "a b"), "bad target 'a b'")
T.like("non-string target", T.fails(connect, 42), "expected a target string")
T.eq("failed connects leave nothing pushed", run("true").host, "local")
EOF
lua_checks targets.sshs "$TMP/alias_config"

# ---------------------------------------------------------------------------------------------
# What a user sees: live output of `$ cmd`, quiet value forms, uncaught failures, -e.
script show.sshs <<'EOF'
with connect("127.0.0.1") do
  $ echo LIVE-STATEMENT
  local r = $ echo QUIET-VALUE
  local q = run("echo QUIET-RUN")
  run("echo SHOWN-RUN", {show = true})
  print("value:" .. r.stdout:gsub("\n", "") .. ":" .. q.stdout:gsub("\n", ""))
end
EOF
run_remote show.sshs
expect_rc 0 "show script runs"
expect_out_has "LIVE-STATEMENT" "\$ cmd statement shows remote output"
expect_out_has "SHOWN-RUN" "run{show=true} shows remote output"
expect_out_has "value:QUIET-VALUE:QUIET-RUN" "value forms capture output"
if [ "$(grep -c 'QUIET-' "$TMP/out")" = 1 ]; then ok "value forms and run() are quiet"
else not_ok "value forms and run() are quiet" "$(show)"; fi

script uncaught.sshs <<'EOF'
with connect("127.0.0.1") do
  $ echo going-wrong >&2; exit 3
end
print("not reached")
EOF
run_remote uncaught.sshs
expect_rc 1 "an uncaught remote command failure exits 1"
expect_err_has "uncaught.sshs:2: command failed on $SSHS_TEST_USER@127.0.0.1 (exit 3): echo going-wrong >&2; exit 3" \
  "uncaught failure message names file, line, host, exit code and command"
expect_err_has "going-wrong" "uncaught failure message shows stderr"
case "$out" in *"not reached"*) not_ok "the script stops at an uncaught failure" "$(show)";; *) ok "the script stops at an uncaught failure";; esac

HOME=$SSHS_TEST_HOME run_sshs -e 'with connect("127.0.0.1") do print($(echo from-e) .. "|" .. $.host) end'
expect_out "from-e|$SSHS_TEST_USER@127.0.0.1" "sshs -e chunk connects and runs remotely"
