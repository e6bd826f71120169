#!/usr/bin/env bash
# The unified diffs of `-b --diff` (stdlib/_fleetout.lua): for random pairs of texts (short
# lines from a small alphabet, so hunks touch, merge and reach both ends), `patch` applied to
# the first text with our diff gives the second; and a plain case reads as GNU diff -u's.
source "$TESTROOT/lib.sh"
plan 2
command -v patch >/dev/null || { skip_checks 2 "patch is not installed"; exit 0; }

script difft.sshs <<'EOF2'
local u = require("_fleetout").unified
local dir = arg[1]
math.randomseed(12345)
local bad, first = 0, nil
local function text()
  local t = {}
  for _ = 1, math.random(0, 25) do t[#t + 1] = string.char(96 + math.random(1, 4)) end
  return #t > 0 and (table.concat(t, "\n") .. "\n") or ""
end
for _ = 1, 300 do
  local a, b = text(), text()
  if a ~= b then
    local f = io.open(dir .. "/a", "w"); f:write(a); f:close()
    f = io.open(dir .. "/p", "w"); f:write(u(a, b, "A", "B")); f:close()
    local r = run("cp " .. dir .. "/a " .. dir .. "/x && patch -s " .. dir .. "/x < " .. dir .. "/p && cat " .. dir .. "/x", {check = false})
    if not r.ok or r.stdout ~= b then
      bad = bad + 1
      first = first or string.format("%q -> %q: %s", a, b, r.stderr)
    end
  end
end
print(bad == 0 and "ok - 300 random diffs: patch turns the first text into the second"
                or ("not ok - 300 random diffs: patch turns the first text into the second\n#   " .. bad .. " wrong, first: " .. first))
local a = "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\n"
local b = "one\ntwo\n3\nfour\nfive\nsix\nseven\neight\nnine\nten\neleven\n"
io.open(dir .. "/a", "w"):write(a):close()
io.open(dir .. "/b", "w"):write(b):close()
local gnu = run("diff -u --label A --label B " .. dir .. "/a " .. dir .. "/b", {check = false}).stdout
print(gnu == u(a, b, "A", "B") and "ok - a plain case is what diff -u prints"
      or ("not ok - a plain case is what diff -u prints\n#   " .. u(a, b, "A", "B"):gsub("\n", "\n#   ")))
EOF2
"$SSHS" "$TMP/difft.sshs" "$TMP" 2>&1
