#!/usr/bin/env bash
# The ensure module (issue 22 item 4): idempotent line/file/dir/package/service/user steps,
# the same locally, on a connect()ed host and over each() of three hosts; dry_run reports
# the change and its diff and touches nothing. Package managers and init systems are fakes on
# PATH (apt-get, dnf, apk, systemctl, rc-service: shell scripts that log and keep a state
# file), so nothing is installed or started on this machine; the real apt detection and
# dpkg query run read-only. Users: a throw-away user (root only), removed at exit.
source "$TESTROOT/remote_lib.sh"
plan 68
U=sshs_ens$$
CLEANUP+=("userdel -r -f $U")

# Fake tools: each logs "name args" to $FAKE_LOG; packages live one per line in $FAKE_STATE.
F=$TMP/fake; mkdir -p "$F/apt" "$F/dnf" "$F/apk" "$F/systemd" "$F/openrc"
mk() { printf '#!/bin/sh\necho "%s $*" >> "$FAKE_LOG"\n%s\n' "$(basename "$1")" "$2" > "$1"; chmod 755 "$1"; }
ADD='for a; do case $a in -*|install|add) ;; *) echo "$a" >> "$FAKE_STATE";; esac; done'
DEL='for a; do case $a in -*|remove|del) ;; *) /bin/grep -vx "$a" "$FAKE_STATE" > "$FAKE_STATE.n"; /bin/mv "$FAKE_STATE.n" "$FAKE_STATE";; esac; done'
mk "$F/apt/apt-get" "case \$1 in install) $ADD;; remove) $DEL;; esac"
mk "$F/apt/dpkg-query" '/bin/grep -qx "$3" "$FAKE_STATE" && printf "install ok installed" || exit 1'
ln -s /bin/grep "$F/apt/grep"
mk "$F/dnf/dnf" "case \$1 in install) $ADD;; remove) $DEL;; esac"
mk "$F/dnf/rpm" '/bin/grep -qx "$3" "$FAKE_STATE"'
mk "$F/apk/apk" "case \$1 in add) $ADD;; del) $DEL;; info) /bin/grep -qx \"\$3\" \"\$FAKE_STATE\";; esac"
# systemctl: "svc:active" / "svc:enabled" lines in the state file.
mk "$F/systemd/systemctl" 'case $1 in
  is-active) /bin/grep -qx "$3:active" "$FAKE_STATE";; is-enabled) /bin/grep -qx "$3:enabled" "$FAKE_STATE";;
  start) echo "$2:active" >> "$FAKE_STATE";; stop) /bin/grep -vx "$2:active" "$FAKE_STATE" > "$FAKE_STATE.n"; /bin/mv "$FAKE_STATE.n" "$FAKE_STATE";;
  enable) echo "$3:enabled" >> "$FAKE_STATE";; disable) /bin/grep -vx "$3:enabled" "$FAKE_STATE" > "$FAKE_STATE.n"; /bin/mv "$FAKE_STATE.n" "$FAKE_STATE";;
esac'
mk "$F/openrc/rc-service" 'case $2 in status) /bin/grep -qx "$1:active" "$FAKE_STATE";; start) echo "$1:active" >> "$FAKE_STATE";; esac'
touch "$TMP/state"; chmod -R a+rX "$F"

script ens.sshs <<'EOF'
local T = require "t"
local ensure = require "ensure"
local tmp, fake, user, who = ...
local function read(p) return T.read(p) end
local function fake_env(kind) return env{PATH = fake .. "/" .. kind, FAKE_LOG = tmp .. "/log", FAKE_STATE = tmp .. "/state"} end
local function log() local s = T.read(tmp .. "/log") or ""; T.write(tmp .. "/log", ""); return s end

-- The same steps, here and on a host: dir, line, file, template, modes, idempotence, dry_run.
local function steps(where, d)
  local r = ensure.dir{d, mode = "0750"}
  T.ok(where .. ": dir created", r.changed and $(stat -c %a #{d}) == "750", T.show(r.diff))
  T.eq(where .. ": dir again unchanged", ensure.dir{d, mode = "0750"}.changed, false)
  local f = d .. "/app.conf"
  r = ensure.line(f, "port=80")
  T.ok(where .. ": line creates the file", r.changed and read(f) == "port=80\n", T.show(read(f)))
  ensure.line(f, "user=www")
  r = ensure.line(f, "port=8080", {regexp = "^port="})
  T.eq(where .. ": regexp replaces the line in place", read(f), "port=8080\nuser=www\n")
  T.has(where .. ": its diff", r.diff, "-port=80\n+port=8080\n user=www\n")
  T.eq(where .. ": line again unchanged", ensure.line(f, "port=8080", {regexp = "^port="}).changed, false)
  r = ensure.line(f, "# managed", {after = "^port=", dry_run = true})
  T.ok(where .. ": dry_run line reports the change", r.changed and r.dry_run and r.diff:find("+# managed", 1, true) ~= nil, T.show(r.diff))
  T.eq(where .. ": dry_run line touched nothing", read(f), "port=8080\nuser=www\n")
  ensure.line(f, "# managed", {after = "^port="})
  T.eq(where .. ": after= inserts after the match", read(f), "port=8080\n# managed\nuser=www\n")
  ensure.line(f, "user=www", {state = "absent"})
  T.eq(where .. ": state=absent removes it", read(f), "port=8080\n# managed\n")
  local tpl = "listen #{port}\nserver_name #{name}.example;\n"
  r = ensure.file{f, template = tpl, vars = {port = 443, name = "web1"}, mode = "0640", dry_run = true}
  T.ok(where .. ": dry_run file: diff, no write", r.changed and r.diff:find("+listen 443", 1, true) and read(f) == "port=8080\n# managed\n", T.show(r.diff))
  r = ensure.file{f, template = tpl, vars = {port = 443, name = "web1"}, mode = "0640"}
  T.eq(where .. ": template rendered", read(f), "listen 443\nserver_name web1.example;\n")
  T.eq(where .. ": mode set", $(stat -c %a #{f}), "640")
  T.eq(where .. ": file again unchanged", ensure.file{f, template = tpl, vars = {port = 443, name = "web1"}, mode = "0640"}.changed, false)
  r = ensure.file{f, content = read(f), mode = "0600"}
  T.ok(where .. ": a mode change alone", r.changed and r.diff:find("mode 0640 -> 0600", 1, true), T.show(r.diff))
  T.eq(where .. ": no temporary file left", $(ls -A #{d}), "app.conf")
end

local L = tmp .. "/local"
steps("local", L)
with connect("127.0.0.1") do
  steps("remote", tmp .. "/remote")
  -- ~/ is the login folder on the host
  local name = ".sshs-ensure-test-" .. T.pid
  local r = ensure.line("~/" .. name, "x=1")
  T.ok("remote: ~/path is in the login folder", r.changed and $(cat ~/#{name}) == "x=1", T.show(r.commands[1]))
  $ rm -f ~/#{name}
end

-- A fleet: dry run first (nothing written), then the change, then nothing to do.
local hosts = "127.0.0.[1-3]"
local function fleet(dry)
  local out = each(hosts, function(h)
    return ensure.file{tmp .. "/fleet-" .. h, content = "role=web\n", dry_run = dry}.changed
  end)
  local n = 0
  for _, o in pairs(out) do if o.ok and o.value then n = n + 1 end end
  return n
end
T.eq("fleet dry run: 3 hosts would change", fleet(true), 3)
T.eq("fleet dry run: nothing written", T.sh("ls " .. tmp .. " | grep -c fleet-"), "0\n")
T.eq("fleet: 3 hosts changed", fleet(false), 3)
T.eq("fleet again: none changed", fleet(false), 0)

-- Packages: the real apt detection (read-only), then each manager through its fake.
T.eq("apt detected on this Debian host", ensure.package_manager(), "apt")
T.eq("an installed package is unchanged (real dpkg query)", ensure.package("zsh").changed, false)
T.eq("an absent package stays absent (real dpkg query)", ensure.package("sshs-no-such-package", {state = "absent"}).changed, false)
for _, m in ipairs{{"apt", "apt-get install -y -q 'tree'", "apt-get remove -y -q 'tree'"},
                   {"dnf", "dnf install -y -q 'tree'", "dnf remove -y -q 'tree'"},
                   {"apk", "apk add -q 'tree'", "apk del -q 'tree'"}} do
  local kind, inst, rem = m[1], m[2], m[3]
  with connect("127.0.0.1") do
    with fake_env(kind) do
      T.eq(kind .. ": detected", ensure.package_manager(), kind)
      local r = ensure.package("tree", {dry_run = true})
      T.ok(kind .. ": dry run names the command, runs nothing", r.changed and r.commands[1]:find(inst, 1, true) and not log():find("install") , T.show(r.commands[1]))
      r = ensure.package("tree")
      T.ok(kind .. ": installs, then is unchanged", r.changed and log():find(inst:gsub("'", ""), 1, true) and not ensure.package("tree").changed, T.show(r.commands[1]))
      r = ensure.package("tree", {state = "absent"})
      T.ok(kind .. ": removes", r.changed and log():find(rem:gsub("'", ""), 1, true) and not ensure.package("tree", {state = "absent"}).changed, T.show(r.commands[1]))
    end
  end
end

-- Services: a fake systemctl (the init named: detection needs /run/systemd/system) and a
-- fake rc-service (detected).
with fake_env("systemd") do
  local r = ensure.service("web", "running", {enabled = true, init = "systemd"})
  T.eq("systemd: start and enable", r.diff, "service web: enabled, started (systemd)\n")
  T.eq("systemd: then unchanged", ensure.service("web", "running", {enabled = true, init = "systemd"}).changed, false)
  r = ensure.service("web", "stopped", {dry_run = true, init = "systemd"})
  T.ok("systemd: dry run stop runs nothing", r.changed and r.commands[1] == "systemctl stop 'web'" and not log():find("stop"), T.show(r.commands))
  T.eq("systemd: stop", ensure.service("web", "stopped", {init = "systemd"}).diff, "service web: stopped (systemd)\n")
end
with fake_env("openrc") do
  T.eq("openrc: detected", ensure.init_system(), "openrc")
  T.eq("openrc: start", ensure.service("db", "running").diff, "service db: started (openrc)\n")
end

-- Users: a throw-away one, real useradd/usermod/userdel (root only).
if who == "root" then
  with connect("127.0.0.1") do
    local r = ensure.user{user, shell = "/bin/sh", dry_run = true}
    T.ok("user: dry run creates nothing", r.changed and not $?(id #{user}), T.show(r.commands))
    r = ensure.user{user, shell = "/bin/sh"}
    T.ok("user: created", r.changed and $?(id #{user}))
    T.eq("user: again unchanged", ensure.user{user, shell = "/bin/sh"}.changed, false)
    r = ensure.user{user, shell = "/bin/bash"}
    T.eq("user: shell changed", r.diff, "user " .. user .. ": shell /bin/sh -> /bin/bash\n")
    r = ensure.user{user, state = "absent"}
    T.ok("user: removed", r.changed and not $?(id #{user}))
  end
else
  for i = 1, 5 do print("ok - user check " .. i .. " # SKIP needs root (useradd)") end
end

-- sudo = true runs the step under sudo (as root here: sudo asks nothing).
if who == "root" and $?(command -v sudo) then
  local r = ensure.file{tmp .. "/sudo.conf", content = "x\n", sudo = true}
  T.ok("sudo = true: written through sudo", r.changed and read(tmp .. "/sudo.conf") == "x\n")
else
  print("ok - sudo check # SKIP needs root and sudo")
end

-- Bad input is named.
T.has("unknown option named", T.fails(ensure.line, L .. "/x", "a", {aftre = "x"}), "ensure.line: unknown option 'aftre'")
T.has("content or template", T.fails(ensure.file, {L .. "/x"}), "give content = or template =")
T.has("a nil in a template named", T.fails(ensure.file, {L .. "/x", template = "a #{nope}"}), "#{nope} is nil")
T.has("a folder is not a file", T.fails(ensure.file, {L, content = ""}), "is a directory, not a file")
EOF
chmod -R a+rX "$TMP"
lua_checks ens.sshs "$TMP" "$F" "$U" "$(id -un)"
