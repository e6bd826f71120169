#!/usr/bin/env bash
# Resilience: the sshd serving a connection killed mid-command, the whole server stopped,
# a server that stops answering (SIGSTOP) caught by keepalive, keepalive on a healthy connection.
# (Streams crossing many rekeys: remote_rekey.sh.)
source "$TESTROOT/remote_lib.sh"
plan 27

# Processes we SIGSTOP are continued (and ended) whatever happens.
: > "$TMP/stopped"
CLEANUP+=('for p in $(cat "$TMP/stopped"); do kill -CONT $p; kill -KILL $p; done')

# ---------------------------------------------------------------------------------------------
# The per-connection sshd killed while a command runs.
script killchild.sshs <<'EOF'
local T = require "t"
local U = T.user
local here = arg[0]:gsub("%p", "%%%0")
local pidf = os.tmpname()
local s, err_in_thread, after_in_thread, alive_after
local h = thread(function()
  s = connect("127.0.0.1")
  local ok, e = pcall(function()
    return run("echo $PPID > " .. pidf .. "; sleep 20; echo finished")
  end)
  err_in_thread = ok and "no error" or T.msg(e)
  alive_after = s:alive()
  after_in_thread = T.fails(function() return run("echo again") end)
  return "thread went on"
end)
local other = thread(function()
  with connect("127.0.0.2") do return run("sleep 1.5; echo other").stdout end
end)
T.wait_for(function() local p = T.read(pidf); return p and p:match("%d+") end, 60)
local child = T.read(pidf):match("%d+")
T.sh("kill -KILL " .. child)
local ok, v = pcall(h.join, h)
T.eq("sshd killed mid-command: the thread gets an error and goes on", ok and v, "thread went on")
T.has("... the error names the host", err_in_thread, U .. "@127.0.0.1")
T.like("... and the cause (connection lost/closed)", err_in_thread, "connection")
T.like("... at the script's line", err_in_thread, "^" .. here .. ":%d+: ")
T.lacks("... at once (not by a timeout)", err_in_thread, "timed out")
T.eq("... the session is no longer alive", alive_after, false)
T.has("... a next command on it raises at once, naming the host", after_in_thread, U .. "@127.0.0.1")
local ok2, v2 = pcall(other.join, other)
T.eq("... another connection's command is unaffected", ok2 and v2, "other\n")
with connect("127.0.0.1") do
  T.eq("... and a new connection to the same server works", $(echo reconnected), "reconnected")
end
os.remove(pidf)

-- An idle connection whose sshd dies: noticed without a command, and the next command fails fast.
with connect("127.0.0.3") as idle do
  local pid = $(echo $PPID)
  T.sh("kill -KILL " .. pid)
  T.ok("an idle connection whose sshd died is noticed (alive() false)",
    T.wait_for(function() return not idle:alive() end, 60), "still alive after 60 s")
  local m = T.fails(function() return $(echo hi) end)
  T.has("... the next command raises, naming the host", m, U .. "@127.0.0.3")
  T.lacks("... at once (not by a timeout)", m, "timed out")
end
EOF
LIMIT=90 lua_checks killchild.sshs

# ---------------------------------------------------------------------------------------------
# The whole server stopped while a command runs (a private sshd).
if start_sshd "$TMP/doomed"; then
  script killserver.sshs <<'EOF'
local T = require "t"
local port, kh, key, dir, stopper = tonumber(arg[1]), arg[2], arg[3], arg[4], arg[5]
local h = thread(function()
  with connect("127.0.0.1", {port = port, known_hosts = kh, key = key}) do
    local m = T.fails(function() return run("touch " .. dir .. ".running; sleep 20; echo finished") end)
    return m or "no error"
  end
end)
local main_ok = thread(function()
  with connect("127.0.0.2") do return run("sleep 1.5; echo main-server").stdout end
end)
T.wait_for(function() return T.read(dir .. ".running") end, 60)    -- the command runs
T.sh("bash " .. stopper .. " stop " .. dir)
local ok, m = pcall(h.join, h)
T.ok("server stopped mid-command: the thread gets an error", ok and m ~= "no error", T.msg(m))
T.has("... naming the host", m, "127.0.0.1")
T.lacks("... at once (not by a timeout)", m, "timed out")
local ok2, v2 = pcall(main_ok.join, main_ok)
T.eq("... another server's connection is unaffected", ok2 and v2, "main-server\n")
local m3 = T.fails(function() connect("127.0.0.1", {port = port, known_hosts = kh, key = key}) end)
T.like("... and connecting to the stopped server is refused", (m3 or ""):lower(), "refused")
EOF
  LIMIT=90 lua_checks killserver.sshs "$X_PORT" "$X_KNOWN_HOSTS" "$X_KEY" "$TMP/doomed" "$REPO/scripts/test-sshd.sh"
fi

# ---------------------------------------------------------------------------------------------
# Keepalive: a server that stops answering (its sshd SIGSTOPped) is detected within about
# interval x 3 s, idle or mid-command; ServerAliveInterval in ssh config does the same.
cat > "$TMP/alive_config" <<EOF
Host *
$(test_server_defaults)
  ServerAliveInterval 1
  ServerAliveCountMax 3
EOF
export STOPPED_FILE=$TMP/stopped
script keepalive.sshs <<'EOF'
local T = require "t"
local function sshd_of_session()
  return $(echo $PPID)
end
local function stop(pid)
  local f = io.open(T.env("STOPPED_FILE"), "a"); f:write(pid, "\n"); f:close()
  T.sh("kill -STOP " .. pid)
end
local results = {}
local function watch(name, target, opts, mid_command)
  return thread(function()
    with connect(target, opts) do
      local pid = sshd_of_session()
      local t0
      local m
      if mid_command then
        local h = thread(function() return T.fails(function() return run("sleep 30; echo late") end) end)
        sleep(0.5)
        stop(pid)
        t0 = T.now()
        m = h:join()
      else
        stop(pid)
        t0 = T.now()
        sleep(1)
        m = T.fails(function() return run("echo hello") end)
      end
      results[name] = {msg = m, dt = T.now() - t0}
    end
  end)
end
local hs = {
  watch("idle", "127.0.0.3", {keepalive = 1}, false),
  watch("mid", "127.0.0.4", {keepalive = 1}, true),
  watch("config", "127.0.0.5", {ssh_config = arg[1]}, true),
}
local healthy = thread(function()
  with connect("127.0.0.6", {keepalive = 1}) do
    local r1 = run("sleep 3; echo slept").stdout
    local n = #run("head -c 100000000 /dev/zero").stdout
    return r1, n
  end
end)
-- Wait (bounded) for the three verdicts, then kill the stopped sshds so nothing hangs on.
T.wait_for(function() return results.idle and results.mid and results.config end, 60)
for pid in (T.read(T.env("STOPPED_FILE")) or ""):gmatch("%d+") do T.sh("kill -KILL " .. pid .. " 2>/dev/null") end
for _, h in ipairs(hs) do pcall(h.join, h) end
local labels = {idle = "keepalive=1: a stopped server fails the next command",
                mid = "keepalive=1: a server stopped mid-command fails that command",
                config = "ServerAliveInterval 1 in ssh config: a stopped server fails the command"}
for _, k in ipairs{"idle", "mid", "config"} do
  local r = results[k] or {}
  T.ok(labels[k], r.msg ~= nil, "no error (or the thread did not finish)")
  T.has("... (" .. k .. ") the error names the host", r.msg, "127.0.0.")
  T.has("... (" .. k .. ") by the keepalive (interval x 3), not by the command", r.msg, "no answer to 3 keepalives in 3s")
  print("# " .. k .. ": " .. string.format("%.2f", r.dt or -1) .. " s: " .. tostring(r.msg))
end
local ok, r1, n = pcall(healthy.join, healthy)
T.ok("keepalive on a healthy connection disturbs nothing (slow command, 100 MB stream)",
  ok and r1 == "slept\n" and n == 100000000, tostring(r1) .. " " .. tostring(n))
EOF
LIMIT=150 lua_checks keepalive.sshs "$TMP/alive_config"
for p in $(cat "$TMP/stopped"); do kill -CONT "$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; done
: > "$TMP/stopped"

