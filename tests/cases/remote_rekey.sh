#!/usr/bin/env bash
# A 1 GiB stdout stream (plus uploads and parallel streams) crossing many rekeys, on a private
# sshd with RekeyLimit 64M (a file of its own: it is the longest part of the resilience tests,
# and files run in parallel).
source "$TESTROOT/remote_lib.sh"
plan 7

# The reference checksum of the 1 GiB stream, computed locally in the background meanwhile.
STREAM="openssl enc -aes-128-ctr -pass pass:x -nosalt -pbkdf2 < /dev/zero 2>/dev/null | head -c 1073741824"
export STREAM
( eval "$STREAM" | sha256sum | cut -d' ' -f1 > "$TMP/ref_sum" ) &
REF_PID=$!
CLEANUP+=("kill $REF_PID")

# ---------------------------------------------------------------------------------------------
# 1 GiB of stdout across many rekeys (RekeyLimit 64M on a private sshd).
if start_sshd "$TMP/rekey" $'RekeyLimit 64M\nLogLevel DEBUG1'; then
  wait "$REF_PID"
  REF=$(cat "$TMP/ref_sum")
  export REF
  script rekey.sshs <<'EOF'
local T = require "t"
local port, kh, key = tonumber(arg[1]), arg[2], arg[3]
local sumfile = os.tmpname()
with connect("127.0.0.1", {port = port, known_hosts = kh, key = key}) do
  local sink = io.popen("sha256sum | cut -d' ' -f1 > " .. sumfile, "w")
  local bytes = 0
  local t0 = T.now()
  local r = run(T.env("STREAM"), {on_stdout = function(d) sink:write(d); bytes = bytes + #d end})
  sink:close()
  T.eq("1 GiB stream: every byte arrives", bytes, 1073741824)
  T.eq("1 GiB stream: streamed, so not also held in r.stdout", #r.stdout, 0)
  r = nil
  collectgarbage()
  T.eq("1 GiB stream across rekeys: sha256 matches the local computation", (T.read(sumfile) or ""):match("%x+"), T.env("REF"))
  print("# 1 GiB in " .. string.format("%.1f", T.now() - t0) .. " s")

  -- Uploads cross rekeys too (client-to-server direction).
  local up = string.rep("sshs-rekey-upload-", 12 * 1024 * 1024)          -- ~216 MB
  local tmp = os.tmpname(); T.write(tmp, up)
  local want = T.sh("sha256sum < " .. tmp .. " | cut -d' ' -f1")
  os.remove(tmp)
  T.eq("216 MB of stdin across rekeys arrives intact", run("sha256sum | cut -d' ' -f1", {stdin = up}).stdout, want)
  up = nil
  collectgarbage()

  -- Several channels streaming while the keys change under them.
  local hs, want = {}, {}
  local function stream(i)
    return "openssl enc -aes-128-ctr -pass pass:" .. i .. " -nosalt -pbkdf2 < /dev/zero 2>/dev/null | head -c 100000000"
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
  T.ok("4 parallel 100 MB streams across rekeys all arrive intact", good == 4, bad)
end
os.remove(sumfile)
EOF
  LIMIT=400 lua_checks rekey.sshs "$X_PORT" "$X_KNOWN_HOSTS" "$X_KEY"
  n=$(grep -c 'ssh_set_newkeys: rekeying' "$TMP/rekey/sshd.log")
  if [ "$n" -ge 16 ]; then ok "the streams really crossed rekeys ($n)"
  else not_ok "the streams really crossed rekeys" "only $n rekeys in the sshd log (want >= 16)"; fi
  kex=$(grep -m1 'kex: algorithm:' "$TMP/rekey/sshd.log" | sed 's/.*kex: algorithm: //; s/ .*//')
  [ "$kex" = curve25519-sha256 ] && ok "curve25519 key exchange is negotiated" \
    || not_ok "curve25519 key exchange is negotiated" "sshd log says: $kex"
fi
