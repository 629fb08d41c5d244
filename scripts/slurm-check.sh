#!/usr/bin/env bash
# Proves the README's Slurm array recipe on a real Slurm: starts a one-node cluster on this
# machine (munged, slurmctld and slurmd on localhost, Debian's slurm-wlm, installed if
# missing), writes 12 short articles, submits the README's array job (4 tasks, each
# `abridge summarize … --out … --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT
# --offline`, SmolLM2), cancels one task while it runs, then checks that every summary on
# disk is whole, resubmits the same job, and checks that all 12 articles have exactly one
# whole summary and that the second submission redid only what was missing.
#
# Usage: sudo scripts/slurm-check.sh   (root: it installs packages, writes /etc/slurm and
#   starts daemons, which it stops at the end; run it on a machine you may do that on)
# Takes about 2 minutes on 2 cores once the packages and the model are there.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
model=smollm2-135m-instruct
fail() { echo "slurm-check: FAIL: $*" >&2; exit 1; }
say() { echo "slurm-check: $*" >&2; }
[ "$(id -u)" = 0 ] || fail "run as root (it installs slurm-wlm and starts its daemons)"

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  say "installing slurm-wlm and munge"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >/dev/null 2>&1 || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >/dev/null
  }
fi
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
abridge=$root/target/release/abridge
"$abridge" models fetch "$model" >/dev/null

work=$(mktemp -d /tmp/slurm-check.XXXXXX)
chmod 755 "$work"
node=$(hostname -s)
# Stops the daemons started here and waits until they are gone: slurmctld writes its state
# while it shuts down, so removing the work folder before it exits races with it.
stop_cluster() {
  local pids=() pid
  for daemon in slurmd slurmctld munged; do
    if [ -f "$work/$daemon.pid" ]; then
      pid=$(cat "$work/$daemon.pid")
      kill "$pid" 2>/dev/null && pids+=("$pid")
    fi
  done
  for _ in $(seq 100); do
    pid=
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && break; pid=; done
    [ -z "$pid" ] && break
    sleep 0.1
  done
}
# The cleanup never changes the script's verdict: its own failures are reported, not fatal.
cleanup() {
  local status=$?
  set +e
  stop_cluster
  rm -rf "$work" 2>/dev/null || { sleep 1; rm -rf "$work" || say "could not remove $work"; }
  exit "$status"
}
trap cleanup EXIT

# A one-node cluster: this machine's CPUs and memory as slurmd reports them, no cgroups
# (containers rarely allow them), state and logs in the work folder.
hardware=$(slurmd -C | head -n 1 | sed 's/^NodeName=[^ ]* //')
mkdir -p /etc/slurm "$work/state" "$work/spool" "$work/log"
cat > /etc/slurm/slurm.conf <<EOF
ClusterName=abridge-check
SlurmctldHost=$node
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmUser=root
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
ReturnToService=2
NodeName=$node $hardware State=UNKNOWN
PartitionName=check Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
[ -s /etc/munge/munge.key ] || { dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null; }
chown munge:munge /etc/munge/munge.key 2>/dev/null || true
chmod 400 /etc/munge/munge.key
mkdir -p /run/munge && chown munge:munge /run/munge 2>/dev/null || true
if ! munge -n </dev/null >/dev/null 2>&1; then
  # munged runs as its own user where it can (and then cannot write into $work): its pid
  # is taken from the process list, so that only the one started here is stopped.
  runuser -u munge -- munged 2>/dev/null || munged --force
  pgrep -n -x munged > "$work/munged.pid"
fi
slurmctld
slurmd
for _ in $(seq 60); do
  sinfo -h -o %T 2>/dev/null | grep -qE '^idle' && break
  sleep 1
done
sinfo -h -o %T | grep -qE '^idle' || fail "the node never came up: $(tail -n 5 "$work/log/"*.log)"
say "cluster up on $node ($hardware)"

# 12 short articles, each a few sentences of its own story.
mkdir -p "$work/news"
towns=(Kellerby Marlow Ashcombe Brindle Corwen Dunmore Elstow Fenwick Garth Holloway Ilford Jedburgh)
for i in "${!towns[@]}"; do
  town=${towns[$i]}
  cat > "$work/news/$(printf %02d "$i")-$town.txt" <<EOF
$town council approves new library

The council of $town voted $((7 + i % 3)) to $((2 + i % 2)) on Monday to build a new public
library on the site of the old bus depot. The building will cost $((3 + i)) million euros and
is due to open in $((2027 + i % 2)). The mayor said the library would give children a quiet
place to study, while opponents argued that the money should go to road repairs first.
Work is expected to begin in the autumn, and the old depot will be cleared by the summer.
EOF
done

# The README's array job, at this cluster's size.
cat > "$work/job.sh" <<EOF
#!/bin/bash
#SBATCH --array=0-3
#SBATCH --cpus-per-task=1
#SBATCH --output=$work/log/task-%a.out
$abridge summarize $work/news --out $work/summaries --model $model \\
  --shard "\${SLURM_ARRAY_TASK_ID}/\${SLURM_ARRAY_TASK_COUNT}" --offline
EOF
chmod +x "$work/job.sh"

wait_for_job() {
  for _ in $(seq 600); do
    [ -z "$(squeue -h -j "$1" 2>/dev/null)" ] && return 0
    sleep 1
  done
  fail "job $1 did not finish in 10 minutes"
}
summaries() { find "$work/summaries" -name '*.summary.txt' 2>/dev/null | sort; }
check_whole() {
  # No hidden temporary file is left, and every summary has text.
  local partial
  partial=$(find "$work/summaries" -type f ! -name '*.summary.txt' ! -path '*/.abridge/*' 2>/dev/null)
  [ -z "$partial" ] || fail "partial files left: $partial"
  for f in $(summaries); do [ -s "$f" ] || fail "empty summary $f"; done
}

job=$(sbatch --parsable "$work/job.sh")
say "submitted array job $job"
# Cancel task 1 once it runs.
for _ in $(seq 300); do
  state=$(squeue -h -j "${job}_1" -o %T 2>/dev/null || true)
  [ "$state" = RUNNING ] && break
  [ -z "$state" ] && break
  sleep 0.2
done
sleep 1
scancel "${job}_1"
say "cancelled task ${job}_1 (it was ${state:-already done})"
wait_for_job "$job"
check_whole
first=$(summaries)
count=$(echo "$first" | grep -c . || true)
say "after the first submission: $count of 12 summaries"
declare -A before
for f in $first; do before[$f]=$(stat -c %y "$f"); done

sleep 1
job=$(sbatch --parsable "$work/job.sh")
say "resubmitted as $job"
wait_for_job "$job"
check_whole
second=$(summaries)
[ "$(echo "$second" | grep -c .)" = 12 ] || fail "$(echo "$second" | grep -c .) of 12 summaries after the resubmission"
for f in "${!before[@]}"; do
  [ "$(stat -c %y "$f")" = "${before[$f]}" ] \
    || fail "$f was redone by the second submission"
done
for f in "$work"/news/*.txt; do
  [ "$(find "$work/summaries" -name "$(basename "$f").summary.txt" | wc -l)" = 1 ] \
    || fail "$(basename "$f") has no single summary"
done
say "PASS: 12 articles, 12 whole summaries; the resubmission redid only the $((12 - count)) missing"
