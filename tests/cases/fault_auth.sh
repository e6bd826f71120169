#!/usr/bin/env bash
# Every way connect/auth can fail, each with no agent, an empty agent, an agent holding keys
# the server refuses, SSH_AUTH_SOCK set but empty, and SSH_AUTH_SOCK naming no socket: a
# refused key, a wrong password, a server that ends the connection during authentication
# (MaxAuthTries 1), a server that closes at once, and a timeout at each stage (TCP connect,
# before the banner, after the banner). Each failure is a Lua error naming the host and what
# failed, the process carries on (a live host works after them) and exits 0. Under ASan
# (make asan) this is also the memory check of those paths. Issue 19 defect 2: a refused key
# with an agent running freed the agent after its session (rc 139).
source "$TESTROOT/remote_lib.sh"
source "$TESTROOT/fault_lib.bash"
AGENTS="none empty refused blank nosocket"
CASES=8
plan $(( 5 * (CASES + 2) ))
CLEANUP+=("stop_listeners")

start_sshd "$TMP/fsshd1" $'PasswordAuthentication yes\nMaxAuthTries 1' || exit 1
export MAXTRY1_PORT=$X_PORT MAXTRY1_KH=$X_KNOWN_HOSTS
start_sshd "$TMP/fsshd" $'PasswordAuthentication yes' || exit 1
export X_PORT X_KNOWN_HOSTS X_WRONG_KEY
start_listener silent 127.0.0.1; export SILENT=$LPORT
start_listener mute 127.0.0.1; export MUTE=$LPORT
start_listener close 127.0.0.1; export CLOSE=$LPORT
start_listener banner 127.0.0.1; export BANNER=$LPORT
ssh-keygen -q -t ed25519 -N '' -C other -f "$TMP/other_key"     # known to no server

# A home without keys: only what each case gives can authenticate (nothing does).
mkdir -p "$TMP/home/.ssh"
export RHOME=$TMP/home

script fail.sshs <<'EOF'
local T = require "t"
local port, kh = tonumber(os.getenv("X_PORT")), os.getenv("X_KNOWN_HOSTS")
local function opts(extra)
  local o = {port = port, known_hosts = kh, timeout = 2}
  for k, v in pairs(extra) do o[k] = v end
  return o
end
local cases = {
  {"a refused key", "127.0.0.1", opts{key = os.getenv("X_WRONG_KEY")}, "authentication to root@127.0.0.1 failed"},
  {"a wrong password", "127.0.0.1", opts{password = "not the password"}, "password (refused)"},
  {"the server ends the connection during authentication (MaxAuthTries 1)", "127.0.0.1",
   opts{key = os.getenv("X_WRONG_KEY"), password = "not the password",
        port = tonumber(os.getenv("MAXTRY1_PORT")), known_hosts = os.getenv("MAXTRY1_KH")}, "authentication to root@127.0.0.1 failed"},
  {"a server that closes at once", "127.0.0.1", opts{port = tonumber(os.getenv("CLOSE"))},
   "SSH handshake with root@127.0.0.1 failed"},
  {"a TCP connect that never completes", "127.0.0.1", opts{port = tonumber(os.getenv("SILENT"))},
   "timed out after 2s connecting"},
  {"a server that never sends its banner", "127.0.0.1", opts{port = tonumber(os.getenv("MUTE"))},
   "timed out after 2s in the SSH handshake"},
  {"a server stuck after its banner", "127.0.0.1", opts{port = tonumber(os.getenv("BANNER"))},
   "timed out after 2s in the SSH handshake"},
}
for _, c in ipairs(cases) do
  local e = T.fails(connect, c[2], c[3])
  T.ok(arg[1] .. ": " .. c[1] .. ": a Lua error that says so", e and e:find(c[4], 1, true) and e:find("127.0.0.1", 1, true),
       "error: " .. T.show(e))
end
-- The process is fine afterwards: a good connection in the same process.
local good = T.fails(function()
  with connect("127.0.0.1", opts{key = os.getenv("SSHS_TEST_KEY"), port = tonumber(os.getenv("SSHS_TEST_PORT")),
                                 known_hosts = os.getenv("SSHS_TEST_KNOWN_HOSTS")}) do
    assert($(echo after) == "after")
  end
end)
T.ok(arg[1] .. ": a working connection afterwards, in the same process", good == nil, "error: " .. T.show(good))
EOF

for agent in $AGENTS; do
  unset SSH_AUTH_SOCK SSH_AGENT_PID
  case $agent in
    empty|refused)
      eval "$(ssh-agent -s -a "$TMP/agent-$agent.sock")" > /dev/null
      CLEANUP+=("kill $SSH_AGENT_PID")
      [ $agent = refused ] && ssh-add -q "$X_WRONG_KEY" "$TMP/other_key" 2>/dev/null;;
    blank) export SSH_AUTH_SOCK=;;
    nosocket) export SSH_AUTH_SOCK=$TMP/no-such-agent.sock;;
  esac
  LIMIT=120 run_remote fail.sshs "agent $agent"
  sed -e '/^ok - /b' -e '/^not ok - /b' -e 's/^/# out: /' "$TMP/out"
  n=$(grep -c '^ok - \|^not ok - ' "$TMP/out")
  for i in $(seq $((n + 1)) "$CASES"); do not_ok "agent $agent: check $i did not run" "$(tail -n 5 "$TMP/err")"; done
  if [ "$rc" = 0 ]; then ok "agent $agent: exit status 0 (no crash)"; else not_ok "agent $agent: exit status 0 (no crash)" "exit $rc" "$(tail -n 8 "$TMP/err")"; fi
  if grep -q 'AddressSanitizer\|runtime error' "$TMP/err"; then not_ok "agent $agent: no sanitizer report" "$(grep -A5 'AddressSanitizer\|runtime error' "$TMP/err" | head -20)"
  else ok "agent $agent: no sanitizer report"; fi
  if [ -n "${SSH_AGENT_PID:-}" ]; then kill "$SSH_AGENT_PID" 2>/dev/null; fi
done
