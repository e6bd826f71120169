#!/usr/bin/env bash
# Every recipe of docs/cookbook runs against the test sshd (issue 22 item 6): fleets are
# 127.0.0.X loopback hosts (all the same machine, so each host's files live under a folder
# named after it, or the remote side tells hosts apart by $SSH_CONNECTION's server address).
source "$TESTROOT/lib.sh"
source "$TESTROOT/fleet_lib.bash"
need_sshd
REPO=$(cd "$TESTROOT/.." && pwd)
CB=$REPO/docs/cookbook
plan 32
W=$TMP/w; mkdir -p "$W"; chmod 755 "$TMP" "$W"
# The address a remote command was reached at: its host's name here.
ME='$(echo $SSH_CONNECTION | cut -d" " -f3)'
has() { [[ $out == *"$1"* ]]; }

# ---- rolling_restart: healthy everywhere; then a host that never gets healthy stops it
mkdir -p "$W/rr"
hs "$CB/rolling_restart.sshs" '127.0.0.[1-5]' 2 "echo restarted >> $W/rr/$ME.log" "test -f $W/rr/$ME.log" 3
check "rolling_restart: 5 hosts restarted in batches, each healthy" \
  eval '[ $rc = 0 ] && has "restarted 5 hosts: 127.0.0.[1-5]" && [ "$(ls "$W/rr" | wc -l)" = 5 ]'
rm -f "$W/rr"/*; touch "$W/rr/sick"
hs "$CB/rolling_restart.sshs" '127.0.0.[1-5]' 2 "echo restarted >> $W/rr/$ME.log" \
   "test -f $W/rr/$ME.log && ! { [ \$(echo $ME) = 127.0.0.3 ] && test -f $W/rr/sick; }" 2
check "rolling_restart: an unhealthy host stops the rollout; later batches untouched" \
  eval '[ $rc = 1 ] && [[ $err == *"127.0.0.3: not healthy after 2 tries"* ]] && [[ $err == *"not started: 1"* ]] && [ ! -e "$W/rr/127.0.0.5.log" ]'

# ---- collect_logs
mkdir -p "$W/logs-src"; echo "line of a log" > "$W/logs-src/app.log"
hs "$CB/collect_logs.sshs" '127.0.0.[1-3]' "$W/logs-src/app.log" "$W/collected"
check "collect_logs: one copy per host, none overwritten" \
  eval '[ $rc = 0 ] && [ "$(cat "$W"/collected/app.log.127.0.0.{1,2,3} | sort -u)" = "line of a log" ]'
hs "$CB/collect_logs.sshs" '127.0.0.[1-2]' "$W/logs-src" "$W/collected-dirs"
check "collect_logs: a folder is copied whole" eval '[ $rc = 0 ] && [ -f "$W/collected-dirs/logs-src.127.0.0.2/app.log" ]'
hs "$CB/collect_logs.sshs" '127.0.0.1' "$W/no-such.log" "$W/collected2"
check "collect_logs: a missing log fails that host, named" eval '[ $rc = 1 ] && [[ $err == *"127.0.0.1:"* ]]'

# ---- rotate_key: on the runner's authorized_keys (its own key stays)
AK=$SSHS_TEST_DIR/authorized_keys
ssh-keygen -q -t ed25519 -N '' -C sshs-old-key -f "$TMP/oldkey"
cat "$TMP/oldkey.pub" >> "$AK"
# The files running meanwhile log in with the key it keeps: it is replaced by a rename, never
# rewritten in place (truncated, sshd read it empty and refused another file's key).
drop_keys() { { grep -v "$@" "$AK" || true; } > "$AK.$$" && chmod --reference="$AK" "$AK.$$" && mv -f "$AK.$$" "$AK"; }
CLEANUP_AK() { drop_keys -e sshs-old-key -e 'rotated '; rm -rf "$TMP"; }
trap CLEANUP_AK EXIT
hs "$CB/rotate_key.sshs" '127.0.0.[1-2]' "$TMP/newkey" "$TMP/oldkey.pub" "$AK"
check "rotate_key: both hosts rotated" eval '[ $rc = 0 ] && has "127.0.0.1: rotated" && has "127.0.0.2: rotated"'
check "rotate_key: new key added once, old key removed, the runner's own key kept" \
  eval '[ "$(grep -c "$(cut -d" " -f2 "$TMP/newkey.pub")" "$AK")" = 1 ] && ! grep -q sshs-old-key "$AK" && grep -q "$(cut -d" " -f2 "$SSHS_TEST_KEY.pub")" "$AK"'
if ssh -F "$SSHS_TEST_HOME/.ssh/config" -o BatchMode=yes -o IdentitiesOnly=yes -i "$TMP/newkey" 127.0.0.3 true 2>/dev/null; then
  ok "rotate_key: the new key logs in alone"; else fail "rotate_key: the new key logs in alone"; fi
drop_keys -e 'rotated '

# ---- push_config: changed once, then unchanged; a failing validation keeps the old file
mkdir -p "$W/pc"; echo "v1" > "$TMP/app.conf"
for i in 1 2 3; do echo v0 > "$W/pc/app.conf.127.0.0.$i"; done
push() { hs "$CB/push_config.sshs" '127.0.0.[1-3]' "$TMP/app.conf" "$W/pc/app.conf.$ME" "echo reload >> $W/pc/reloads.$ME" "$@"; }
# The remote path names its host through $ME: upload takes it literally, so give each host
# its own run (the recipe's REMOTE_PATH is one path for all hosts in real use).
for i in 1 2 3; do
  hs "$CB/push_config.sshs" "127.0.0.$i" "$TMP/app.conf" "$W/pc/app.conf.127.0.0.$i" "echo reload >> $W/pc/reloads.127.0.0.$i"
done
check "push_config: pushed and reloaded" eval '[ "$(cat "$W"/pc/app.conf.127.0.0.{1,2,3} | sort -u)" = v1 ] && [ "$(cat "$W"/pc/reloads.* | wc -l)" = 3 ]'
hs "$CB/push_config.sshs" '127.0.0.1' "$TMP/app.conf" "$W/pc/app.conf.127.0.0.1" "echo reload >> $W/pc/reloads.127.0.0.1"
check "push_config: unchanged the second time, not reloaded" eval '[ $rc = 0 ] && has "127.0.0.1: unchanged" && [ "$(wc -l < "$W/pc/reloads.127.0.0.1")" = 1 ]'
echo v2 > "$TMP/app.conf"
hs "$CB/push_config.sshs" '127.0.0.1' "$TMP/app.conf" "$W/pc/app.conf.127.0.0.1" "echo reload >> $W/pc/reloads.127.0.0.1" "grep -q v3 {}"
check "push_config: a failed validation keeps the old file and does not reload" \
  eval '[ $rc = 1 ] && has "validation failed" && [ "$(cat "$W/pc/app.conf.127.0.0.1")" = v1 ] && [ ! -e "$W/pc/app.conf.127.0.0.1.sshs-new" ]'

# ---- sync_configs: dry run, sync + reload, nothing to do, one file changed
mkdir -p "$TMP/conf.d"; echo "a=1" > "$TMP/conf.d/a.conf"; echo "b=1" > "$TMP/conf.d/b.conf"
SC=$W/sc; mkdir -p "$SC"
sync_run() { hs "$CB/sync_configs.sshs" 127.0.0.1 "$TMP/conf.d/" "$SC/conf.d" "echo reload >> $SC/reloads" "$@"; }
sync_run --dry-run
check "sync_configs: the dry run lists the changes and writes nothing" \
  eval '[ $rc = 0 ] && has "(dry run)" && has "a.conf (new)" && [ ! -e "$SC/conf.d" ] && [ ! -e "$SC/reloads" ]'
sync_run
check "sync_configs: synced and reloaded" eval '[ $rc = 0 ] && has "reloaded" && [ "$(cat "$SC/conf.d/b.conf")" = b=1 ] && [ "$(wc -l < "$SC/reloads")" = 1 ]'
sync_run
check "sync_configs: up to date, not reloaded" eval '[ $rc = 0 ] && has "127.0.0.1: up to date" && [ "$(wc -l < "$SC/reloads")" = 1 ]'
echo "a=2" > "$TMP/conf.d/a.conf"
sync_run
check "sync_configs: one changed file sent, reloaded once more" \
  eval '[ $rc = 0 ] && has "1 change(s), reloaded" && has "a.conf (" && [ "$(cat "$SC/conf.d/a.conf")" = a=2 ] && [ "$(wc -l < "$SC/reloads")" = 2 ]'

# ---- odd_one_out
mkdir -p "$W/odd"; for i in 1 2 3 4; do echo same > "$W/odd/conf.127.0.0.$i"; done; echo different > "$W/odd/conf.127.0.0.3"
hs "$CB/odd_one_out.sshs" '127.0.0.[1-4]' "cat $W/odd/conf.$ME"
check "odd_one_out: the odd host is named, exit 1" \
  eval '[ $rc = 1 ] && [[ $out == *"majority 3 host(s): 127.0.0.[1-2,4]"* ]] && [[ $out == *"ODD      1 host(s): 127.0.0.3"* ]]'
hs "$CB/odd_one_out.sshs" '127.0.0.[1-2]' "cat $W/odd/conf.$ME"
check "odd_one_out: hosts that agree, exit 0" eval '[ $rc = 0 ] && [[ $out == "majority 2 host(s)"* ]]'

# ---- disk_usage
hs "$CB/disk_usage.sshs" '127.0.0.[1-3]' 100
check "disk_usage: a line per host, none over 100%" eval '[ $rc = 0 ] && [ "$(grep -c "%" <<< "$out")" = 3 ]'
hs "$CB/disk_usage.sshs" '127.0.0.[1-3]' 0
check "disk_usage: every host over 0%, exit 1" eval '[ $rc = 1 ] && [ "$(grep -c "over 0%" <<< "$out")" = 3 ]'

# ---- baseline (ensure): dry run touches nothing; apply; then nothing to do
B=$W/base
hs "$CB/baseline.sshs" '127.0.0.[1-2]' "$B"
check "baseline: the dry run shows diffs and touches nothing" \
  eval '[ $rc = 0 ] && [[ $out == *"would change $B/app.conf"* ]] && [[ $out == *"+node_name = 127.0.0."* ]] && [ ! -e "$B" ] && [[ $out == *"dry run: "* ]]'
hs "$CB/baseline.sshs" '127.0.0.1' "$B" --apply
check "baseline: --apply makes the changes" \
  eval '[ $rc = 0 ] && has "applied: 3 change(s) on 1 host(s)" && grep -qx "node_name = 127.0.0.1" "$B/app.conf" && grep -qx APP_ENV=production "$B/env"'
hs "$CB/baseline.sshs" '127.0.0.1' "$B" --apply
check "baseline: applied again, nothing to change" eval '[ $rc = 0 ] && has "applied: 0 change(s) on 1 host(s)"'

# ---- tunnel_query: the test sshd's banner, through a tunnel over 127.0.0.1
hs "$CB/tunnel_query.sshs" 127.0.0.1 "127.0.0.2:$SSHS_TEST_PORT"
check "tunnel_query: the service behind the bastion answers through the tunnel" eval '[ $rc = 0 ] && [[ $out == *"banner: SSH-2.0-"* ]]'

# ---- through_bastion
hs "$CB/through_bastion.sshs" 127.0.0.1 '127.0.0.[2-3]' 'echo "hello from $(echo $SSH_CONNECTION | cut -d" " -f3), client $(echo $SSH_CONNECTION | cut -d" " -f1)"'
check "through_bastion: each host answers, reached from the bastion" \
  eval '[ $rc = 0 ] && has "127.0.0.2: hello from 127.0.0.2, client 127.0.0.1" && has "127.0.0.3: hello from 127.0.0.3, client 127.0.0.1"'

# ---- answer_prompt
cat > "$W/ask.sh" <<'EOF'
printf 'Proceed with the upgrade? [y/N] '; read a
printf 'Name of the new cluster: '; read b
echo "answers: $a $b"
EOF
hs "$CB/answer_prompt.sshs" 127.0.0.1 "sh $W/ask.sh" 'Proceed.-%[y/N%] ' y 'cluster: ' main2
check "answer_prompt: both questions answered through the pty" eval '[ $rc = 0 ] && has "answers: y main2"'

# ---- find_errors
mkdir -p "$W/fe"
for i in 1 2 3; do printf 'ok\n' > "$W/fe/app.log.127.0.0.$i"; done
printf 'ERROR one\nok\nERROR two\n' > "$W/fe/app.log.127.0.0.2"; printf 'FATAL x\n' >> "$W/fe/app.log.127.0.0.3"
hs "$CB/find_errors.sshs" '127.0.0.[1-3]' "$W/fe/app.log.$ME" 'ERROR|FATAL'
first=$(head -n 1 <<< "$out")
check "find_errors: hosts ranked by matches, with the last one" \
  eval '[ $rc = 0 ] && [[ $first == "127.0.0.2"*" 2  ERROR two" ]] && [[ $(sed -n 2p <<< "$out") == "127.0.0.3"*" 1  FATAL x" ]]'

# ---- wait_for_hosts
hs "$CB/wait_for_hosts.sshs" '127.0.0.[1-3]' 10
check "wait_for_hosts: all up" eval '[ $rc = 0 ] && has "all hosts up" && [ "$(grep -c ": up (" <<< "$out")" = 3 ]'
hs "$CB/wait_for_hosts.sshs" '127.0.0.1,127.0.0.2:1' 3
check "wait_for_hosts: a host that never comes back is named" eval '[ $rc = 1 ] && [[ $err == *"not back after 3 s: 127.0.0.2:1"* ]]'

# ---- every recipe documents its usage and parses
bad=""
for f in "$CB"/*.sshs; do
  grep -q '^--   sshs ' "$f" || bad+="$(basename "$f"): no usage line; "
  "$SSHS" --check "$f" > /dev/null 2>&1 || bad+="$(basename "$f"): does not parse; "
  grep -q "$(basename "$f")" "$REPO/docs/cookbook.md" || bad+="$(basename "$f"): not in docs/cookbook.md; "
done
if [ -z "$bad" ]; then ok "every recipe has a usage line, parses and is in docs/cookbook.md"; else fail "every recipe has a usage line, parses and is in docs/cookbook.md" "$bad"; fi
# the tutorial's first script, as printed there (its folder under /tmp moved into this file's
# temp folder: parallel runs must not share it), runs here
awk '/^```lua$/ {f = 1; next} /^```$/ {if (f) exit} f' "$REPO/docs/tutorial.md" \
  | sed "s|\"/tmp/a folder; with spaces\"|\"$TMP/a folder; with spaces\"|" > "$TMP/hello.sshs"
(cd "$TMP" && "$SSHS" hello.sshs > "$TMP/out" 2> "$TMP/err"); rc=$?; out=$(cat "$TMP/out")
check "docs/tutorial.md: the first script runs" eval '[ $rc = 0 ] && [[ $out == *"caught: "*"ls /nope"* ]] && [[ $out == *"$TMP/a folder; with spaces"* ]]'
# the tutorial's rollout line, on four loopback hosts
hs -H '127.0.0.[1-4]' --canary 1 --batch 25% --max-fail 0 -e '$ echo restarted'
check "docs/tutorial.md: the --canary/--batch/--max-fail line runs" eval '[ $rc = 0 ] && [ "$(grep -c ": restarted" <<< "$out")" = 4 ]'
n=$(ls "$CB"/*.sshs | wc -l)
if [ "$n" -ge 10 ]; then ok "at least ten recipes ($n)"; else fail "at least ten recipes ($n)"; fi
