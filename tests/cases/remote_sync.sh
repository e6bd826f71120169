#!/usr/bin/env bash
# sync(src, dst, opts) over SFTP: only what differs is sent (size or mtime; SHA-256 with
# checksum = true, hashed remotely in one command), modes/mtimes/links kept, delete removes
# extras, dry_run touches nothing, a second identical sync sends nothing, on a fleet the local
# tree is read once, and a sync interrupted halfway leaves no partial file (the next one
# completes it). The test server runs on this machine, so "remote" paths are checked directly.
source "$TESTROOT/remote_lib.sh"
plan 34

D=$TMP/data
mkdir -p "$D/src/a/b" "$D/src/empty"
printf 'one\n' > "$D/src/f1"
printf 'two\n' > "$D/src/a/f2"; chmod 750 "$D/src/a/f2"
head -c 100000 /dev/urandom > "$D/src/a/b/bin"
printf 'x' > "$D/src/with space 'q'.txt"
ln -s f1 "$D/src/link"
chmod 700 "$D/src/a/b"
touch -d '2021-03-04 05:06:07' "$D/src/f1"
export D

script sync.sshs <<'EOF'
local T = require "t"
local D = os.getenv("D")
local stats = require("_sync").stats
local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
local function ops(r)
  local t = {}
  for _, c in ipairs(r.changes) do t[#t + 1] = c.op .. " " .. c.path:sub(#D + 6) .. " (" .. c.why .. ")" end
  table.sort(t)
  return table.concat(t, ", ")
end
local function same_tree(a, b) return T.sh("diff -r --no-dereference " .. q(a) .. " " .. q(b) .. " >/dev/null 2>&1 && echo same") == "same\n" end
local function stat(fmt, p) return T.sh("stat -c " .. fmt .. " " .. q(p)):gsub("\n$", "") end

with connect("127.0.0.1") do
  local r = sync(D .. "/src", D .. "/dst", {dry_run = true})
  T.eq("dry_run on a new destination: reports every file as new", r.sent, 4)
  T.eq("dry_run: touches nothing (no destination made)", T.sh("ls -d " .. D .. "/dst 2>/dev/null"), "")
  r = sync(D .. "/src", D .. "/dst")
  T.eq("first sync: 4 files sent, none skipped", r.sent .. "/" .. r.skipped, "4/0")
  T.eq("first sync: bytes are the files' sizes", r.bytes, 4 + 4 + 100000 + 1)
  T.ok("first sync: the trees are the same (contents, link, empty folder)", same_tree(D .. "/src", D .. "/dst"))
  T.eq("modes kept (file 0750, folder 0700)", stat("%a", D .. "/dst/a/f2") .. " " .. stat("%a", D .. "/dst/a/b"), "750 700")
  T.eq("mtimes kept", stat("%Y", D .. "/dst/f1"), stat("%Y", D .. "/src/f1"))
  T.eq("the link is a link", T.sh("readlink " .. q(D .. "/dst/link")), "f1\n")
  T.eq("the summary lists the changes", ops(r):match("send f1 %(new%)") and ops(r):match("link link %(new%)") and "yes", "yes")

  r = sync(D .. "/src", D .. "/dst")
  T.eq("a second identical sync sends nothing and lists no change", r.sent .. " " .. #r.changes .. " " .. r.skipped, "0 0 4")

  T.write(D .. "/src/a/f2", "two, longer\n")
  T.sh("touch -d '2022-01-01' " .. q(D .. "/src/f1"))
  T.write(D .. "/dst/extra.txt", "extra")
  T.sh("mkdir -p " .. q(D .. "/dst/olddir/sub") .. " && echo x > " .. q(D .. "/dst/olddir/sub/x"))
  r = sync(D .. "/src", D .. "/dst", {dry_run = true, delete = true})
  T.eq("dry_run with delete: the same changes a real run makes",
    ops(r), "delete extra.txt (extra), delete olddir (extra), send a/f2 (size), send f1 (mtime)")
  T.eq("dry_run: nothing changed on the destination", T.read(D .. "/dst/a/f2") .. (T.read(D .. "/dst/extra.txt") or "-"), "two\nextra")
  r = sync(D .. "/src", D .. "/dst")
  T.eq("without delete: the changed files only; extras neither removed nor listed", ops(r), "send a/f2 (size), send f1 (mtime)")
  T.eq("... and the extras are still there", T.read(D .. "/dst/extra.txt"), "extra")
  r = sync(D .. "/src", D .. "/dst", {delete = true})
  T.eq("delete = true: the extra file and folder go (the folder whole)", ops(r) .. " deleted=" .. r.deleted,
    "delete extra.txt (extra), delete olddir (extra) deleted=2")
  T.ok("after delete the trees are the same", same_tree(D .. "/src", D .. "/dst"))

  -- Same size and mtime, other bytes: only checksum = true sees it.
  T.sh("printf 'TWO, LONGER\\n' > " .. q(D .. "/dst/a/f2") .. " && touch -r " .. q(D .. "/src/a/f2") .. " " .. q(D .. "/dst/a/f2"))
  r = sync(D .. "/src", D .. "/dst")
  T.eq("same size and mtime: not sent without checksum", r.sent, 0)
  local runs = stats.hash_runs
  r = sync(D .. "/src", D .. "/dst", {checksum = true})
  T.eq("checksum = true: the changed bytes are found and sent", ops(r), "send a/f2 (checksum)")
  T.eq("checksum = true: one hash command here, one there (not one per file)", stats.hash_runs - runs, 2)
  T.eq("... and the file is right", T.read(D .. "/dst/a/f2"), "two, longer\n")

  -- One file.
  r = sync(D .. "/src/f1", D .. "/one.txt")
  T.eq("a single file: sent to that name", r.sent .. " " .. (T.read(D .. "/one.txt") or "-"), "1 one\n")
  T.eq("a single file again: nothing sent", sync(D .. "/src/f1", D .. "/one.txt").sent, 0)
  T.sh("mkdir -p " .. q(D .. "/into"))
  sync(D .. "/src/f1", D .. "/into")
  T.eq("a single file onto a folder lands inside it", T.read(D .. "/into/f1"), "one\n")

  local msg = T.fails(sync, D .. "/nope", D .. "/x")
  T.like("a missing source: an error naming the host and the path", msg, "sync failed on .*127%.0%.0%.1.*/nope: no such file")
  msg = T.fails(sync, D .. "/src", D .. "/x", {owner = "root"})
  T.has("owner without sudo: an error", msg, "owner and group need sudo = true")
  msg = T.fails(sync, D .. "/src", D .. "/x", {bogus = 1})
  T.has("an unknown option: an error naming it", msg, "unknown option 'bogus'")
end

-- A fleet: the local tree is read once, hashed once, for every host.
local scans, runs = stats.scans, stats.hash_runs
local out = each("127.0.0.[1-3]", function(host)
  return sync(D .. "/src", D .. "/fleet-" .. host, {checksum = true}).sent
end)
T.ok("each() over 3 hosts: every host got the 4 files",
  (out["127.0.0.1"].value or 0) + (out["127.0.0.2"].value or 0) + (out["127.0.0.3"].value or 0) == 12,
  T.show(out["127.0.0.1"].error), T.show(out["127.0.0.2"].error), T.show(out["127.0.0.3"].error))
T.eq("each() over 3 hosts: the local tree was read once", stats.scans - scans, 1)
T.eq("each() over 3 hosts: the local files were hashed once (new destinations: nothing to hash there)",
  stats.hash_runs - runs, 1)
T.ok("each host's copy is the tree", same_tree(D .. "/src", D .. "/fleet-127.0.0.2"))
EOF
lua_checks sync.sshs

# From the command line: -H runs the sync on every host; a second run sends nothing.
cat > "$TMP/cli.sshs" <<'EOF'
local ip = $(set -- $SSH_CONNECTION; echo $3)
print("sent " .. sync(os.getenv("D") .. "/src", os.getenv("D") .. "/cli-" .. ip).sent)
EOF
HOME=$SSHS_TEST_HOME "$SSHS" -H '127.0.0.[1-2]' "$TMP/cli.sshs" > "$TMP/cli1" 2>&1
HOME=$SSHS_TEST_HOME "$SSHS" -H '127.0.0.[1-2]' "$TMP/cli.sshs" > "$TMP/cli2" 2>&1
if grep -qx '127.0.0.2: sent 4' "$TMP/cli1" && grep -qx '127.0.0.1: sent 0' "$TMP/cli2" && grep -qx '127.0.0.2: sent 0' "$TMP/cli2"; then
  ok "sshs -H HOSTS with sync: every host gets the tree; the second run sends nothing"
else
  not_ok "sshs -H HOSTS with sync: every host gets the tree; the second run sends nothing" "$(cat "$TMP/cli1" "$TMP/cli2")"
fi

# Interrupted halfway: no partial file, no temporary; the next sync completes it.
mkdir -p "$D/many"
for i in $(seq 1 1500); do printf 'file %d %s\n' "$i" "$(head -c 300 /dev/urandom | base64 -w0)" > "$D/many/f$i"; done
script many.sshs <<'EOF'
with connect("127.0.0.1") do
  local r = sync(os.getenv("D") .. "/many", os.getenv("D") .. "/many-dst")
  print("sent " .. r.sent)
end
EOF
HOME=$SSHS_TEST_HOME "$SSHS" "$TMP/many.sshs" > "$TMP/int.out" 2> "$TMP/int.err" &
pid=$!
for _ in $(seq 1 400); do
  n=$(ls "$D/many-dst" 2>/dev/null | wc -l)
  [ "$n" -ge 100 ] && break
  sleep 0.025
done
kill -INT "$pid"; wait "$pid"; irc=$?
got=$(ls "$D/many-dst" | wc -l)
bad=0
for f in "$D/many-dst"/*; do cmp -s "$f" "$D/many/$(basename "$f")" || bad=$((bad + 1)); done
if [ "$irc" = 130 ] && [ "$got" -lt 1500 ] && [ "$bad" = 0 ]; then
  ok "sync interrupted halfway ($got of 1500 files there): exit 130, every file there is whole"
else
  not_ok "sync interrupted halfway: exit 130, every file there is whole" "rc=$irc files=$got not whole=$bad" "$(tail -n 3 "$TMP/int.err")"
fi
left=$(ls -A "$D/many-dst" | grep -c 'sshs-' || true)
if [ "$left" = 0 ]; then ok "... and no temporary is left behind"; else not_ok "... and no temporary is left behind" "$left left"; fi
run_remote many.sshs
if [ "$rc" = 0 ] && [ "$out" = "sent $((1500 - got))" ] && diff -r "$D/many" "$D/many-dst" > /dev/null; then
  ok "the next sync sends only the rest ($((1500 - got))) and completes the tree"
else
  not_ok "the next sync sends only the rest and completes the tree" "rc=$rc out=$out" "$err"
fi
