#!/usr/bin/env bash
# Port forwards on the current session. Local (ssh -L, forward{listen = …, to = …}): data both
# ways (1 MB echoed and compared), port 0 and .port, 100 concurrent short connections, `with`
# closes it (the port stops listening), through a jump host; errors: a port in use, a refused
# target (just that connection closes, the forward and other commands keep working), a server
# with AllowTcpForwarding no, bad specs. Remote (ssh -R, forward{remote = …, to = …}): the
# server's port 0 and .port, data both ways, 20 concurrent connections, `with` closes it, a
# port in use on the server, AllowTcpForwarding no.
source "$TESTROOT/remote_lib.sh"
plan 25

# server.py echo|count: a forward's target on a free loopback port (printed). echo sends back
# what it reads; count reads to EOF, then answers "got N" (needs half-close kept, as ssh -L).
cat > "$TMP/server.py" <<'PY'
import socket, sys, threading
mode = sys.argv[1]
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen(256)
print(s.getsockname()[1], flush=True)
def serve(c):
    with c:
        n = 0
        while True:
            d = c.recv(65536)
            if not d: break
            if mode == "echo": c.sendall(d)
            n += len(d)
        if mode == "count": c.sendall(b"got %d" % n)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
# client.py PORT N: sends N random bytes through PORT and checks the echo; prints ok / bad / refused.
cat > "$TMP/client.py" <<'PY'
import socket, sys, os, threading
port, n = int(sys.argv[1]), int(sys.argv[2])
try:
    c = socket.create_connection(("127.0.0.1", port), timeout=20)
except OSError as e:
    print("refused", e); sys.exit(0)
data = os.urandom(n); got = []
def rd():
    t = 0
    while t < n:
        try: d = c.recv(65536)
        except OSError: break
        if not d: break
        got.append(d); t += len(d)
th = threading.Thread(target=rd); th.start()
try: c.sendall(data)
except OSError: pass
th.join(); c.close()
print("ok" if b"".join(got) == data else "bad %d" % sum(map(len, got)))
PY
# half.py PORT N: sends N bytes, shuts its write side, prints what comes back before EOF.
cat > "$TMP/half.py" <<'PY'
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
c.sendall(b"x" * int(sys.argv[2])); c.shutdown(socket.SHUT_WR)
got = b""
while True:
    d = c.recv(65536)
    if not d: break
    got += d
print(got.decode() or "(nothing)")
PY
for mode in echo count; do
  python3 "$TMP/server.py" "$mode" > "$TMP/$mode.port" &
  CLEANUP+=("kill $!")
done
for mode in echo count; do
  for _ in $(seq 1 50); do [ -s "$TMP/$mode.port" ] && break; sleep 0.1; done
done
ECHO_PORT=$(cat "$TMP/echo.port") COUNT_PORT=$(cat "$TMP/count.port")
# A port where nothing listens (bound, then closed).
DEAD_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export ECHO_PORT DEAD_PORT COUNT_PORT TMP

script fwd.sshs <<'EOF2'
local T = require "t"
local TMP, EP, DP = os.getenv("TMP"), os.getenv("ECHO_PORT"), os.getenv("DEAD_PORT")
local function client(port, n) return $(python3 #{TMP}/client.py #{port} #{n}) end
-- n short connections at once: how many came back "ok", and the others' answers.
local function concurrent(port, n)
  local hs = {}
  for i = 1, n do hs[i] = thread(function() return client(port, 2000) end) end
  return T.join_all(hs, function() return "ok" end)
end
local port
with connect("127.0.0.1") do
  with forward{listen = "127.0.0.1:0", to = "127.0.0.1:" .. EP} as f do
    port = f.port
    T.ok("listen port 0: .port is the port chosen", math.type(f.port) == "integer" and f.port > 0, f.port)
    T.eq("1 MB both ways through the forward, intact", client(f.port, 1000000), "ok")
    local good, bad = concurrent(f.port, 100)
    T.eq("100 concurrent short connections", good, 100, bad)
    T.ok("... each carried on its own channel", f.accepted >= 101, f.accepted)
    T.eq("commands keep working on the same session meanwhile", $(echo still), "still")
    -- the port is in use now
    local msg = T.fails(forward, {listen = "127.0.0.1:" .. f.port, to = "127.0.0.1:" .. EP})
    T.has("a port in use: the error names the forward and the cause", msg, "Address already in use")
    T.has("... and the listen address", msg, "127.0.0.1:" .. f.port)
  end
  T.like("after `with` the port no longer listens", client(port, 10), "^refused")
  -- half-close: the client's EOF reaches the target, whose answer still comes back
  with forward{listen = 0, to = "127.0.0.1:" .. os.getenv("COUNT_PORT")} as h do
    T.eq("half-close through a local forward: the answer after the client's EOF arrives",
         $(python3 #{TMP}/half.py #{h.port} 300000), "got 300000")
  end
  with forward{remote = "127.0.0.1:0", to = "127.0.0.1:" .. os.getenv("COUNT_PORT")} as h do
    T.eq("half-close through a remote forward", $(python3 #{TMP}/half.py #{h.port} 300000), "got 300000")
  end
  -- a refused target closes just that connection
  with forward{listen = 0, to = "127.0.0.1:" .. DP} as g do
    T.like("a refused target: that connection is closed", client(g.port, 10), "^bad 0")
    T.eq("... the session still works", $(echo alive), "alive")
  end
  -- remote forward: the server listens, its connections come back here
  with forward{remote = "127.0.0.1:0", to = "127.0.0.1:" .. EP} as r do
    port = r.port
    T.ok("remote port 0: .port is the server's port", math.type(r.port) == "integer" and r.port > 0, r.port)
    T.eq("remote forward: 1 MB both ways, intact (client on the server)", client(r.port, 1000000), "ok")
    local good, bad = concurrent(r.port, 20)
    T.eq("remote forward: 20 concurrent connections", good, 20, bad)
  end
  T.like("after `with` the server's port no longer listens", client(port, 10), "^refused")
  local msg = T.fails(forward, {remote = "127.0.0.1:" .. T.port, to = "127.0.0.1:" .. EP})
  T.has("remote forward on a port in use on the server: the error names the forward", msg, "forward remote 127.0.0.1:" .. T.port)
  T.has("... and says the server refused", msg, "refused to listen")
  T.eq("... and the session still works", $(echo fine), "fine")
  T.has("a bad spec names the problem", T.fails(forward, {listen = "nope", to = "127.0.0.1:1"}), "bad listen")
end
-- through a jump host: the forward's channels ride on the inner connection
with connect("127.0.0.1") do
  with connect("127.0.0.2") do
    with forward{listen = 0, to = "127.0.0.1:" .. EP} as f do
      T.eq("through a jump host", client(f.port, 100000), "ok")
    end
    with forward{listen = 0, to = "127.0.0.1:" .. os.getenv("COUNT_PORT")} as f do
      T.eq("half-close through a jump host", $(python3 #{TMP}/half.py #{f.port} 1000), "got 1000")
    end
  end
end
EOF2
lua_checks fwd.sshs
grep -q 'could not open a connection to 127.0.0.1:'"$DEAD_PORT" "$TMP/err" && ok "a refused target: a warning names the forward, the host and the target" \
  || not_ok "a refused target: a warning names the forward, the host and the target" "$(cat "$TMP/err")"

# A server that forbids forwarding.
if start_sshd "$TMP/nofwd" $'AllowTcpForwarding no'; then
  export X_PORT X_KNOWN_HOSTS X_KEY
  script nofwd.sshs <<'EOF2'
local TMP, EP = os.getenv("TMP"), os.getenv("ECHO_PORT")
with connect("127.0.0.1", {port = tonumber(os.getenv("X_PORT")), known_hosts = os.getenv("X_KNOWN_HOSTS"), key = os.getenv("X_KEY")}) do
  with forward{listen = 0, to = "127.0.0.1:" .. EP} as f do
    print("CLIENT " .. $(python3 #{TMP}/client.py #{f.port} 10))
    print("STILL " .. $(echo works))
  end
  local ok, e = pcall(forward, {remote = "127.0.0.1:0", to = "127.0.0.1:" .. EP})
  print("REMOTE " .. tostring(ok) .. " " .. tostring(e and (e.message or e)))
end
EOF2
  run_remote nofwd.sshs
  case "$err" in *"forward 127.0.0.1:"*"could not open"*"prohibited"*) ok "AllowTcpForwarding no: the warning names the forward and the server's reason";;
    *) not_ok "AllowTcpForwarding no: the warning names the forward and the server's reason" "$(show)";; esac
  case "$out" in *"REMOTE false "*"forward remote 127.0.0.1:0"*"refused to listen"*) ok "AllowTcpForwarding no: a remote forward fails, naming the forward";;
    *) not_ok "AllowTcpForwarding no: a remote forward fails, naming the forward" "$(show)";; esac
else
  skip_checks 2 "the private sshd did not start"
fi
