#!/usr/bin/env bash
# `with timeout(s)` also bounds a connect made inside the block; idle_timeout (no output for s
# seconds) for commands, as a context block, and for every host of each(). Against a listener
# that accepts and never answers, and a command that goes silent.
source "$TESTROOT/remote_lib.sh"      # lib.sh, and the t.lua check helpers
source "$TESTROOT/fleet_lib.bash"
source "$TESTROOT/fault_lib.bash"
need_sshd
plan 37
# A duration nobody else uses, so pgrep finds only this file's remote commands.
DUR="41.$$"
remote_sleeps() { pgrep -f "sleep $DUR\$"; }
trap 'stop_listeners; for p in $(remote_sleeps); do kill "$p" 2>/dev/null; done; rm -rf "$TMP"' EXIT

start_listener mute 127.0.0.1; MUTE=$LPORT
# No ConnectTimeout anywhere: without the block the default (30 s) would apply.
H=$(fault_home timeouts "Host mute
  HostName 127.0.0.1
  Port $MUTE")

script connect_block.sshs <<'EOS'
local T = require "t"
local t0 = T.now()
local ok, e = pcall(function()
  with timeout(1) do
    with connect("mute") do $ echo never end
  end
end)
local took = T.now() - t0
T.ok("with timeout(1): connect to a host that accepts and never answers fails", not ok)
T.has("... with a timeout message", T.msg(e), "timed out after 1s")
T.ok("... not the 30 s default (took " .. took .. " s)", took < 30)
t0 = T.now()
ok, e = pcall(function()
  with idle_timeout(1) do connect("mute") end
end)
T.ok("with idle_timeout(1): a connect that makes no progress is bounded too (not by the 30 s default)", not ok and T.now() - t0 < 30, T.msg(e))
-- outside any block the connect keeps its own timeout (ConnectTimeout / opts.timeout)
t0 = T.now()
ok, e = pcall(connect, "mute", {timeout = 2})
T.ok("connect{timeout = 2} alone still applies (took " .. (T.now() - t0) .. " s)", not ok and T.now() - t0 >= 1.5, T.msg(e))
-- a block with a longer timeout does not lengthen a shorter connect timeout
t0 = T.now()
with timeout(20) do ok, e = pcall(connect, "mute", {timeout = 1}) end
T.ok("with timeout(20) keeps connect{timeout = 1}", not ok and T.msg(e):find("after 1s", 1, true) ~= nil, T.msg(e))
EOS
if bounded 60 "connect inside timeout blocks" env HOME="$H" "$SSHS" "$TMP/connect_block.sshs"; then
  sed -e '/^ok - /b' -e '/^not ok - /b' -e '/^#/b' -e 's/^/# out: /' "$TMP/out"
  check "connect_block.sshs exits 0" [ "$rc" = 0 ]
fi

# each(): a mute host among good ones, under host_timeout / idle_timeout (5 s: they bound the
# good hosts' connects too, which a loaded machine slows).
script each_mute.sshs <<'EOS'
local T = require "t"
for _, opt in ipairs{"host_timeout", "idle_timeout"} do
  local t0 = T.now()
  local out = each({"127.0.0.1", "mute", "127.0.0.2"}, function(h) return $(echo up) end, {[opt] = 5})
  local took = T.now() - t0
  T.ok("each{" .. opt .. " = 5}: the mute host fails, as unreachable", out.mute.ok == false and out.mute.unreachable, T.show(out.mute.error))
  T.ok("each{" .. opt .. " = 5}: the others succeed", out["127.0.0.1"].value == "up" and out["127.0.0.2"].value == "up")
  T.ok("each{" .. opt .. " = 5}: bounded by it, not by the 30 s default (took " .. took .. " s)", took < 30)
end
EOS
if bounded 60 "each with a mute host" env HOME="$H" "$SSHS" "$TMP/each_mute.sshs"; then
  sed -e '/^ok - /b' -e '/^not ok - /b' -e '/^#/b' -e 's/^/# out: /' "$TMP/out"
  check "each_mute.sshs exits 0" [ "$rc" = 0 ]
fi

# A command that goes silent.
script silent.sshs <<EOS
local T = require "t"
local DUR = "$DUR"
EOS
cat >> "$TMP/silent.sshs" <<'EOS'
for _, where in ipairs{"local", "127.0.0.3"} do
  local function go(fn)
    if where == "local" then return fn() end
    with connect(where) do return fn() end
  end
  go(function()
    local t0 = T.now()
    local ok, e = pcall(run, "echo first; sleep 0.4; echo second; sleep " .. DUR, {idle_timeout = 1})
    local took = T.now() - t0
    T.ok(where .. ": run{idle_timeout = 1} stops a command that goes silent", not ok and e.idle_timed_out == true, T.msg(e))
    T.has(where .. ": the message says 'no output for 1s'", T.msg(e), "no output for 1s")
    T.eq(where .. ": what it printed before is kept", e.stdout, "first\nsecond\n")
    T.ok(where .. ": stopped 1 s after the last output, not before, long before the command ends (took " .. took .. " s)",
      took >= 1.35 and took < tonumber(DUR))
    -- output every 0.3 s for 1.5 s: never idle for 3 s (a margin for a busy machine), so it runs to the end
    local r = run("for i in 1 2 3 4 5; do echo $i; sleep 0.3; done", {idle_timeout = 3})
    T.ok(where .. ": a command that keeps talking is not stopped", r.ok and select(2, r.stdout:gsub("\n", "")) == 5)
    with check(false) do
      with idle_timeout(1) do
        local r2 = run("echo x >&2; sleep " .. DUR)
        T.ok(where .. ": with idle_timeout(1) (stderr output counts too)", r2.idle_timed_out == true and r2.stderr == "x\n", T.show(r2.stderr))
      end
    end
  end)
end
EOS
# The each() part runs in a process of its own (a fresh process, whatever ran before; the
# after_stops.sshs checks below cover what used to break a later connection).
script silent_each.sshs <<EOS
local T = require "t"
local DUR = "$DUR"
EOS
cat >> "$TMP/silent_each.sshs" <<'EOS'
local out = each("127.0.0.[4-6]", function(h)
  if h == "127.0.0.5" then $ echo begin; sleep #{raw(DUR)}
  end
  $ echo one; sleep 0.3; echo two
  return "fine"
end, {idle_timeout = 5})    -- 5 s: it also bounds the connect, which a loaded machine slows
T.ok("each{idle_timeout = 5}: the silent host fails with the idle message",
  out["127.0.0.5"].ok == false and T.msg(out["127.0.0.5"].error):find("no output for 5s", 1, true) ~= nil, T.show(out["127.0.0.5"].error))
T.ok("each{idle_timeout = 5}: ... and timed_out in its outcome", out["127.0.0.5"].timed_out == true)
T.ok("each{idle_timeout = 5}: the talking hosts succeed", out["127.0.0.4"].ok and out["127.0.0.6"].ok,
  T.show(out["127.0.0.4"].error), T.show(out["127.0.0.6"].error))
EOS
# Regression: a remote command's stop runs on an internal channel whose capture fd was 0
# (calloc), so freeing it closed fd 0 — stdin, or by then a new connection's socket, which
# then stalled in its handshake.
script after_stops.sshs <<EOS
local T = require "t"
local DUR = "$DUR"
EOS
cat >> "$TMP/after_stops.sshs" <<'EOS'
local fd0 = T.sh("readlink /proc/" .. T.pid .. "/fd/0")
with connect("127.0.0.3") do
  with check(false) do
    T.ok("a first remote command stopped by timeout", run("echo x >&2; sleep " .. DUR, {timeout = 1}).timed_out == true)
    T.ok("a second one", run("echo y >&2; sleep " .. DUR, {timeout = 1}).timed_out == true)
  end
end
local out = each("127.0.0.[4-6]", function() return $(echo one) end, {timeout = 10})
T.ok("after stopped commands and a close, new connections complete their handshakes",
  out["127.0.0.4"].ok and out["127.0.0.5"].ok and out["127.0.0.6"].ok,
  T.show(out["127.0.0.4"].error), T.show(out["127.0.0.5"].error), T.show(out["127.0.0.6"].error))
T.eq("fd 0 is still what it was", T.sh("readlink /proc/" .. T.pid .. "/fd/0"), fd0)
EOS
for name in silent silent_each after_stops; do
  if bounded 90 "silent commands ($name)" env HOME="$SSHS_TEST_HOME" "$SSHS" "$TMP/$name.sshs"; then
    sed -e '/^ok - /b' -e '/^not ok - /b' -e '/^#/b' -e 's/^/# out: /' "$TMP/out"
    check "$name.sshs exits 0" [ "$rc" = 0 ]
  fi
done
for _ in $(seq 1 300); do [ -z "$(remote_sleeps)" ] && break; sleep 0.1; done   # sshd ends them after the channel closes
left=$(remote_sleeps | wc -l)
checkv "no silent command left running (local or remote)" "found $left" [ "$left" = 0 ]
