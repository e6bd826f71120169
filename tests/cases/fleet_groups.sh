#!/usr/bin/env bash
# Fleet ergonomics against the test sshd: node-set algebra and -x, @group from an Ansible-style
# inventory with host variables (vars(), ansible_host/_port), the ssh-style connection flags
# (-l -p --identity -o -F) with -H and in script mode, richer each() outcomes, -v host prefixes.
source "$TESTROOT/lib.sh"
source "$TESTROOT/fleet_lib.bash"
need_sshd
plan 35
P=$SSHS_TEST_PORT

# cond 'SHELL TEXT': for check, when the condition is more than one command.
cond() { eval "$1"; }
# sorted_out: the run's stdout lines, sorted.
sorted_out() { sort "$TMP/out"; }

# ---------------------------------------------------------------- algebra and -x
hs -H '127.0.0.[1-6]!127.0.0.[2-3]&127.0.0.[1-5]' -e 'print("hi")'
check "-H 'a!b&c': left to right, only 1, 4, 5 run" [ "$rc" = 0 -a "$(sorted_out)" = "$(printf '127.0.0.%s: hi\n' 1 4 5)" ]
hs -H '127.0.0.[1-3]^127.0.0.[3-4]' -e 'print("hi")'
check "-H 'a^b': symmetric difference runs on 1, 2, 4" [ "$rc" = 0 -a "$(sorted_out)" = "$(printf '127.0.0.%s: hi\n' 1 2 4)" ]
hs -H '127.0.0.[1-5]' -x '127.0.0.[2-3]' -x 127.0.0.5 -e 'print("hi")'
check "-x (twice) leaves hosts out" [ "$rc" = 0 -a "$(sorted_out)" = "$(printf '127.0.0.%s: hi\n' 1 4)" ]
check "-x: the summary counts only the hosts left" grep -qE '^sshs: 2 hosts in ' "$TMP/err"
hs -H '127.0.0.[1-2]' -x '127.0.0.[1-2]' -e 'print("hi")'
check "-x removing every host: an error that says so, nothing runs" cond '[ "$rc" != 0 -a -z "$out" ] && grep -q '\''no hosts'\'' "$TMP/err" && grep -q -- '\''-x'\'' "$TMP/err"'
hs -H '127.0.0.1' -x '127.0.0.[x]' -e 'print("hi")'
check "-x with a bad range: the error names the text" cond '[ "$rc" != 0 -a -z "$out" ] && grep -q "127.0.0.\[x\]" "$TMP/err"'
hs -x 127.0.0.1 -e 'print("hi")'
check "-x without -H is refused" cond '[ "$rc" = 2 ] && grep -q -- '\''-x needs -H'\'' "$TMP/err"'
hs -H '127.0.0.[1-3]!' -e 'print("hi")'
check "'!' with nothing after it: an error naming the text" cond '[ "$rc" != 0 -a -z "$out" ] && grep -q "nothing after '\''!'\''" "$TMP/err"'

# ---------------------------------------------------------------- groups and vars
cat > "$TMP/inv.ini" <<EOF
# an Ansible-style inventory
[web]
127.0.0.[1:3] role=front
127.0.0.4
[web:vars]
role=web
tier=1
[db]
dbhost ansible_host=127.0.0.9
closed ansible_host=127.0.0.10 ansible_port=1
[prod:children]
web
db
EOF
hs --inventory "$TMP/inv.ini" -H @web -e 'print(vars().role .. " " .. math.type(vars().tier))'
check "-H @web: the group's hosts, vars() with host-line values over group values" [ "$rc" = 0 -a "$(sorted_out)" = "$(printf '127.0.0.%s: front integer\n' 1 2 3; echo '127.0.0.4: web integer')" ]
hs --inventory "prod=$TMP/inv.ini" -H '@prod:prod!@prod:db' -x 127.0.0.2 -e 'print("hi")'
check "-H '@source:group!@source:group' -x host" [ "$rc" = 0 -a "$(sorted_out)" = "$(printf '127.0.0.%s: hi\n' 1 3 4)" ]
SSHS_INVENTORY=$TMP/inv.ini hs -H '@db' -e 'print($(set -- $SSH_CONNECTION; echo $3))'
check "ansible_host: the inventory name is the label, the address is where it connects" grep -qx 'dbhost: 127.0.0.9' "$TMP/out"
check "ansible_port: used for the connection (port 1: refused, unreachable)" grep -qE '^ +unreachable +closed \(1\): .*Connection refused' "$TMP/err"
hs --inventory "$TMP/inv.ini" -H '@web,@nope' -e 'print("hi")'
check "unknown group: exit non-zero, nothing runs, the error names '@nope' and the groups" cond '[ "$rc" != 0 -a -z "$out" ] && grep -q "unknown group '\''nope'\''" "$TMP/err" && grep -q '\''web, db, prod'\'' "$TMP/err"'
hs -H '@web' -e 'print("hi")'
check "@group with no inventory: the error says none is loaded" cond '[ "$rc" != 0 -a -z "$out" ] && grep -q '\''no inventory is loaded'\'' "$TMP/err"'
printf '[web]\n127.0.0.[3:1]\n' > "$TMP/bad.ini"
hs --inventory "$TMP/bad.ini" -H '@web' -e 'print("hi")'
check "inventory with a bad range: the error names file:line and the text" cond '[ "$rc" != 0 -a -z "$out" ] && grep -q "bad.ini:2: reversed range" "$TMP/err" && grep -q '\''127.0.0.\[3:1\]'\'' "$TMP/err"'
cat > "$TMP/groups.yaml" <<'EOF'
# ClusterShell groups.d style
roles:
  front: '127.0.0.[1-4]!127.0.0.3'
  back: "127.0.0.[5-6]"
EOF
hs --inventory "$TMP/groups.yaml" -H '@roles:front,@back' -e 'print("hi")'
check "ClusterShell YAML groups: -H '@roles:front,@back'" \
  [ "$rc" = 0 -a "$(sorted_out)" = "$(printf '127.0.0.%s: hi\n' 1 2 4 5 6)" ]
script groups_each.sshs <<'EOF'
local out = each("@web&127.0.0.[2-9]", function(h) return vars().role .. "/" .. vars(h).role end)
local keys = {}
for h, o in pairs(out) do keys[#keys + 1] = h .. "=" .. tostring(o.value) end
table.sort(keys)
print(table.concat(keys, " "))
print(next(vars("nobody")) == nil)
EOF
SSHS_INVENTORY=$TMP/inv.ini hs "$TMP/groups_each.sshs"
check "each('@group&set'): vars() is the current host's, vars(h) any host's" [ "$rc" = 0 -a "$out" = "$(printf '127.0.0.2=front/front 127.0.0.3=front/front 127.0.0.4=web/web\ntrue')" ]

# ---------------------------------------------------------------- ssh-style flags
# A HOME with no ssh config at all: everything has to come from the flags.
BARE=$TMP/bare; mkdir -p "$BARE/.ssh"
bare() { HOME=$BARE timeout -k 5 60 "$SSHS" "$@" > "$TMP/out" 2> "$TMP/err" < /dev/null; rc=$?; out=$(cat "$TMP/out"); }
FLAGS=(-l "$SSHS_TEST_USER" -p "$P" --identity "$SSHS_TEST_KEY" -o "UserKnownHostsFile=$SSHS_TEST_KNOWN_HOSTS")
bare -H '127.0.0.[1-2]' -e 'print($(whoami))'
check "without flags and without a config the hosts are not reached (sanity)" [ "$rc" != 0 ]
bare "${FLAGS[@]}" -H '127.0.0.[1-2]' -e 'print($(whoami))'
check "-H with -l -p --identity -o UserKnownHostsFile=: both hosts reached" [ "$rc" = 0 -a "$(sorted_out)" = "$(printf '127.0.0.%s: %s\n' 1 "$SSHS_TEST_USER" 2 "$SSHS_TEST_USER")" ]
bare "${FLAGS[@]}" -e 'with connect("127.0.0.3") do print($(whoami)) end'
check "script mode: the flags are defaults for connect()" [ "$rc" = 0 -a "$out" = "$SSHS_TEST_USER" ]
bare "${FLAGS[@]}" -e "with connect('127.0.0.3:1') do end"
check "a port in the target wins over -p (port 1: refused)" cond '[ "$rc" != 0 ] && grep -q '\''Connection refused'\'' "$TMP/err"'
bare -F "$SSHS_TEST_SSH_CONFIG" -H '127.0.0.[1-2]' -e 'print("hi")'
check "-F FILE is read instead of ~/.ssh/config" [ "$rc" = 0 -a "$(sorted_out)" = "$(printf '127.0.0.%s: hi\n' 1 2)" ]
bare -F "$TMP/no-such-config" -e 'print("hi")'
check "-F with a missing file: an error naming it, nothing runs" cond '[ "$rc" != 0 -a -z "$out" ] && grep -q '\''no-such-config'\'' "$TMP/err"'
: > "$TMP/kh_new"
bare -l "$SSHS_TEST_USER" -p "$P" --identity "$SSHS_TEST_KEY" -o "UserKnownHostsFile=$TMP/kh_new" \
  -o StrictHostKeyChecking=accept-new -H 127.0.0.5 -e 'print("hi")'
check "-o StrictHostKeyChecking=accept-new: an unknown host key is accepted and recorded" cond '[ "$rc" = 0 -a "$out" = "127.0.0.5: hi" ] && grep -q "^\[127.0.0.5\]:$P " "$TMP/kh_new"'
bare -l "$SSHS_TEST_USER" -p "$P" --identity "$SSHS_TEST_KEY" -o "UserKnownHostsFile=$TMP/kh_new" -H 127.0.0.6 -e 'print("hi")'
check "without accept-new the same unknown key is refused" cond '[ "$rc" != 0 ] && grep -qi '\''SHA256:'\'' "$TMP/err"'
bare -o VisualHostKey=yes -e 'print("hi")'
check "-o with an option sshs does not use: refused by name before anything runs" cond '[ "$rc" != 0 -a -z "$out" ] && grep -q "'\''VisualHostKey'\''" "$TMP/err"'
bare -o 'Port=http' -e 'print("hi")'
check "-o with a bad value: the error quotes the option" cond '[ "$rc" != 0 ] && grep -q "Port=http" "$TMP/err"'
bare -p 70000 -e 'print("hi")'
check "-p out of range: exit 2 with a message" cond '[ "$rc" = 2 ] && grep -q -- '\''-p needs a port'\'' "$TMP/err"'
bare -l "$SSHS_TEST_USER" -p "$P" --identity "$SSHS_TEST_KEY" -o "UserKnownHostsFile=$SSHS_TEST_KNOWN_HOSTS" \
  -o "User=nobody-such" -e 'with connect("127.0.0.3") do print($(whoami)) end'
check "-l and -o User: the first given wins (as in ssh)" [ "$rc" = 0 -a "$out" = "$SSHS_TEST_USER" ]

# ---------------------------------------------------------------- outcomes
script outcomes.sshs <<'EOF'
local T = require "t"
local out = each("127.0.0.[1-2]", function(h)
  if h == "127.0.0.2" then
    $[[ echo partial out; for i in $(seq 1 30); do echo "err line $i" >&2; done; exit 7 ]]
  end
  return "fine"
end)
local good, bad = out["127.0.0.1"], out["127.0.0.2"]
T.eq("success: exitcode 0 (an integer)", good.exitcode == 0 and math.type(good.exitcode), "integer")
T.eq("success: no cmd, stdout or stderr", (good.cmd or good.stdout or good.stderr), nil)
T.eq("failure: exitcode", bad.exitcode, 7)
T.has("failure: cmd is the failed command", bad.cmd, "exit 7")
T.eq("failure: stdout of the failed command", bad.stdout, "partial out\n")
T.has("failure: stderr tail has the last line", bad.stderr, "err line 30\n")
T.lacks("failure: stderr tail is a tail (first lines dropped)", bad.stderr, "err line 1\n")
T.has("failure: the message still names the command", bad.error, "exit 7")
EOF
lua_checks outcomes.sshs
hs -H '127.0.0.[1-2]' --json -e 'if $(set -- $SSH_CONNECTION; echo $3) == "127.0.0.2" then $ echo so; echo se >&2; exit 4
end'
python3 - "$TMP/out" <<'EOF'
import json, sys
objs = {o["host"]: o for o in map(json.loads, open(sys.argv[1]).read().splitlines())}
g, b = objs.get("127.0.0.1", {}), objs.get("127.0.0.2", {})
def report(name, good, *d):
    print(("ok - " if good else "not ok - ") + "--json outcomes: " + name)
    if not good:
        for x in d: print("#   " + str(x))
report("success has exitcode 0", g.get("exitcode") == 0, g)
report("failure has exitcode, cmd, stdout and stderr", b.get("exitcode") == 4 and "exit 4" in b.get("cmd", "")
       and b.get("stdout") == "so\n" and b.get("stderr") == "se\n", b)
EOF

# ---------------------------------------------------------------- -v in script mode
script verbose.sshs <<'EOF'
with connect("127.0.0.3") do
  $ echo remote-line
end
$ echo local-line
EOF
HOME=$SSHS_TEST_HOME "$SSHS" -v "$TMP/verbose.sshs" > "$TMP/out" 2> "$TMP/err" < /dev/null; rc=$?
check "-v: a remote command is traced with its host" grep -qx "$SSHS_TEST_USER@127.0.0.3: \$ echo remote-line" "$TMP/err"
check "-v: its output carries the host" grep -qx "$SSHS_TEST_USER@127.0.0.3: remote-line" "$TMP/out"
check "-v: a local command stays as it was" grep -qx '\$ echo local-line' "$TMP/err"
check "-v: local output unprefixed" grep -qx 'local-line' "$TMP/out"
