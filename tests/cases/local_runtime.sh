# The runtime's own footing: C keeps the runtime table in the registry (a script may reassign
# the global _SSHS), and values crossing the resume boundary in any number (thread arguments,
# results, errors) never overrun a Lua stack.
source "$TESTROOT/lib.sh"
plan 16

# --- _SSHS reassigned by the script
for v in '{}' 'nil' '42'; do
  script ctx.sshs <<EOF
_SSHS = $v
\$ echo one
local r = \$(echo two)
print(r)
local h = thread(function() return \$(echo three) end)
print(h:join())
print(\$?(true))
\$ sh -c 'exit 3'
EOF
  run_sshs "$TMP/ctx.sshs"
  expect_out "one
two
three
true" "_SSHS = $v: commands, threads and tests still run"
  expect_err_has "ctx.sshs:8: command failed on local (exit 3)" "_SSHS = $v: a failure still gets its message and line"
done

script ctxmod.sshs <<'EOF'
_SSHS = nil
local ok, e = pcall(require, "ctxhelper")
print(ok, e)
EOF
printf '$ echo from-module\n' > "$TMP/ctxhelper.sshs"
run_sshs "$TMP/ctxmod.sshs"
expect_out_has "the global _SSHS was reassigned" "require of a .sshs module after _SSHS = nil: a clear error, not a nil call"

# --- values crossing the resume boundary
script many.sshs <<'EOF'
local n = tonumber(arg[1])
local t = {}
for i = 1, n do t[i] = i end
local r = table.pack(thread(function() return table.unpack(t) end):join())
local sum = 0
for i = 1, r.n do sum = sum + r[i] end
print(r.n, sum == n * (n + 1) // 2)
EOF
for n in 200 10000; do
  run_sshs "$TMP/many.sshs" "$n"
  expect_out "$n	true" "a thread returning $n values: join gets them all"
done

script manyargs.sshs <<'EOF'
local n = tonumber(arg[1])
local t = {}
for i = 1, n do t[i] = i end
local h = thread(function(...) return select("#", ...), (select(n, ...)) end, table.unpack(t))
print(h:join())
EOF
for n in 200 10000; do
  run_sshs "$TMP/manyargs.sshs" "$n"
  expect_out "$n	$n" "a thread started with $n arguments gets them all"
done

script manyerr.sshs <<'EOF'
local n = tonumber(arg[1])
local t = {}
for i = 1, n do t[i] = i end
local h = thread(function() local x = {table.unpack(t)}; error("boom after " .. #x, 0) end)
local ok, e = pcall(h.join, h)
print(ok, e)
local h2 = thread(function() return table.unpack(t) end)
local h3 = thread(function() return h2:join() end)
print(select("#", h3:join()))
EOF
for n in 200 10000; do
  run_sshs "$TMP/manyerr.sshs" "$n"
  expect_out "false	boom after $n
$n" "$n values: an error after them reaches the joiner; they pass through two joins"
done

script toomany.sshs <<'EOF'
local ok, e = pcall(function() return thread(function() return table.unpack({}, 1, 999990) end):join() end)
print(ok, e)
EOF
run_sshs "$TMP/toomany.sshs"
if [ "$rc" = 0 ] && [ "${out#false	}" != "$out" ]; then ok "a thread returning ~1M values: a Lua error, not a crash"
else not_ok "a thread returning ~1M values: a Lua error, not a crash" "$(show)"; fi

script yieldmany.sshs <<'EOF'
local t = {}
for i = 1, 10000 do t[i] = i end
local co = coroutine.wrap(function() coroutine.yield(table.unpack(t)); return "end" end)
local h = thread(function() local n = select("#", co()); return n, co() end)
print(h:join())
EOF
run_sshs "$TMP/yieldmany.sshs"
expect_out "10000	end" "a coroutine inside a thread yields 10000 values"

run_sshs -e 'local t = {} for i = 1, 300 do t[i] = i end; coroutine.yield(table.unpack(t)); print("after")'
expect_out "after" "a bare coroutine.yield of 300 values from the main thread"
