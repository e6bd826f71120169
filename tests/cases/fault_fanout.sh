#!/usr/bin/env bash
# A fan-out over a fleet with dead hosts: 200 hosts (1,000 under `make soak`, SSHS_SOAK=1),
# 10% on a closed port and 2% on a silent listener (connects never complete). Every live
# host ok, every dead one reported by its cause, no hang; peak RSS reported.
source "$TESTROOT/lib.sh"
source "$TESTROOT/fleet_lib.bash"
source "$TESTROOT/fault_lib.bash"
need_sshd
trap 'stop_listeners; rm -rf "$TMP"' EXIT

if [ -n "${SSHS_SOAK:-}" ]; then N=1000; else N=200; fi
if [ "$NHOSTS" -lt 200 ]; then
  echo "1..0 # SKIP fan-out with dead hosts: the test sshd listens on only $NHOSTS loopback addresses"
  exit 0
fi
plan 5
CLOSED=$((N / 10)) SILENT=$((N / 50))
LIVE=$((N - CLOSED - SILENT))
# Host i is 127.0.B.C with B = 1 + (i-1)/250, C = 1 + (i-1)%250 (every 127.x reaches the sshd).
addr() { echo "127.0.$((1 + ($1 - 1) / 250)).$((1 + ($1 - 1) % 250))"; }
live=() closed=() silent=() silent_addrs=()
for i in $(seq 1 "$N"); do
  if [ "$i" -le "$LIVE" ]; then live+=("$(addr "$i")")
  elif [ "$i" -le $((LIVE + CLOSED)) ]; then closed+=("$(addr "$i"):1")
  else silent_addrs+=("$(addr "$i")"); fi
done
start_listener silent "${silent_addrs[@]}"
for a in "${silent_addrs[@]}"; do silent+=("$a:$LPORT"); done
# Every 127.0.B.C has the server's key (a wildcard entry beside the runner's per-address ones).
key=$(head -n 1 "$SSHS_TEST_KNOWN_HOSTS" | cut -d' ' -f2-3)
echo "[127.0.*.*]:$SSHS_TEST_PORT $key" > "$TMP/known_hosts"
# The timeout only for the silent ones: on a busy machine a live host's handshake may take longer.
H=$(fault_home fanout "Host ${silent_addrs[*]}
  ConnectTimeout 3
Host *
  UserKnownHostsFile $TMP/known_hosts")
printf '%s\n' "${live[@]}" "${closed[@]}" "${silent[@]}" > "$TMP/hosts"

if bounded 400 "$N hosts" env HOME="$H" /usr/bin/time -f 'maxrss %M' -o "$TMP/rss" \
     "$SSHS" -H "@$TMP/hosts" -e '$ echo ok'; then
  expected=$(for a in "${live[@]}"; do echo "$a: ok"; done | sort)
  got=$(sort "$TMP/out")
  if [ "$got" = "$expected" ]; then ok "$N hosts: the $LIVE live hosts print ok"
  else fail "$N hosts: the $LIVE live hosts print ok" "$(diff <(echo "$expected") <(echo "$got") | head)" "$(detail)"; fi
  check "$N hosts: summary $LIVE ok, 0 failed, $((CLOSED + SILENT)) unreachable" \
    grep -qE "^sshs: $N hosts in [0-9.]+s: $LIVE ok, 0 failed, $((CLOSED + SILENT)) unreachable" "$TMP/err"
  n=$(grep -cE '^127\.0\.[0-9]+\.[0-9]+:1: .*Connection refused' "$TMP/err")
  checkv "$N hosts: each of the $CLOSED closed ports is reported as refused" "found $n" [ "$n" = "$CLOSED" ]
  n=$(grep -cE "^127\.0\.[0-9]+\.[0-9]+:$LPORT: timed out after 3s connecting" "$TMP/err")
  checkv "$N hosts: each of the $SILENT silent hosts is reported as a connect timeout" "found $n" [ "$n" = "$SILENT" ]
  check "$N hosts: exit status 3 (hosts unreachable, none failed)" [ "$rc" = 3 ]
  echo "# $N hosts in ${secs}s, peak RSS $(sed -n 's/maxrss //p' "$TMP/rss") kB"
fi
