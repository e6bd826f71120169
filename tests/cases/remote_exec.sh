#!/usr/bin/env bash
# Remote exec: a channel per command, stdout/stderr drained together, stdin, exit codes and
# signals, pty, timeouts (with and without a pty), streaming callbacks, many threads on one
# connection (queued channel opens under MaxSessions), concurrent senders on one connection,
# and the event loop shared with local commands.
source "$TESTROOT/remote_lib.sh"
plan 58

script exec.sshs <<'EOF'
local T = require "t"
local U = T.user
local s = connect("127.0.0.1")

-- A channel (and a shell) per command.
$ X=set-in-first
T.eq("each command is a new shell: variables do not carry over", $(echo "${X:-unset}"), "unset")
T.ok("each command is a new remote process", $(echo $$) ~= $(echo $$))

-- Exit codes and signals.
for _, code in ipairs{0, 1, 42, 255} do
  T.eq("exit code " .. code .. " arrives intact", run("exit " .. code, {check = false}).exitcode, code)
end
local r, m

-- stdout and stderr drained together (no stall when one fills up), sizes exact.
r = run("head -c 30000000 /dev/zero | tr '\\0' e >&2; head -c 20000000 /dev/zero | tr '\\0' o; head -c 3000000 /dev/zero >&2")
T.ok("30 MB of stderr before 20 MB of stdout: both arrive whole", #r.stderr == 33000000 and #r.stdout == 20000000,
  "stdout " .. #r.stdout .. " stderr " .. #r.stderr)
r = run("for i in $(seq 1 2000); do echo out$i; echo err$i >&2; done")
T.ok("interleaved stdout/stderr lines all arrive", select(2, r.stdout:gsub("\n", "")) == 2000 and select(2, r.stderr:gsub("\n", "")) == 2000
  and r.stdout:sub(-8) == "out2000\n" and r.stderr:sub(-8) == "err2000\n")

-- stdin.
local big = {}
for i = 1, 200000 do big[i] = string.format("%07d\n", i) end
big = table.concat(big)                                   -- 1.6 MB
r = run("sha256sum | cut -d' ' -f1", {stdin = big})
local tmp = os.tmpname(); T.write(tmp, big)
local want = T.sh("sha256sum " .. tmp .. " | cut -d' ' -f1"); os.remove(tmp)
T.eq("1.6 MB of stdin arrives intact (sha256)", r.stdout, want)
T.eq("stdin with NUL and no final newline", run("od -An -c | tr -s ' '", {stdin = "a\0b"}).stdout, " a \\0 b\n")
T.eq("no stdin: the command sees EOF at once", run("cat; echo eof").stdout, "eof\n")

-- env option with awkward values.
T.eq("run{env=} values reach the command verbatim", run('printf "%s" "$V"', {env = {V = "a'b\"c $x `y` \\z"}}).stdout, "a'b\"c $x `y` \\z")

-- pty.
r = run("[ -t 0 ] && [ -t 1 ] && echo tty", {pty = true})
T.eq("pty = true: stdin and stdout are a terminal (output has CR LF)", r.stdout, "tty\r\n")
T.eq("without pty: not a terminal", run("[ -t 1 ] && echo tty || echo notty").stdout, "notty\n")
T.like("pty = true: TERM is set", run("echo $TERM", {pty = true}).stdout, "^%w")

-- Timeouts: the command is stopped and the thread gets "timed out" without waiting for it:
-- not before the timeout, and before the command would have ended (it leaves a file then).
local function at_timeout(dt, ended)
  return dt >= 0.95 and not T.read(ended), "after " .. dt .. " s; the command ended first: " .. tostring(T.read(ended) ~= nil)
end
local ended = T.tmp .. "/ended"
local t0 = T.now()
local msg, e = T.fails(function() return run("sleep 8; echo late > " .. ended .. 1, {timeout = 1}) end)
local dt = T.now() - t0
T.like("timeout = 1: raises 'timed out'", msg, "command failed on " .. U .. "@127%.0%.0%.1 %(timed out after 1s%)")
T.ok("timeout = 1: the error says timed_out", type(e) == "table" and e.timed_out == true)
T.ok("timeout = 1: raises at the timeout (not before 1 s, not when the command ends)", at_timeout(dt, ended .. 1))
local marker = "31.0" .. T.pid             -- a sleep argument no other process has
t0 = T.now()
msg = T.fails(function() return run("sleep " .. marker .. "; echo late > " .. ended .. 2, {timeout = 1, pty = true}) end)
dt = T.now() - t0
T.like("timeout with a pty: raises 'timed out'", msg, "timed out")
T.ok("timeout with a pty: at the timeout", at_timeout(dt, ended .. 2))
T.ok("timeout with a pty: the remote process is gone (SIGHUP)",
  T.wait_for(function() return not $?(pgrep -f '[s]leep #{raw(marker)}') end, 30))
with timeout(1) do
  t0 = T.now()
  msg = T.fails(function()
    $ sleep 6; echo late > #{ended}3
  end)
  T.like("with timeout(1): raises 'timed out'", msg, "timed out after 1s")
  T.ok("with timeout(1): at the timeout", at_timeout(T.now() - t0, ended .. 3))
end
T.eq("after timeouts the connection still runs commands", $(echo fine), "fine")
T.eq("... on the same connection", T.conns(), 1)

-- Streaming callbacks.
-- The command writes "b" only once on_stdout has seen "a" (it leaves a file; 60 s at most).
local outs, errs, seen_a = {}, {}, T.tmp .. "/seen_a"
r = run("echo a; echo e1 >&2; i=0; until [ -e " .. seen_a .. " ] || [ $i -gt 600 ]; do sleep 0.1; i=$((i+1)); done; echo b; echo e2 >&2", {
  on_stdout = function(d) outs[#outs + 1] = d; if d:find("a") then T.write(seen_a, "") end end,
  on_stderr = function(d) errs[#errs + 1] = d end})
T.eq("on_stdout chunks add up to stdout", table.concat(outs), "a\nb\n")
T.eq("on_stderr chunks add up to stderr", table.concat(errs), "e1\ne2\n")
T.eq("streamed output is not also kept in the result (docs/reference/language.md: on_stdout takes it)", r.stdout, "")
T.eq("... nor streamed stderr", r.stderr, "")
T.eq("on_stdout sees data as it arrives (the first chunk, before the command wrote the rest)", outs[1], "a\n")
local n, bytes = 0, 0
r = run("head -c 50000000 /dev/zero", {on_stdout = function(d) n = n + 1; bytes = bytes + #d end})
T.ok("on_stdout on 50 MB: many chunks, every byte", n > 10 and bytes == 50000000, n .. " chunks, " .. bytes .. " bytes")
m = T.fails(function() return run("echo x", {on_stdout = function() error("cb-failed") end}) end)
T.has("an error in on_stdout propagates to the caller", m, "cb-failed")
T.eq("... and the connection is still fine", $(echo ok-after-cb), "ok-after-cb")

-- 100 commands one after another on one connection all complete (the per-command cost, and
-- with it a Nagle/delayed-ACK regression, is measured by make bench's per-command row).
local good = 0
for i = 1, 100 do if run("echo " .. i).stdout == i .. "\n" then good = good + 1 end end
T.eq("100 sequential commands on one connection complete", good, 100)

-- A shell syntax error quotes the user's command, never the wrappers around it (the pid
-- marker, env, cd, sudo): the login shell (bash) parses the user's text on its own.
local function syntax_error(name, opts)
  local fine, e = pcall(run, "echo ( oops", opts)
  -- the shell's lines: after sshs's own first line, and stdout (where a pty puts them)
  local m = (T.msg(e):match("\n(.*)") or "") .. "\n" .. tostring(type(e) == "table" and e.stdout)
  T.ok(name, not fine and e.exitcode == 2 and m:find("`echo ( oops'", 1, true) and
       not m:find("printf", 1, true) and not m:find("\036", 1, true) and not m:find("head -c", 1, true) and
       not m:find("cd ", 1, true) and not m:find("sshs-", 1, true), "message: " .. m, "exit: " .. tostring(type(e) == "table" and e.exitcode))
end
syntax_error("a remote syntax error shows only the user's command (exit 2)", {})
with cd("/tmp") do with env{SSHS_X = "1"} do
  syntax_error("... with cd and env around it", {})
end end
syntax_error("... with a pty", {pty = true})
T.eq("a command still sees its own words ($0, quotes, heredoc)", run("printf '%s|' \"$0\" 'a b' \"c\"; cat <<'E'\nx 'y'\nE").stdout,
     $(printf '%s' "$0") .. "|a b|c|x 'y'\n")
close()
EOF
LIMIT=90 lua_checks exec.sshs

# Stdin larger than the channel window that the command does not read (own script: it may hang).
script unread.sshs <<'EOF'
local T = require "t"
with connect("127.0.0.1") do
  local r = run("exit 0", {stdin = string.rep("x", 8 * 1024 * 1024)})
  T.eq("a command that never reads its 8 MiB stdin still finishes", r.exitcode, 0)
  r = run("head -c 5; echo; exit 3", {stdin = string.rep("y", 4 * 1024 * 1024), check = false})
  T.ok("a command that reads part of its 4 MiB stdin and exits: result kept", r.exitcode == 3 and r.stdout == "yyyyy\n",
    "exit " .. tostring(r.exitcode) .. " stdout " .. T.show(r.stdout))
  T.eq("... and the connection still runs commands", $(echo after-unread), "after-unread")
end
EOF
LIMIT=90 lua_checks unread.sshs

# Signals (a script of their own: a crash here must not hide the checks above).
script signals.sshs <<'EOF'
local T = require "t"
local U = T.user
with connect("127.0.0.1") do
  local r = run("kill -TERM $$", {check = false})
  T.ok("killed by TERM: exitcode nil, signal 'TERM', ok false", r.exitcode == nil and r.signal == "TERM" and r.ok == false,
    "exitcode=" .. tostring(r.exitcode) .. " signal=" .. tostring(r.signal))
  r = run("kill -KILL $$", {check = false})
  T.eq("killed by KILL: signal 'KILL'", r.signal, "KILL")
  local m = T.fails(function()
    $ kill -INT $$
  end)
  T.like("a signal fails the command: 'killed by signal INT'", m, "command failed on " .. U .. "@127%.0%.0%.1 %(killed by signal INT%)")
  T.eq("the connection works after signalled commands", $(echo after-signals), "after-signals")
end
EOF
LIMIT=90 lua_checks signals.sshs

# ---------------------------------------------------------------------------------------------
# Concurrency on one connection.
script many.sshs <<'EOF'
local T = require "t"
local n, opts = tonumber(arg[1]), {}
if arg[2] then opts.max_sessions = tonumber(arg[2]) end
if arg[3] and arg[3] ~= "" then opts.port = tonumber(arg[3]); opts.known_hosts = arg[4]; opts.key = arg[5] end
local label = arg[6] or ""
with connect("127.0.0.1", opts) do
  local hs = {}
  for i = 1, n do hs[i] = thread(function() return $(sleep 0.2; echo #{i}) end) end
  local good, bad = T.join_all(hs, tostring)
  T.eq(label .. n .. " threads on one connection all succeed", good, n)
  local shown = 0
  for line in bad:gmatch("[^\n]+") do          -- the first few failures
    shown = shown + 1
    if shown <= 5 then print("#   " .. line) end
  end
  T.eq(label .. "... over a single TCP connection", T.conns(opts.port), 1)
end
EOF
LIMIT=60 lua_checks many.sshs 50
# More channels asked for than the server allows: refused opens wait for a free slot.
LIMIT=60 lua_checks many.sshs 30 25 "" "" "" "max_sessions=25 against MaxSessions 10: "
if start_sshd "$TMP/ms3" $'MaxSessions 3'; then
  LIMIT=60 lua_checks many.sshs 20 "" "$X_PORT" "$X_KNOWN_HOSTS" "$X_KEY" "MaxSessions 3 server: "
  bash "$REPO/scripts/test-sshd.sh" stop "$TMP/ms3" > /dev/null 2>&1
fi
# A server that allows one session per connection: sequential commands (each channel closes
# before the next opens) and a few threads must all get through.
if start_sshd "$TMP/ms1" $'MaxSessions 1'; then
  script ms1.sshs <<'EOF'
local T = require "t"
with connect("127.0.0.1", {port = tonumber(arg[1]), known_hosts = arg[2], key = arg[3]}) do
  local good = 0
  for i = 1, 30 do if $(echo #{i}) == tostring(i) then good = good + 1 end end
  T.eq("MaxSessions 1 server: 30 sequential commands", good, 30)
  local hs = {}
  for i = 1, 4 do hs[i] = thread(function() return $(echo #{i}) end) end
  good = 0
  for i = 1, 4 do local ok, v = pcall(hs[i].join, hs[i]); if ok and v == tostring(i) then good = good + 1 end end
  T.eq("MaxSessions 1 server: 4 threads take turns", good, 4)
end
EOF
  LIMIT=90 lua_checks ms1.sshs "$X_PORT" "$X_KNOWN_HOSTS" "$X_KEY"
  bash "$REPO/scripts/test-sshd.sh" stop "$TMP/ms1" > /dev/null 2>&1
fi

# Many senders and readers at once on one connection: libssh2 allows one half-sent packet per
# session; concurrent stdin writers and bulk readers must not trip over each other.
script senders.sshs <<'EOF'
local T = require "t"
with connect("127.0.0.1") do
  local hs, want = {}, {}
  for i = 1, 12 do
    if i % 3 == 0 then
      want[i] = 20000000
      hs[i] = thread(function() return #run("head -c 20000000 /dev/urandom").stdout end)
    else
      local data = string.rep(string.char(64 + i) .. i, 1000000)
      want[i] = #data
      hs[i] = thread(function() return tonumber(run("wc -c", {stdin = data}).stdout:match("%d+")) end)
    end
  end
  local good, bad = T.join_all(hs, want)
  T.ok("8 stdin writers and 4 bulk readers at once on one connection", good == 12, bad)
  T.eq("... and the connection is fine afterwards", $(echo after), "after")
end
EOF
LIMIT=60 lua_checks senders.sshs

# One loop: remote and local commands, sleeps and several connections all overlap.
script overlap.sshs <<'EOF'
local T = require "t"
-- Seven parties meet at a barrier: each waits until all of them run (one after another, the
-- first would wait in vain and fail).
local meet, arrive = T.barrier(7)
local hs = {
  thread(function() with connect("127.0.0.2") do $ #{raw(meet)}
 end end),
  thread(function() with connect("127.0.0.3") do $ #{raw(meet)}
 end end),
  thread(function() $ #{raw(meet)}
  end),
  thread(function() return arrive() end),
  thread(function() return arrive() end),
}
with connect("127.0.0.4") do
  local a = thread(function() return run(meet .. "; echo a").stdout end)
  local b = thread(function() return run(meet .. "; echo b").stdout end)
  T.eq("two remote commands on one connection overlap", a:join() .. b:join(), "a\nb\n")
end
local all = true
for _, h in ipairs(hs) do local ok, v = pcall(h.join, h); if not ok or v == false then all = false end end
T.ok("remote, local and sleep threads all run at once", all)

local hosts, hs2 = {}, {}
for i = 1, 8 do
  hs2[i] = thread(function()
    with connect("127.0.0." .. (20 + i)) do return $(echo "$SSH_CONNECTION" | cut -d' ' -f3) end
  end)
end
local good = 0
for i = 1, 8 do local ok, v = pcall(hs2[i].join, hs2[i]); if ok and v == "127.0.0." .. (20 + i) then good = good + 1 end end
T.eq("8 threads connecting to 8 hosts at once all succeed", good, 8)
EOF
if [ "${SSHS_TEST_NHOSTS:-200}" = 16 ]; then sed -i 's/(20 + i)/(8 + i)/g' "$TMP/overlap.sshs"; fi
LIMIT=60 lua_checks overlap.sshs
