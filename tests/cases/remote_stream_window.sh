#!/usr/bin/env bash
# A stream to an on_stdout callback that falls behind: how far sshd may run ahead of the
# callback. sshd reads a command's output into its channel buffer as far as our channel window
# allows whenever it cannot send, and OpenSSH copies that whole buffer for every 32 KiB it
# reads more, so a window of many MiB left a slow stream crawling at ~1 MB/s to its end
# (issue 21). What runs ahead is counted in bytes the command managed to write while the
# callback held its first chunk: bounded by the window + the 4 MiB callback backlog + pipes,
# never by time (a slow machine only makes the count smaller).
source "$TESTROOT/remote_lib.sh"
plan 3

script window.sshs <<'EOF'
local T = require "t"
local count = os.tmpname()
local chunk = 65536
-- 48 MiB in 64 KiB writes; after each write the number written goes to `count` (the test sshd
-- is on this machine, so the file is ours to read).
local cmd = "i=0; while [ $i -lt 768 ]; do head -c " .. chunk .. " /dev/zero || exit 1; i=$((i+1)); echo $i > " .. count .. "; done"
local function written() return tonumber(T.read(count) or "") or 0 end
local held, ahead, got = false, nil, 0
with connect("127.0.0.1") do
  run(cmd, {on_stdout = function(d)
    got = got + #d
    if held then return end
    held = true
    -- Hold the first chunk until the command stops getting anywhere (blocked on its pipe).
    local last, still = -1, 0
    for _ = 1, 300 do                 -- at most 60 s: a guard against a hang, not a bound
      sleep(0.2)
      local n = written()
      if n == last then still = still + 1 else still = 0 end
      last = n
      if still >= 5 then break end
    end
    ahead = last * chunk
  end})
end
os.remove(count)
T.ok("every byte arrives after the callback catches up", got == 768 * chunk, got)
T.ok("the command stopped while the callback held its first chunk", ahead and ahead < 768 * chunk, ahead)
-- 2 MiB window + 4 MiB backlog + a 256 KiB drain slice + pipe and socket slack (with a
-- 16 MiB window sshd took ~20 MiB ahead).
T.ok("sshd runs at most ~window + backlog ahead of a stalled callback (<= 10 MiB)",
  ahead and ahead <= 10 * 1048576, string.format("%.1f MiB written ahead", (ahead or 0) / 1048576))
EOF
lua_checks window.sshs
