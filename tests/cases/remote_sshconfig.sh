#!/usr/bin/env bash
# ssh_config beyond Host blocks: sshs -G prints the effective settings as ssh -G does (and agrees
# with OpenSSH's own ssh -G on the keywords both read), Match host/user/all decide real
# connections, HashKnownHosts yes writes hashed lines on accept-new (which OpenSSH and sshs then
# find), and keywords sshs would ignore while going another way are refused with file:line.
source "$TESTROOT/remote_lib.sh"
plan 20

mkdir -p "$TMP/home/.ssh"
CFG=$TMP/home/.ssh/config
cat > "$CFG" <<EOF
Host web1
  HostName 127.0.0.3
  ConnectTimeout 12
Host hashed
  HostName 127.0.0.9
  HashKnownHosts yes
  StrictHostKeyChecking accept-new
  UserKnownHostsFile $TMP/hashed_known_hosts
Host bastioned
  HostName 10.9.9.9
  ProxyCommand ssh -W %h:%p -l %r bastion
Match host 127.0.0.3 user $SSHS_TEST_USER
  ServerAliveInterval 7
Match user nobody-here
  Port 1
Match all
  ServerAliveCountMax 5
Host *
$(test_server_defaults)
EOF
export RHOME=$TMP/home

# -G against OpenSSH's -G, keyword by keyword (the ones both read).
for host in web1 bastioned "nobody-here@web1" hashed; do
  ours=$(HOME=$RHOME "$SSHS" -G "$host" 2>&1); rc=$?
  theirs=$(HOME=$RHOME ssh -F "$CFG" -G "$host" 2>/dev/null)
  bad=""
  for k in hostname user port proxycommand connecttimeout serveraliveinterval serveralivecountmax hashknownhosts; do
    o=$(printf '%s\n' "$ours" | sed -n "s/^$k //p"); t=$(printf '%s\n' "$theirs" | sed -n "s/^$k //p")
    [ "$t" = none ] && [ -z "$o" ] && continue
    [ "$k" = connecttimeout ] && [ "$t" = none ] && continue    # ssh: none; sshs: its default 30
    [ "$o" = "$t" ] || bad+="$k: sshs '$o', ssh '$t'; "
  done
  if [ "$rc" = 0 ] && [ -z "$bad" ]; then ok "sshs -G $host agrees with ssh -G"; else not_ok "sshs -G $host agrees with ssh -G" "$bad" "$ours"; fi
done
out=$(HOME=$RHOME "$SSHS" -G web1)
case "$out" in *"serveraliveinterval 7"*"serveralivecountmax 5"*) ok "-G: Match host+user and Match all applied";; *) not_ok "-G: Match host+user and Match all applied" "$out";; esac
out=$(HOME=$RHOME "$SSHS" -G nobody-here@web1)
case "$out" in *"port 1"*) ok "-G: Match user sees the user of user@host";; *) not_ok "-G: Match user sees the user of user@host" "$out";; esac
out=$(HOME=$RHOME "$SSHS" -o User=nobody-here -o ConnectTimeout=3 -G web1)
case "$out" in *"port 1"*"connecttimeout 3"*) ok "-G: -o lines count (and Match user sees -o User)";; *) not_ok "-G: -o lines count (and Match user sees -o User)" "$out";; esac
out=$(HOME=$RHOME "$SSHS" -G bastioned)
case "$out" in *"proxycommand ssh -W %h:%p -l %r bastion"*) ok "-G: the ProxyCommand as written (as ssh -G shows it)";; *) not_ok "-G: the ProxyCommand as written (as ssh -G shows it)" "$out";; esac
printf 'Host x\n  DynamicForward 1080\n' > "$TMP/bad_config"
out=$(HOME=$RHOME "$SSHS" -F "$TMP/bad_config" -G x 2>&1); rc=$?
case "$rc:$out" in 1:*"bad_config:2: DynamicForward 1080 is not supported"*) ok "-G: a refused keyword is an error naming file:line (exit 1)";; *) not_ok "-G: a refused keyword is an error naming file:line (exit 1)" "rc=$rc $out";; esac
printf 'Host x\n  ForwardAgent yes\n' > "$TMP/fa_config"
out=$(HOME=$RHOME "$SSHS" -F "$TMP/fa_config" -G x 2>&1); rc=$?
case "$rc:$out" in 0:*"forwardagent yes"*) ok "ForwardAgent yes is read: -G shows forwardagent yes (remote_agent_forward tests it)";; *) not_ok "ForwardAgent yes is read: -G shows forwardagent yes (remote_agent_forward tests it)" "rc=$rc $out";; esac
printf 'Host x\n  ForwardAgent maybe\n' > "$TMP/fa_bad_config"
out=$(HOME=$RHOME "$SSHS" -F "$TMP/fa_bad_config" -G x 2>&1); rc=$?
case "$rc:$out" in 1:*"fa_bad_config:2: bad ForwardAgent \"maybe\" (yes or no)"*) ok "ForwardAgent maybe: an error naming file:line";; *) not_ok "ForwardAgent maybe: an error naming file:line" "rc=$rc $out";; esac
out=$(HOME=$RHOME "$SSHS" -G 'bad target@' 2>&1); rc=$?
[ "$rc" = 1 ] && ok "-G with a bad target fails" || not_ok "-G with a bad target fails" "rc=$rc $out"

# Real connections follow the same settings.
script m.sshs <<'EOF'
local T = require "t"
with connect("web1") as s do
  T.eq("Match host+user: a real connection to web1 goes to its HostName", $(echo "$SSH_CONNECTION"):match("^%S+ %S+ (%S+)"), "127.0.0.3")
end
local m = T.fails(connect, "nobody-here@web1")
T.has("Match user: user@host picks the Port 1 block", m, "port 1")

-- HashKnownHosts yes with accept-new: a hashed line, which the next connection finds.
local kh = os.getenv("TMP") .. "/hashed_known_hosts"
with connect("hashed") do T.eq("accept-new connects", $(echo ok), "ok") end
local text = T.read(kh) or ""
T.like("the line written is hashed (|1|salt|hash)", text, "^|1|[%w+/=]+|[%w+/=]+ ssh%-ed25519 ")
T.lacks("... without the host name in clear", text, "127.0.0.9")
with connect("hashed", {host_key_check = "yes"}) do T.eq("host_key_check yes then finds the hashed line", $(echo ok), "ok") end
T.eq("... and writes nothing more", select(2, (T.read(kh) or ""):gsub("\n", "")), 1)
EOF
TMP=$TMP lua_checks m.sshs
out=$(ssh-keygen -F "[127.0.0.9]:$P" -f "$TMP/hashed_known_hosts" 2>&1 | grep -c -v '^#')
[ "$out" = 1 ] && ok "ssh-keygen -F finds the hashed line" || not_ok "ssh-keygen -F finds the hashed line" "$out"
