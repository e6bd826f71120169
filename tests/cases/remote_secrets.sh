#!/usr/bin/env bash
# Issue 9 item 7: with env{...} values reach the remote command without being on its command
# line (where ps on the server shows them); the command's own stdin still follows intact.
source "$TESTROOT/remote_lib.sh"
plan 15

script secrets.sshs <<'EOF2'
local T = require "t"
local secret = "s3cr3t-" .. math.random(100000, 999999) .. " 'q' \"d\" $x\nline2"
local marker = "sshs-secret-probe-" .. math.random(100000, 999999)
with connect("127.0.0.1") as s do
  with env{DB_PASS = secret, SSHS_MARK = marker} do
    -- it runs until ps has been read (it waits for a file, 60 s at most)
    local go = T.tmp .. "/go"
    local h = thread(function() return $ : #{marker}; i=0; until [ -e #{go} ] || [ $i -gt 600 ]; do sleep 0.1; i=$((i+1)); done; printf '%s' "$DB_PASS" end)
    local seen, listed = false, ""
    T.wait_for(function()
      listed = T.sh("ps -eo args")
      seen = listed:find(marker, 1, true) ~= nil
      return seen
    end, 60)
    T.write(go, "")
    T.ok("the command is running (seen in ps on the server)", seen, listed)
    T.lacks("the env value is not on any command line in ps", listed, "s3cr3t-")
    local r = h:join()
    T.eq("the command gets the value's bytes exactly", r.stdout, secret)
    local c = run("cat; printf '%s' \"$DB_PASS\"", {stdin = "payload\n"})
    T.eq("the command's own stdin follows the env values intact", c.stdout, "payload\n" .. secret)
    T.lacks("the command as shown (r.cmd) has no env value", c.cmd, "s3cr3t-")
  end
  with env{GONE = false} do
    T.eq("env{K = false} still unsets", $(echo "${GONE-unset}"), "unset")
  end
  with cd("/tmp") do
    with env{A = "1"} do
      T.eq("cd and env together", $(pwd; echo "$A"), "/tmp\n1")
    end
  end
  -- sudo over SSH as root: sudo asks for nothing, so the password must not reach the command
  with sudo{user = "nobody", password = "remote-pw-" .. marker} do
    local r = run("cat", {stdin = "payload"})
    T.eq("remote sudo (no prompt): the command's stdin is its own", r.stdout, "payload")
    T.eq("remote sudo (no prompt): run('cat') does not print the password", run("cat").stdout, "")
    with env{SSHS_V = secret} do
      T.eq("remote sudo + env: the value arrives exactly", $(printf '%s' "$SSHS_V"), secret)
    end
  end
  -- run's env option checks names as env{} does: a name is shell text remotely
  local canary = "/tmp/sshs-envname-" .. marker
  local bad = "A;touch " .. canary .. ";B"
  local function refused(opts)
    opts.env = {[bad] = "v"}
    local e = T.fails(run, "true", opts)
    return e and e:find("bad variable name", 1, true) and e:find(bad, 1, true) and not T.read(canary), T.show(e)
  end
  T.check("run{env=} with a bad name is an error naming it (remote)", function() return refused({}) end)
  T.check("... with pty = true", function() return refused({pty = true}) end)
  with sudo{user = "nobody"} do
    T.check("... under sudo", function() return refused({}) end)
    T.check("... under sudo with pty = true", function() return refused({pty = true}) end)
  end
  T.check("... and s:run too", function()
    local e = T.fails(function() s:run("true", {env = {["A=1 B"] = "x"}}) end)
    return e and e:find('"A=1 B"', 1, true), T.show(e)
  end)
  os.remove(canary)
end
EOF2
lua_checks secrets.sshs
