#!/usr/bin/env bash
# Transport stress: data integrity both ways, on every cipher (and, with the CTR ciphers, three
# MACs; every MAC under make soak) that this libssh2 and the server share, across rekeys (the private sshd rekeys every 256 KB each way), with random
# write sizes (1 byte to 1 MiB; many small writes between large ones) on three channels of one
# connection at once: a command's stdin/stdout through a remote "chunky cat" (random read and
# write sizes), a console (pty, echo off: sshd answers every pty write with an IGNORE packet
# as big as the write) fed random-length lines and checked by sha256sum, and a pty with echo
# on (its input checked by sha256sum; the echo must come back, though Linux drops echoes
# when its echo buffer is full). Then: the connection still runs a command.
# Also the regression for issue 19 defect 3: a loaded sshd that buffered a big console input
# sent an IGNORE over libssh2's 40000-byte packet limit (-41) and the connection died; here
# the session's sshd is stopped while the input goes out, then resumed.
# `make soak` (SSHS_SOAK=1): every cipher x every MAC, 16 MiB streams, two rounds.
source "$TESTROOT/remote_lib.sh"

CIPHERS_NEW="aes128-gcm@openssh.com aes256-gcm@openssh.com chacha20-poly1305@openssh.com"
CIPHERS_CTR="aes128-ctr aes192-ctr aes256-ctr"
MACS_ETM="hmac-sha2-256-etm@openssh.com hmac-sha2-512-etm@openssh.com hmac-sha1-etm@openssh.com"
MACS_PLAIN="hmac-sha2-256 hmac-sha2-512 hmac-sha1"
# "cipher mac" pairs (an AEAD cipher has no separate MAC: "-").
COMBOS=()
for c in $CIPHERS_NEW; do COMBOS+=("$c -"); done
if [ -n "${SSHS_SOAK:-}" ]; then
  for c in $CIPHERS_CTR; do for m in $MACS_ETM $MACS_PLAIN; do COMBOS+=("$c $m"); done; done
  SIZE=$((16 * 1024 * 1024)); ROUNDS=2
else
  for c in $CIPHERS_CTR; do COMBOS+=("$c hmac-sha2-256"); done
  COMBOS+=("aes128-ctr hmac-sha2-512-etm@openssh.com" "aes256-ctr hmac-sha1")
  SIZE=$((1024 * 1024)); ROUNDS=1
fi
CHECKS_PER=5     # the script's four, and its exit status
plan $(( ${#COMBOS[@]} * ROUNDS * CHECKS_PER + 1 + 2 ))

start_sshd "$TMP/stsshd" $'RekeyLimit 256K\nLogLevel DEBUG1\nCiphers aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr\nMACs hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha1-etm@openssh.com,hmac-sha2-256,hmac-sha2-512,hmac-sha1' || exit 1
export X_PORT X_KNOWN_HOSTS X_KEY

# stress.sshs CIPHER MAC SIZE SEED: the three streams at once on one connection, then a command.
script stress.sshs <<'EOF'
local T = require "t"
local cipher, mac, size, seed = arg[1], arg[2], tonumber(arg[3]), tonumber(arg[4])
math.randomseed(seed)
local label = cipher .. (mac ~= "-" and (" + " .. mac) or "")
local patience = math.max(120, size // 40000)        -- seconds an expect may wait (soak: bigger)
local SUM = "(" .. string.rep("%x", 64) .. ")  %-$"  -- sha256sum's line: exactly the last 64 hex digits
local o = {port = tonumber(os.getenv("X_PORT")), known_hosts = os.getenv("X_KNOWN_HOSTS"),
           key = os.getenv("X_KEY"), ciphers = cipher, macs = mac ~= "-" and mac or nil}

-- A write size: mostly small, some up to 64 KiB, a few up to 1 MiB.
local function piece_size()
  local r = math.random()
  if r < 0.7 then return math.random(1, 64) elseif r < 0.95 then return math.random(1, 65536) end
  return math.random(1, 1048576)
end
-- n random bytes from a 64 KiB random block (fast), every byte value present.
local block = {}
for i = 1, 65536 do block[i] = string.char(math.random(0, 255)) end
block = table.concat(block)
local function bytes(n)
  local parts, have = {}, 0
  while have < n do
    local k = math.min(n - have, math.random(1, 65536))
    local at = math.random(1, 65536 - k + 1)
    parts[#parts + 1] = block:sub(at, at + k - 1)
    have = have + k
  end
  return table.concat(parts)
end
-- Lines of printable letters, random lengths (a canonical-mode pty keeps 4095 bytes a line),
-- n bytes in all; no control bytes (the pty would act on them).
local function lines(n)
  local parts, have = {}, 0
  while have < n do
    local k = math.min(n - have, math.random(1, 4000))
    local at = math.random(1, 65536 - k + 1)
    local l = block:sub(at, at + k - 2):gsub("[^%w]", "x")
    parts[#parts + 1] = l .. "\n"
    have = have + #l + 1
  end
  return table.concat(parts)
end
-- Writes s to a console in random-size pieces.
local function send_pieces(c, s)
  local i = 1
  while i <= #s do
    local k = piece_size()
    c:send(s:sub(i, i + k - 1))
    i = i + k
  end
end
local function sha256(s)
  local f = os.tmpname()
  T.write(f, s)
  local h = T.sh("sha256sum " .. f):match("^(%x+)")
  os.remove(f)
  return h
end

-- Reads and writes in random sizes (1 byte .. 1 MiB) so the server's packets vary too.
local chunky = "perl -e 'srand(" .. seed .. "); while (1) { my $r = rand(); " ..
  "my $n = $r < 0.7 ? 1 + int(rand(64)) : $r < 0.95 ? 1 + int(rand(65536)) : 1 + int(rand(1048576)); " ..
  "my $got = sysread(STDIN, my $buf, $n); last unless $got; my $o = 0; " ..
  "while ($o < $got) { my $k = 1 + int(rand(70000)); $k = $got - $o if $k > $got - $o; " ..
  "my $w = syswrite(STDOUT, $buf, $k, $o); die \"write: $!\" unless defined $w; $o += $w; } }'"

with connect("127.0.0.1", o) do
  local data = bytes(size)
  local text = lines(size // 2)
  local echo_text = lines(math.min(size // 4, 1024 * 1024))
  local t1 = thread(function()
    local r = run(chunky, {stdin = data, check = false})
    return r.stdout == data and r.exitcode == 0, #r.stdout, r.exitcode
  end)
  local t2 = thread(function()
    with console() as c do
      c:send("head -c " .. #text .. " | sha256sum\n")
      send_pieces(c, text)
      return c:expect("%x+  %-", patience):match(SUM)
    end
  end)
  local t3 = thread(function()
    with console() as c do
      c:send("stty echo; echo READY; head -c " .. #echo_text .. " | sha256sum\n")
      c:expect("READY\n", patience)
      send_pieces(c, echo_text)
      local seen = c:expect("%x+  %-", patience)   -- the echo (letters, digits, newlines), then the sum
      return seen:match(SUM), #seen       -- (a dropped echo of the last newline may run into it)
    end
  end)
  local ok1, same, got_len, code = pcall(t1.join, t1)
  T.ok(label .. ": command stdin -> stdout through random-size reads and writes, " .. size .. " bytes intact",
       ok1 and same, "result: " .. T.show(ok1 and (got_len .. " bytes, exit " .. tostring(code)) or T.msg(same)))
  local ok2, sum = pcall(t2.join, t2)
  local want = sha256(text)
  T.ok(label .. ": console input (echo off) in random pieces, " .. #text .. " bytes intact (sha256)",
       ok2 and sum == want, "got: " .. T.show(ok2 and sum or T.msg(sum)), "want: " .. want)
  -- The tty's echo is best effort (Linux drops echoes when its echo buffer is full): what is
  -- checked is the input (sha256) and that echo traffic came back.
  local ok3, sum3, echoed = pcall(t3.join, t3)
  T.ok(label .. ": pty with echo on, " .. #echo_text .. " bytes in random pieces: intact (sha256), echo came back",
       ok3 and sum3 == sha256(echo_text) and echoed > 1000,
       "got: " .. T.show(ok3 and (tostring(sum3) .. ", " .. echoed .. " bytes back") or T.msg(sum3)))
  local ok4, alive = pcall(function() return $(echo alive) end)
  T.ok(label .. ": the connection still runs a command afterwards", ok4 and alive == "alive",
       "got: " .. T.show(ok4 and alive or T.msg(alive)))
end
EOF

LOG=$X_DIR/sshd.log
seed=${SSHS_STRESS_SEED:-$(date +%s)}
echo "# stress seed $seed (SSHS_STRESS_SEED=$seed repeats it); $ROUNDS round(s), $SIZE bytes"
for round in $(seq 1 "$ROUNDS"); do
  for combo in "${COMBOS[@]}"; do
    read -r cipher mac <<< "$combo"
    case "$cipher $mac" in
      *gcm*|*chacha*|*-etm@*)
        if [ "$LIBSSH2_OLD" = 1 ]; then
          name=$cipher; [ "$mac" != - ] && name="$cipher + $mac"
          skip_checks $CHECKS_PER "libssh2 $LIBSSH2_VER has no $name: only 1.11 has GCM, chacha20-poly1305 and EtM MACs"
          continue
        fi;;
    esac
    seed=$((seed + 1))
    LIMIT=$(( SIZE / 4000 > 300 ? SIZE / 4000 : 300 )) run_remote stress.sshs "$cipher" "$mac" "$SIZE" "$seed"
    sed -e '/^ok - /b' -e '/^not ok - /b' -e 's/^/# out: /' "$TMP/out"
    n=$(grep -c '^ok - \|^not ok - ' "$TMP/out")
    for i in $(seq $((n + 1)) $((CHECKS_PER - 1))); do not_ok "$cipher $mac: check $i did not run" "$(tail -n 5 "$TMP/err")"; done
    if [ "$rc" = 0 ]; then ok "$cipher $mac: the script ends with status 0"
    else not_ok "$cipher $mac: the script ends with status 0" "exit $rc" "$(tail -n 5 "$TMP/err")"; fi
  done
done

# The server's log shows the key re-exchanges (RekeyLimit 256K).
rekeys=$(grep 'SSH2_MSG_KEXINIT sent' "$LOG" | grep -vc preauth)
if [ "$rekeys" -gt $(( ${#COMBOS[@]} * 2 )) ]; then ok "the streams crossed key re-exchanges ($rekeys KEXINITs from the server)"
else not_ok "the streams crossed key re-exchanges" "KEXINITs sent: $rekeys" "$(grep -i 'rekey\|kex' "$LOG" | tail -n 5)"; fi

# --- a big console input while the session's sshd is stopped (issue 19, defect 3) -------------
export SSHD_PID=$(cat "$X_DIR/sshd.pid")
script stopped.sshs <<'EOF'
local T = require "t"
local o = {port = tonumber(os.getenv("X_PORT")), known_hosts = os.getenv("X_KNOWN_HOSTS"),
           key = os.getenv("X_KEY")}
-- This connection's sshd process: the listener's child that serves our port.
local function session_sshd(sig)
  for pid in T.sh("pgrep -P " .. os.getenv("SSHD_PID")):gmatch("%d+") do
    if T.served(pid, o.port) then os.execute("kill -" .. sig .. " " .. pid) end
  end
end
local n = 600 * 1000
with connect("127.0.0.1", o) do
  with console() as c do
    $ true
    c:send("head -c " .. n .. " >/dev/null; echo DONE\n")
    sleep(0.3)
    session_sshd("STOP")
    local t = thread(function() sleep(1.5); session_sshd("CONT") end)
    c:send(string.rep(string.rep("a", 999) .. "\n", n // 1000))
    t:join()
    local ok, e = pcall(c.expect, c, "DONE", 60)
    T.ok("a 600 KB console input sent while sshd was stopped arrives (no IGNORE over 40000 bytes)", ok, T.msg(e))
    local ok2, out2 = pcall(function() return $(echo after) end)
    T.ok("... and the connection still runs a command", ok2 and out2 == "after", T.msg(out2))
  end
end
EOF
LIMIT=120 lua_checks stopped.sshs
