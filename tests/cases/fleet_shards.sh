#!/usr/bin/env bash
# One fleet over several controllers: --shard I/N (and I from Slurm's or Kubernetes' job
# environment) gives every host to exactly one shard, whatever order the list was written in;
# the --json outputs of the shards concatenate and sshs --summary folds them by cause.
source "$TESTROOT/lib.sh"
source "$TESTROOT/fleet_lib.bash"
need_sshd
plan 25

cond() { eval "$1"; }
HOSTS='127.0.0.[1-12]'
# The same set, written in another order.
REORDERED='127.0.0.[7-12],127.0.0.[3-6],127.0.0.2,127.0.0.1'
want=$(for i in $(seq 1 12); do echo "127.0.0.$i"; done | sort)

# hosts_of FILE: the sorted host names of a --json output.
hosts_of() { python3 -c 'import json,sys; [print(json.loads(l)["host"]) for l in open(sys.argv[1]) if l.strip()]' "$1" | sort; }

for n in 1 2 3 7; do
  : > "$TMP/all-$n"
  bad=""
  for i in $(seq 1 "$n"); do
    hs -H "$HOSTS" --shard "$i/$n" --json -e 'return 1'
    [ "$rc" = 0 ] || bad="$bad shard $i/$n exit $rc;"
    cp "$TMP/out" "$TMP/shard-$i-of-$n.json"
    cat "$TMP/out" >> "$TMP/all-$n"
    hosts_of "$TMP/out" > "$TMP/h-$i-$n"
    hs -H "$REORDERED" --shard "$i/$n" --json -e 'return 1'
    hosts_of "$TMP/out" > "$TMP/r-$i-$n"
    cmp -s "$TMP/h-$i-$n" "$TMP/r-$i-$n" || bad="$bad shard $i/$n differs when the list is reordered;"
    size=$(wc -l < "$TMP/h-$i-$n")
    lo=$((12 / n)); hi=$(( (12 + n - 1) / n ))
    [ "$size" -ge "$lo" ] && [ "$size" -le "$hi" ] || bad="$bad shard $i/$n has $size hosts;"
  done
  union=$(hosts_of "$TMP/all-$n")
  if [ "$union" = "$want" ] && [ -z "$bad" ]; then
    ok "--shard I/$n: every host in exactly one shard, same slices for a reordered list, sizes even"
  else
    fail "--shard I/$n: every host in exactly one shard, same slices for a reordered list, sizes even" \
      "$bad" "union: $(echo $union)"
  fi
done

# The job runner's environment gives I (0-based there).
hs -H "$HOSTS" --shard 2/3 --json -e 'return 1'; hosts_of "$TMP/out" > "$TMP/explicit"
SLURM_ARRAY_TASK_ID=11 SLURM_ARRAY_TASK_MIN=10 SLURM_ARRAY_TASK_COUNT=3 hs -H "$HOSTS" --shard auto --json -e 'return 1'
check "Slurm: --shard auto from SLURM_ARRAY_TASK_ID - MIN and SLURM_ARRAY_TASK_COUNT is 2/3" \
  cond '[ "$rc" = 0 ] && [ "$(hosts_of "$TMP/out")" = "$(cat "$TMP/explicit")" ]'
SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_MIN=0 hs -H "$HOSTS" --shard 3 --json -e 'return 1'
check "Slurm: --shard N takes I from SLURM_ARRAY_TASK_ID" \
  cond '[ "$rc" = 0 ] && [ "$(hosts_of "$TMP/out")" = "$(cat "$TMP/explicit")" ]'
JOB_COMPLETION_INDEX=1 hs -H "$HOSTS" --shard 3 --json -e 'return 1'
check "Kubernetes Indexed Job: --shard N takes I from JOB_COMPLETION_INDEX" \
  cond '[ "$rc" = 0 ] && [ "$(hosts_of "$TMP/out")" = "$(cat "$TMP/explicit")" ]'
JOB_COMPLETION_INDEX=3 hs -H "$HOSTS" --shard 3 -e 'return 1'
check "JOB_COMPLETION_INDEX past the count: an error naming it, nothing runs" \
  cond '[ "$rc" != 0 -a -z "$out" ] && grep -q "JOB_COMPLETION_INDEX gives shard index 3" "$TMP/err"'
hs -H "$HOSTS" --shard auto -e 'return 1'
check "--shard auto outside a job runner: an error saying where I comes from" \
  cond '[ "$rc" != 0 -a -z "$out" ] && grep -q "SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX" "$TMP/err"'
JOB_COMPLETION_INDEX=0 hs -H "$HOSTS" --shard auto -e 'return 1'
check "--shard auto in a Kubernetes job asks for the count" \
  cond '[ "$rc" != 0 ] && grep -q "give the count" "$TMP/err"'
for spec in 4/3 0/3 x/3 3/0; do
  hs -H "$HOSTS" --shard "$spec" -e 'return 1'
  check "--shard $spec is refused with a message naming it" cond '[ "$rc" != 0 -a -z "$out" ] && grep -q -- "--shard" "$TMP/err"'
done
hs --shard 1/2 -e 'return 1'
check "--shard without -H is refused" cond '[ "$rc" = 2 ] && grep -q -- "--shard needs -H" "$TMP/err"'
hs -H '127.0.0.[1-2]' --shard 5/7 -e 'print("x")'
check "a shard with no host (7 shards of 2 hosts): exit 0, a summary of 0 hosts" \
  cond '[ "$rc" = 0 -a -z "$out" ] && grep -qE "^sshs: 0 hosts in" "$TMP/err"'

# --summary over the concatenated outputs of shards, with failures folded by cause.
SCRIPT='local a = $(set -- $SSH_CONNECTION; echo $3); if a == "127.0.0.4" or a == "127.0.0.5" then $ exit 3
end'
: > "$TMP/fleet.json"
for i in 1 2 3; do
  hs -H '127.0.0.[1-8],127.0.0.9:1' --shard "$i/3" --json -e "$SCRIPT"
  cp "$TMP/out" "$TMP/part$i.json"
done
HOME=$SSHS_TEST_HOME "$SSHS" --summary "$TMP/part1.json" "$TMP/part2.json" "$TMP/part3.json" > "$TMP/out" 2> "$TMP/err"; rc=$?
check "--summary FILE...: exit 1 when a host failed" [ "$rc" = 1 ]
check "--summary: the count line over every shard" \
  grep -qE '^sshs: 9 hosts from 3 files: 6 ok, 2 failed, 1 unreachable' "$TMP/err"
check "--summary: failures folded by cause into one node set" \
  grep -qE '^ +failed +127\.0\.0\.\[4-5\] \(2\): command failed on <host> \(exit 3\): exit 3' "$TMP/err"
check "--summary: unreachable hosts with their cause" \
  grep -qE '^ +unreachable +127\.0\.0\.9:1 \(1\): .*Connection refused' "$TMP/err"
check "--summary: nothing on stdout" [ ! -s "$TMP/out" ]
cat "$TMP/part1.json" "$TMP/part2.json" "$TMP/part3.json" | HOME=$SSHS_TEST_HOME "$SSHS" --summary - > "$TMP/out" 2> "$TMP/err"; rc=$?
check "--summary -: reads stdin (cat of the shards' outputs)" grep -qE '^sshs: 9 hosts from 1 file: 6 ok, 2 failed, 1 unreachable' "$TMP/err"
# Only the failed and unreachable hosts' lines go (the host field exactly: an unescaped pattern
# could also match digits in another field of a good host's line).
grep -hvE '"host": ?"127\.0\.0\.(4|5|9:1)"' "$TMP/part1.json" "$TMP/part2.json" "$TMP/part3.json" > "$TMP/good.json"
HOME=$SSHS_TEST_HOME "$SSHS" --summary "$TMP/good.json" > /dev/null 2> "$TMP/err"; rc=$?
check "--summary: exit 0 when every host succeeded" cond '[ "$rc" = 0 ] && grep -qE "^sshs: 6 hosts from 1 file: 6 ok, 0 failed, 0 unreachable" "$TMP/err"'
printf '{"host":"a","ok":true}\nnot json\n' > "$TMP/bad.json"
HOME=$SSHS_TEST_HOME "$SSHS" --summary "$TMP/bad.json" > /dev/null 2> "$TMP/err"; rc=$?
check "--summary: a line that is not an outcome is named file:line, exit 2" \
  cond '[ "$rc" = 2 ] && grep -q "bad.json:2: not a host outcome" "$TMP/err"'
HOME=$SSHS_TEST_HOME "$SSHS" --summary "$TMP/part1.json" "$TMP/part1.json" > /dev/null 2> "$TMP/err"; rc=$?
check "--summary: a host in two files is reported" grep -q 'is in .*part1.json:1 and .*part1.json:1' "$TMP/err"
