-- Tests for stdlib/nodeset.lua; runs under plain lua5.4 (from the repo root) and under sshs.
if _SSHS == nil then package.path = "stdlib/?.lua;" .. package.path end
local nodeset = require "nodeset"

local failed, total = 0, 0
print("1..139")  -- the plan: how many checks this file runs

local function show(v)
  if type(v) ~= "table" then return string.format("%q", v) end
  local parts = {}
  for i, x in ipairs(v) do
    if i > 12 and i < #v - 2 then
      if i == 13 then parts[#parts + 1] = "..." end
    else
      parts[#parts + 1] = string.format("%q", x)
    end
  end
  return "{" .. table.concat(parts, ", ") .. "} (" .. #v .. " items)"
end

local function same(a, b)
  if type(a) ~= "table" or type(b) ~= "table" then return a == b end
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end

local function check(desc, got, expected)
  total = total + 1
  if same(got, expected) then
    print("ok - " .. desc)
  else
    failed = failed + 1
    print("not ok - " .. desc)
    print("#   expected " .. show(expected))
    print("#   got      " .. show(got))
  end
end

local function expand(spec)
  local ok, r = pcall(nodeset.expand, spec)
  return ok and r or ("error: " .. tostring(r))
end

-- The call must fail, and its message must contain every one of the given fragments.
local function check_error(desc, fn, arg, ...)
  total = total + 1
  local ok, err = pcall(fn, arg)
  local missing
  if ok then
    missing = "no error (returned " .. show(err) .. ")"
  else
    for _, frag in ipairs({...}) do
      if not tostring(err):find(frag, 1, true) then missing = "fragment " .. string.format("%q", frag) end
    end
  end
  if missing then
    failed = failed + 1
    print("not ok - " .. desc)
    print("#   expected an error containing " .. show({...}))
    print("#   got      " .. (ok and missing or string.format("%q (missing %s)", tostring(err), missing)))
  else
    print("ok - " .. desc)
  end
end

-- plain lists and whitespace
check("single host", expand("web1"), {"web1"})
check("comma list keeps order", expand("b,a,c"), {"b", "a", "c"})
check("whitespace around items ignored", expand("  a , b ,c  "), {"a", "b", "c"})
check("empty items ignored", expand("a,,b,"), {"a", "b"})
check("empty spec gives no hosts", expand(""), {})
check("array of specs", expand({"web[1-2]", "db1", "web2"}), {"web1", "web2", "db1"})

-- padding
check("padding from written width", expand("web[01-10]"),
  {"web01", "web02", "web03", "web04", "web05", "web06", "web07", "web08", "web09", "web10"})
check("no padding across digit count change", expand("n[8-10]"), {"n8", "n9", "n10"})
check("3-wide padding", expand("n[008-010]"), {"n008", "n009", "n010"})
check("single padded number", expand("n[05]"), {"n05"})
check("zero alone is not padding", expand("n[0-2]"), {"n0", "n1", "n2"})
check("padded range past its width", expand("n[98-100]"), {"n98", "n99", "n100"})
check("padded range growing a digit", expand("n[098-100]"), {"n098", "n099", "n100"})

-- range lists and cartesian products
check("range list", expand("h[1-5,8,10-12]"),
  {"h1", "h2", "h3", "h4", "h5", "h8", "h10", "h11", "h12"})
check("spaces inside a range list", expand("h[1 - 2, 4]"), {"h1", "h2", "h4"})
check("multi-range cartesian, left outermost", expand("rack[1-2]-node[01-03]"),
  {"rack1-node01", "rack1-node02", "rack1-node03", "rack2-node01", "rack2-node02", "rack2-node03"})
check("commas inside brackets don't split items", expand("a[1,3],b[2,4]"), {"a1", "a3", "b2", "b4"})
check("range with suffix", expand("web[1-2].example.com"), {"web1.example.com", "web2.example.com"})
check("three ranges", #expand("x[1-3]y[1-4]z[1-5]"), 60)
check("brackets in the last octet: 200 hosts", #expand("127.0.0.[1-200]"), 200)
local ips = expand("127.0.0.[1-200]")
check("IPv4 range first and last", {ips[1], ips[200]}, {"127.0.0.1", "127.0.0.200"})
check("range in the middle octet", expand("10.0.[1-2].5"), {"10.0.1.5", "10.0.2.5"})

-- user@ and :port
check("user and port carried through", expand("root@web[1-2]:2222"), {"root@web1:2222", "root@web2:2222"})
check("user prefix only", expand("deploy@db[1-2]"), {"deploy@db1", "deploy@db2"})
check("port suffix only", expand("web[01-02]:22"), {"web01:22", "web02:22"})

-- IPv6 literals
check("IPv6 with port", expand("[::1]:2222"), {"[::1]:2222"})
check("user@ IPv6", expand("user@[fe80::1]"), {"user@[fe80::1]"})
check("IPv6 mixed with ranges", expand("[::1],web[1-2],root@[2001:db8::5]:22"),
  {"[::1]", "web1", "web2", "root@[2001:db8::5]:22"})
check("bare IPv6 stays literal", expand("fe80::1"), {"fe80::1"})

-- dedupe
check("duplicates removed, first kept", expand("b,a,b,web[1-3],web2,a"), {"b", "a", "web1", "web2", "web3"})
check("overlapping ranges deduped", expand("n[1-3,2-4]"), {"n1", "n2", "n3", "n4"})
check("count dedupes", nodeset.count("n[1-3],n[2-5]"), 5)

-- large ranges and the limit
local big = expand("node[0001-1000]")
check("1000-host range size", #big, 1000)
check("1000-host range ends", {big[1], big[500], big[1000]}, {"node0001", "node0500", "node1000"})
check_error("over the size limit", nodeset.expand, "n[1-999999999]", "too many hosts", '"n[1-999999999]"')
check_error("product over the size limit", nodeset.expand, "a[1-10000]b[1-10000]", "too many hosts", "a[1-10000]b[1-10000]")
check_error("sum over the size limit", nodeset.expand, "a[1-600000],b[1-600000]", "too many hosts", "b[1-600000]")

-- @file
local path = os.tmpname()
local f = assert(io.open(path, "w"))
f:write("# cluster hosts\n\n  web[01-03]  # front ends\ndb1,db2\n\t\n# db1 again, deduped\ndb1\nroot@[::1]:2222\r\n")
f:close()
check("@file with comments and blank lines", expand("@" .. path),
  {"web01", "web02", "web03", "db1", "db2", "root@[::1]:2222"})
check("@file mixed with other items", expand("db2,@" .. path .. ",x"),
  {"db2", "web01", "web02", "web03", "db1", "root@[::1]:2222", "x"})
local bad = os.tmpname()
f = assert(io.open(bad, "w"))
f:write("ok1\n# comment\nweb[3-1]\n")
f:close()
check_error("error inside @file names file and line", nodeset.expand, "@" .. bad,
  "reversed range 3-1", '"web[3-1]"', bad .. ":3")
f = assert(io.open(bad, "w"))
f:write("@" .. bad .. "\n")
f:close()
check_error("self-including @file stops", nodeset.expand, "@" .. bad, "nested too deep")
os.remove(path)
os.remove(bad)
check_error("missing @file", nodeset.expand, "@/nonexistent/hosts.txt",
  "nodeset: cannot read host file '/nonexistent/hosts.txt': No such file")
check_error("empty @file name", nodeset.expand, "a,@", "empty host file name", '"@"')

-- every error message names the problem and the offending text
check_error("reversed range", nodeset.expand, "web[5-1]", 'nodeset: reversed range 5-1 in "web[5-1]"')
check_error("unbalanced [", nodeset.expand, "web[1-3", "nodeset: unbalanced '[' in \"web[1-3\"")
check_error("unbalanced [ swallowing commas", nodeset.expand, "a,web[1-3,b", "unbalanced '['", '"web[1-3,b"')
check_error("unbalanced ]", nodeset.expand, "ok,web1-3]", "nodeset: unbalanced ']' in \"web1-3]\"")
check_error("nested [", nodeset.expand, "x[1-[2]]", "nested '['", '"x[1-[2]]"')
check_error("empty brackets", nodeset.expand, "web[]", 'nodeset: empty range in "web[]"')
check_error("empty element in list", nodeset.expand, "web[1,,3]", 'empty range in "web[1,,3]"')
check_error("bad range", nodeset.expand, "web[a-3]", "nodeset: bad range 'a-3' in \"web[a-3]\"")
check_error("bad range, double dash", nodeset.expand, "web[1-2-3]", "bad range '1-2-3'", '"web[1-2-3]"')
check_error("bad range, word", nodeset.expand, "web[abc]", "bad range 'abc'")
check_error("number too long", nodeset.expand, "n[1-1234567890123456789]", "too long", "n[1-1234567890123456789]")
check_error("space inside a name", nodeset.expand, "web1 web2", 'space in host name "web1 web2"')
check_error("non-string spec", nodeset.expand, 42, "expected a string")
check_error("non-string array element", nodeset.expand, {"a", 3}, "element 2")

-- fold
local fold = function(h) local ok, r = pcall(nodeset.fold, h); return ok and r or ("error: " .. tostring(r)) end
check("fold basic", fold({"web01", "web02", "web03", "db1"}), "db1,web[01-03]")
check("fold padded across a digit", fold({"web10", "web09", "web01", "web02", "web03", "web04",
  "web05", "web06", "web07", "web08"}), "web[01-10]")
check("fold unpadded across a digit", fold({"n8", "n9", "n10", "n11"}), "n[8-11]")
check("fold numeric, not string, order", fold({"n10", "n9", "n1", "n2"}), "n[1-2,9-10]")
check("fold keeps padding widths apart", fold({"n1", "n01", "n2", "n02"}), "n[1-2,01-02]")
check("fold padded then unpadded 3-digit", fold({"n098", "n099", "n100"}), "n[098-100]")
check("fold single host has no brackets", fold({"db1"}), "db1")
check("fold names without digits kept", fold({"zeta", "alpha", "web2", "web1"}), "alpha,web[1-2],zeta")
-- Found by make fuzz: ("\0", "") and ("", "\0") as prefix and suffix were one group, so
-- "\0" .. "0000" and "000000" .. "\0" folded to "\0[0000,000000]", a different set.
check("fold keeps prefix and suffix apart", fold({"\0" .. "0000", "000000" .. "\0"}), "000000\0,\0" .. "0000")
check("fold only the last number", fold({"rack1-node01", "rack1-node02", "rack2-node01"}),
  "rack1-node[01-02],rack2-node01")
check("fold with suffix", fold({"web1.lan", "web2.lan", "web3.lan"}), "web[1-3].lan")
check("fold with user and port", fold({"root@web1:2222", "root@web2:2222"}), "root@web[1-2]:2222")
check("fold IPv4 last octet", fold(expand("127.0.0.[1-200]")), "127.0.0.[1-200]")
check("fold IPv6 literals untouched", fold({"[::2]:22", "[::1]:22"}), "[::1]:22,[::2]:22")
check("fold padded gaps", fold({"n01", "n02", "n05", "n07", "n08"}), "n[01-02,05,07-08]")
check("fold bare IPv6 literals in brackets untouched", fold({"[::2]", "[::1]", "[fe80::3]"}), "[::1],[::2],[fe80::3]")
check("fold dedupes", fold({"a1", "a1", "a2"}), "a[1-2]")
check("fold of an empty array", fold({}), "")
check("fold gaps", fold({"h1", "h2", "h3", "h5", "h7", "h8"}), "h[1-3,5,7-8]")
check("fold of a spec string", fold("web[3,1,2],db1"), "db1,web[1-3]")
check("fold rejects non-strings", fold({"a", 1}):match("^error: nodeset: fold") ~= nil, true)

-- round trips: fold(expand(s)) for ordinary inputs, and expand(fold(h)) gives back the set
for _, s in ipairs({"web[01-10]", "db1,web[01-03]", "n[1-5,8,10-12]", "127.0.0.[1-200]",
    "node[0001-1000]", "n[8-10]", "root@web[1-2]:2222", "a,b,c", "n[098-100]"}) do
  check("round trip " .. s, fold(expand(s)), s)
end
local function sorted(t) local c = {table.unpack(t)}; table.sort(c); return c end
for _, s in ipairs({"rack[1-2]-node[01-03]", "x[1,01,001],y[9-11,09-11]", "b,a,web[3-1000],[::1]:22"}) do
  local hosts = expand(s)
  check("expand(fold(h)) same set: " .. s, sorted(expand(fold(hosts))), sorted(hosts))
end

-- set algebra, left to right as in ClusterShell
check("difference", expand("web[1-5]!web3"), {"web1", "web2", "web4", "web5"})
check("difference of a range", expand("web[1-10]!web[2-9]"), {"web1", "web10"})
check("intersection", expand("web[1-5]&web[4-8]"), {"web4", "web5"})
check("symmetric difference", expand("a[1-4]^a[3-6]"), {"a1", "a2", "a5", "a6"})
check("left to right, no precedence", expand("web[1-10]!web[3-4]&web[2-6]"), {"web2", "web5", "web6"})
check("union after a difference", expand("web[1-3]!web2,web2"), {"web1", "web3", "web2"})
check("operators inside brackets are not operators", expand("n[1,3]!n3"), {"n1"})
check("difference with user and port kept", expand("root@h[1-3]:22!root@h2:22"), {"root@h1:22", "root@h3:22"})
check("difference of something absent", expand("a,b!c"), {"a", "b"})
check("everything removed", expand("a!a"), {})
check_error("nothing after '!'", nodeset.expand, "web[1-3]!", "nothing after '!'", '"web[1-3]!"')
check_error("nothing after '&'", nodeset.expand, "web1& ,x", "nothing after '&'")
check_error("bad range on the right of '!'", nodeset.expand, "web[1-5]!web[x]", "bad range 'x'", '"web[x]"')

-- @file lines are specs of their own, unioned
local opsfile = os.tmpname()
f = assert(io.open(opsfile, "w"))
f:write("n[1-4]!n2\nn2&n9\nm1\n")
f:close()
check("@file: each line its own expression", expand("@" .. opsfile), {"n1", "n3", "n4", "m1"})
check("@file on the left of '!'", expand("@" .. opsfile .. "!n3"), {"n1", "n4", "m1"})
os.remove(opsfile)

-- groups from an Ansible-style INI inventory
local inventory = require "inventory"
local inv = os.tmpname()
f = assert(io.open(inv, "w"))
f:write([==[
# loose hosts are "ungrouped"
loose1 x=1
[web]
web[01:03] role=front   # a comment after the variables
web04 ansible_port=2222 ansible_host=127.0.0.4
[web:vars]
ansible_user=deploy
role=web
[db]
db-[a:c]
[prod:children]
web
db
[prod:vars]
env="production env"
weight=1.5
on=true
[all:vars]
ntp = ntp1    # spaces around '=' and a comment
]==])
f:close()
inventory.load(inv, "main")
check("@group in file order, Ansible ranges expanded", expand("@web"), {"web01", "web02", "web03", "web04"})
check("@group letters range", expand("@db"), {"db-a", "db-b", "db-c"})
check("@group of children", expand("@prod"), {"web01", "web02", "web03", "web04", "db-a", "db-b", "db-c"})
check("@source:group", expand("@main:db"), {"db-a", "db-b", "db-c"})
check("@ungrouped", expand("@ungrouped"), {"loose1"})
check("@* is every host", #expand("@*"), 8)
check("@group minus @group", expand("@prod!@web"), {"db-a", "db-b", "db-c"})
check("@group with a node set", expand("@web&web[02-03],x1"), {"web02", "web03", "x1"})
check_error("unknown group names it and lists the groups", nodeset.expand, "a,@nope", "unknown group 'nope'", "web, db, prod", '"@nope"')
check_error("unknown source", nodeset.expand, "@other:web", "unknown group source 'other'", "main")
check_error("unknown group in a known source", nodeset.expand, "@main:nope", "unknown group 'nope'")
local v = inventory.vars("web01")
check("vars: host line wins over group vars", v.role, "front")
check("vars: group vars", v.ansible_user, "deploy")
check("vars: parent group vars, quotes removed", v.env, "production env")
check("vars: all:vars", v.ntp, "ntp1")
check("vars: numbers", {math.type(inventory.vars("web04").ansible_port), v.weight}, {"integer", 1.5})
check("vars: booleans", v.on, true)
check("vars: group vars when the host line has none", inventory.vars("web02").role, "front")
check("vars of an unknown host are empty", next(inventory.vars("nohost")), nil)
local target, copts = inventory.connection("web04")
check("connection settings from ansible_* vars", {target, copts.port, copts.user}, {"127.0.0.4", 2222, "deploy"})
local function inv_error(desc, text, ...)
  local path = os.tmpname()
  local g = assert(io.open(path, "w"))
  g:write(text)
  g:close()
  check_error(desc, inventory.load, path, path, ...)
  os.remove(path)
end
inv_error("inventory: bad range names file:line", "[web]\nok1\nweb[5:1]\n", ":3:", "reversed range", "web[5:1]")
inv_error("inventory: bad header", "[web\n", ":1:", "bad section header")
inv_error("inventory: bad variable", "[web]\nweb1 novalue\n", ":2:", "expected name=value", "novalue")
inv_error("inventory: unknown section kind", "[web:hosts]\n", "unknown section kind")
inv_error("inventory: cycle", "[a:children]\nb\n[b:children]\na\n", "cycle")
check_error("inventory: missing file", inventory.load, "/nonexistent/inv.ini", "cannot read '/nonexistent/inv.ini'")
os.remove(inv)

-- ClusterShell YAML group files: top-level keys are sources
local yml = os.tmpname() .. ".yaml"
f = assert(io.open(yml, "w"))
f:write([==[
# ClusterShell groups.d file
roles:
    cweb: 'cweb[01-04]'
    cdb: "cdb[1-2]"   # a comment
    cfront: '@roles:cweb!cweb02'
    loop: '@roles:loop'
racks:
  r1: cweb[01-02],cdb1
]==])
f:close()
inventory.load(yml)
check("yaml: a group is its node set", expand("@cweb"), {"cweb01", "cweb02", "cweb03", "cweb04"})
check("yaml: @source:group referring to another group", expand("@roles:cfront"), {"cweb01", "cweb03", "cweb04"})
check("yaml: groups of two sources combined", expand("@racks:r1&@cdb"), {"cdb1"})
check("yaml: @source:all without an all key is every group of the source", expand("@racks:all"), {"cweb01", "cweb02", "cdb1"})
check_error("yaml: a group that refers to itself", nodeset.expand, "@loop", "refers to itself", yml .. ":6")
os.remove(yml)
local function yaml(text) return inventory.parse_yaml(text, "f.yaml") end
check_error("yaml: a list is refused with file:line", yaml, "a:\n  - x\n", "f.yaml:2")
check_error("yaml: a group before any source", yaml, "  b: x\n", "a group before any source")
check_error("yaml: a tab in the indentation", yaml, "a:\n\tb: x\n", "tab")

print(string.format("# %d checks, %d failed", total, failed))
os.exit(failed == 0 and 0 or 1)
