#!/usr/bin/env bash
# A stdout stream (plus an upload and parallel streams) crossing many rekeys, on a private sshd
# (a file of its own: it is the longest part of the resilience tests, and files run in
# parallel). The quick run proves it with a low rekey limit: 64 MiB down, 19 MB up and
# 4 x 16 MB at once, with sshd rekeying every 4M (dozens of rekeys). `make soak`
# (SSHS_SOAK=1) runs the full sizes: 1 GiB down, 216 MB up, 4 x 100 MB, RekeyLimit 64M.
source "$TESTROOT/remote_lib.sh"
plan 7

if [ -n "${SSHS_SOAK:-}" ]; then
  REKEY=64M STREAM_BYTES=$((1024 * 1024 * 1024)) UP_REPS=$((12 * 1024 * 1024)) PAR_BYTES=100000000 LIMIT=400
else
  REKEY=4M STREAM_BYTES=$((64 * 1024 * 1024)) UP_REPS=$((1024 * 1024)) PAR_BYTES=16000000 LIMIT=240
fi
export STREAM_BYTES UP_REPS PAR_BYTES

# The reference checksum of the stream, computed locally in the background meanwhile.
STREAM="openssl enc -aes-128-ctr -pass pass:x -nosalt -pbkdf2 < /dev/zero 2>/dev/null | head -c $STREAM_BYTES"
export STREAM
( eval "$STREAM" | sha256sum | cut -d' ' -f1 > "$TMP/ref_sum" ) &
REF_PID=$!
CLEANUP+=("kill $REF_PID")

# ---------------------------------------------------------------------------------------------
# The stream of stdout across many rekeys (RekeyLimit on a private sshd).
if start_sshd "$TMP/rekey" "RekeyLimit $REKEY"$'\nLogLevel DEBUG1'; then
  wait "$REF_PID"
  REF=$(cat "$TMP/ref_sum")
  export REF
  script rekey.sshs <<'EOF'
local T = require "t"
local port, kh, key = tonumber(arg[1]), arg[2], arg[3]
local sumfile = os.tmpname()
local size = tonumber(T.env("STREAM_BYTES"))
local what = string.format("%d MiB stream", size // (1024 * 1024))
with connect("127.0.0.1", {port = port, known_hosts = kh, key = key}) do
  local sink = io.popen("sha256sum | cut -d' ' -f1 > " .. sumfile, "w")
  local bytes = 0
  local t0 = T.now()
  local r = run(T.env("STREAM"), {on_stdout = function(d) sink:write(d); bytes = bytes + #d end})
  sink:close()
  T.eq(what .. ": every byte arrives", bytes, size)
  T.eq(what .. ": streamed, so not also held in r.stdout", #r.stdout, 0)
  r = nil
  collectgarbage()
  T.eq(what .. " across rekeys: sha256 matches the local computation", (T.read(sumfile) or ""):match("%x+"), T.env("REF"))
  print("# " .. what .. " in " .. string.format("%.1f", T.now() - t0) .. " s")

  -- Uploads cross rekeys too (client-to-server direction).
  local up = string.rep("sshs-rekey-upload-", tonumber(T.env("UP_REPS")))
  local tmp = os.tmpname(); T.write(tmp, up)
  local want = T.sh("sha256sum < " .. tmp .. " | cut -d' ' -f1")
  os.remove(tmp)
  T.eq(string.format("%d MB of stdin across rekeys arrives intact", #up // 1000000), run("sha256sum | cut -d' ' -f1", {stdin = up}).stdout, want)
  up = nil
  collectgarbage()

  -- Several channels streaming while the keys change under them.
  local hs, want = {}, {}
  local function stream(i)
    return "openssl enc -aes-128-ctr -pass pass:" .. i .. " -nosalt -pbkdf2 < /dev/zero 2>/dev/null | head -c " .. T.env("PAR_BYTES")
  end
  for i = 1, 4 do want[i] = T.sh(stream(i) .. " | sha256sum | cut -d' ' -f1") end
  for i = 1, 4 do
    hs[i] = thread(function()
      local r = run(stream(i))
      local f = os.tmpname(); T.write(f, r.stdout)
      local got = T.sh("sha256sum < " .. f .. " | cut -d' ' -f1")
      os.remove(f)
      return got
    end)
  end
  local good, bad = T.join_all(hs, want)
  T.ok(string.format("4 parallel %d MB streams across rekeys all arrive intact", tonumber(T.env("PAR_BYTES")) // 1000000), good == 4, bad)
end
os.remove(sumfile)
EOF
  lua_checks rekey.sshs "$X_PORT" "$X_KNOWN_HOSTS" "$X_KEY"
  n=$(grep -c 'ssh_set_newkeys: rekeying' "$TMP/rekey/sshd.log")
  if [ "$n" -ge 16 ]; then ok "the streams really crossed rekeys ($n)"
  else not_ok "the streams really crossed rekeys" "only $n rekeys in the sshd log (want >= 16)"; fi
  kex=$(grep -m1 'kex: algorithm:' "$TMP/rekey/sshd.log" | sed 's/.*kex: algorithm: //; s/ .*//')
  [ "$kex" = curve25519-sha256 ] && ok "curve25519 key exchange is negotiated" \
    || not_ok "curve25519 key exchange is negotiated" "sshd log says: $kex"
fi
