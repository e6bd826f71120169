#!/usr/bin/env bash
# The runtime's footing on the remote side: a script that reassigns the global _SSHS still
# connects, runs remote commands (also in threads and nested connections) and gets their
# failures reported; remote and local commands share one command object.
source "$TESTROOT/remote_lib.sh"
plan 13

for v in '{}' 'nil'; do
  script ctx.sshs <<EOF
local T = require "t"
_SSHS = $v
with connect("127.0.0.1") do
  T.eq("_SSHS = $v: a remote command runs", \$(echo remote-ok), "remote-ok")
  local h = thread(function() return \$(echo in-thread) end)
  T.eq("_SSHS = $v: a thread inside the connection runs its command there", h:join(), "in-thread")
  local ok, e = pcall(function() \$ sh -c 'exit 4' end)
  T.has("_SSHS = $v: a remote failure is reported with its exit status", T.msg(e), "(exit 4)")
end
T.eq("_SSHS = $v: a local command runs after the connection", \$(echo local-ok), "local-ok")
EOF
  lua_checks ctx.sshs
done

# One command object for both sessions: same methods, same result fields.
script obj.sshs <<'EOF'
local T = require "t"
local c = connect("127.0.0.1")
local op = c.conn:exec("echo hi", {})
local lop = _SSHS.core.spawn("echo hi", {})
T.eq("remote and local command objects share a metatable", getmetatable(op), getmetatable(lop))
repeat local ev = op:wait() until ev == "done"
repeat local ev = lop:wait() until ev == "done"
local r, l = op:result(), lop:result()
T.ok("both results carry stdout, exitcode and timed_out", r.stdout == "hi\n" and l.stdout == "hi\n"
     and r.exitcode == 0 and l.exitcode == 0 and r.timed_out == false and l.timed_out == false,
     T.show(r.stdout) .. " " .. T.show(r.exitcode) .. " " .. T.show(r.timed_out))
EOF
lua_checks obj.sshs

# SSHS_TRACE: the stage table names each stage change of a remote command.
script trace.sshs <<'EOF'
with connect("127.0.0.1") do $ true
end
EOF
SSHS_TRACE=1 run_remote trace.sshs
want="exec#1: open -> exec|exec#1: exec -> io|exec#1: io -> close|exec#1: close -> wait-closed|exec#1: wait-closed -> free|exec#1: free -> done"
got=$(printf '%s\n' "$err" | sed -n 's/^sshs: trace: [^ ]* \(exec#\)/\1/p' | paste -sd'|')   # (auth has lines of its own)
if [ "$rc" = 0 ] && [ "$got" = "$want" ]; then ok "SSHS_TRACE=1: a command's stages in order, open to done"
else not_ok "SSHS_TRACE=1: a command's stages in order, open to done" "got: $got" "$(show)"; fi
# ... and of every other kind of op: SFTP (the channel and a request), a pty, a forward's
# tunnel (-L, to the test server itself) and a remote forward (-R).
script trace_all.sshs <<'EOF'
with connect("127.0.0.1") do
  local tmp = os.tmpname()
  put_text(tmp, "x")
  os.remove(tmp)
  with console() as c do c:run("true") end
  with forward{listen = 0, to = "127.0.0.1:" .. os.getenv("SSHS_TEST_PORT")} as f do
    $ exec 3<>/dev/tcp/127.0.0.1/#{f.port}; head -c 4 <&3
  end
  with forward{remote = 0, to = "127.0.0.1:9"} do end
end
EOF
SSHS_TRACE=1 run_remote trace_all.sshs
missing=""
for kind in "sftp#" "sftp-request#" "pty#" "tunnel#" "forward#"; do
  case "$err" in *"trace: "*" $kind"*) ;; *) missing="$missing $kind";; esac
done
if [ "$rc" = 0 ] && [ -z "$missing" ]; then ok "SSHS_TRACE=1: SFTP, pty, tunnel and forward ops trace their stages too"
else not_ok "SSHS_TRACE=1: SFTP, pty, tunnel and forward ops trace their stages too" "missing:$missing" "$(show)"; fi
run_remote trace.sshs
case "$err" in *"trace:"*) not_ok "without SSHS_TRACE: no trace lines" "$(show)";; *) ok "without SSHS_TRACE: no trace lines";; esac
