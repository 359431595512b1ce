#!/usr/bin/env bash
# The real Slurm test (issue 5): starts a private single-node Slurm (munged, slurmctld, slurmd, all
# in a fresh temporary directory, on ports nobody listens on), submits a 4-run sweep as a 2-task job
# array with `normlab sweep --slurm --wait`, and checks that every run completed, that both tasks
# wrote their output and that `normlab collect` sees all four runs. On exit it cancels what is left
# and stops exactly the daemons it started, by their PIDs.
#   tests/slurm/test_slurm.sh NORMLAB_BINARY
# Needs root and Debian's slurm-wlm and munge; otherwise it prints "SKIPPED: <reason>" and exits 77
# (CTest's SKIP_RETURN_CODE), or exits 1 when NORMLAB_REQUIRE_SLURM=1 (CI, where it must run).
set -euo pipefail

skip() {
  if [[ "${NORMLAB_REQUIRE_SLURM:-0}" == 1 ]]; then
    echo "FAILED: NORMLAB_REQUIRE_SLURM=1 but the Slurm test cannot run: $*" >&2
    exit 1
  fi
  echo "SKIPPED: $*"
  exit 77
}

fail() {
  echo "slurm test: $*" >&2
  exit 1
}

(($# == 1)) || { echo "usage: $0 NORMLAB_BINARY" >&2; exit 2; }
normlab=$(realpath "$1")
[[ -x "$normlab" ]] || { echo "not an executable: $1" >&2; exit 2; }

PATH="$PATH:/usr/sbin:/sbin"            # the daemons, also when the caller's PATH lacks sbin
[[ $(id -u) -eq 0 ]] || skip "needs root (munged runs as the munge user, slurmd as root)"
for tool in munged mungekey munge unmunge slurmctld slurmd sbatch sinfo squeue scancel setpriv timeout; do
  command -v "$tool" >/dev/null || skip "$tool is missing (apt-get install slurm-wlm munge)"
done
id munge >/dev/null 2>&1 || skip "no munge user (apt-get install munge)"

# A Slurm job around this test must not leak its variables into the private cluster's commands.
while read -r name; do unset "$name"; done < <(compgen -e | grep '^SLURM_' || true)

tmp=$(mktemp -d -t normlab-slurm.XXXXXX)
chmod 755 "$tmp"                        # munged (as munge) must reach its directory inside
munge_dir="$tmp/munge" slurm_dir="$tmp/slurm"
socket="$munge_dir/munge.socket"
export SLURM_CONF="$slurm_dir/slurm.conf"
munged_pid="" slurmctld_pid="" slurmd_pid="" sweep_pid=""

print_logs() {
  local f daemon
  for daemon in slurmctld slurmd; do
    # -D copies the log to stderr; stderr alone holds what went wrong before the log file opened.
    f="$slurm_dir/$daemon.log"
    [[ -s "$f" ]] || f="$slurm_dir/$daemon.stderr"
    [[ -f "$f" ]] && { echo "---- $f (last 60 lines)"; tail -n 60 "$f"; }
  done
  for f in "$munge_dir/munged.log" "$tmp/munged.stderr" "$tmp"/sweep/slurm/*.out "$tmp/sweep.log"; do
    [[ -f "$f" ]] && { echo "---- $f (last 60 lines)"; tail -n 60 "$f"; }
  done
}

# SIGTERM, up to 10 s to exit, then SIGKILL; only ever the PIDs this script started.
stop_daemon() {
  local name=$1 pid=$2
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "slurm test: $name ($pid) ignored SIGTERM; SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null
}

cleanup() {
  local status=$?
  set +e
  trap - EXIT INT TERM
  if ((status != 0)); then
    echo "slurm test: failed (exit status $status); logs:" >&2
    print_logs >&2
  fi
  if [[ -n "$sweep_pid" ]]; then        # interrupted: timeout passes SIGTERM on to normlab and sbatch
    kill -TERM "$sweep_pid" 2>/dev/null
    wait "$sweep_pid" 2>/dev/null
  fi
  if [[ -n "$slurmctld_pid" ]] && kill -0 "$slurmctld_pid" 2>/dev/null; then
    scancel --quiet --partition=test 2>/dev/null
    # Let slurmd see the cancellation through before it goes (no stray slurmstepd).
    for _ in $(seq 25); do
      [[ -z "$(squeue -h -t running,completing -o %i 2>/dev/null)" ]] && break
      sleep 0.2
    done
  fi
  stop_daemon slurmd "$slurmd_pid"
  stop_daemon slurmctld "$slurmctld_pid"
  stop_daemon munged "$munged_pid"
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Waits up to $1 seconds for the command after it to succeed.
wait_for() {
  local seconds=$1
  shift
  for _ in $(seq $((seconds * 5))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}

# A TCP port nobody uses (listening or connected, from /proc/net/tcp{,6}); $1: a port to avoid too.
free_port() {
  local port used=" ${1:-} "
  while read -r _ local_address _; do
    used+="$((16#${local_address##*:})) "
  done < <(tail -q -n +2 /proc/net/tcp /proc/net/tcp6 2>/dev/null)
  for _ in $(seq 100); do
    port=$((20000 + RANDOM % 30000))
    [[ "$used" != *" $port "* ]] && { echo "$port"; return 0; }
  done
  echo "slurm test: no free port found" >&2
  return 1
}

# -- munge: its own key, socket, pid, log and seed files, running as the munge user -----------------
install -d -o munge -g munge -m 0755 "$munge_dir"   # munged: the socket's directory is a+x
setpriv --reuid=munge --regid=munge --init-groups mungekey --create --keyfile="$munge_dir/munge.key"
chmod 0400 "$munge_dir/munge.key"
setpriv --reuid=munge --regid=munge --init-groups \
  munged --foreground --socket="$socket" --key-file="$munge_dir/munge.key" \
  --pid-file="$munge_dir/munged.pid" --log-file="$munge_dir/munged.log" \
  --seed-file="$munge_dir/munged.seed" >"$tmp/munged.stderr" 2>&1 &
munged_pid=$!
credential_round_trip() { munge -n -S "$socket" | unmunge -S "$socket"; }
wait_for 10 credential_round_trip || fail "munged did not come up within 10 s"

# -- Slurm: a minimal one-node cluster -----------------------------------------------------------------
host=$(hostname -s)
mkdir -p "$slurm_dir/state" "$slurm_dir/spool"
ctld_port=$(free_port)
slurmd_port=$(free_port "$ctld_port")
cat >"$SLURM_CONF" <<EOF
# Written by tests/slurm/test_slurm.sh: a private single-node cluster.
ClusterName=normlab-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
StateSaveLocation=$slurm_dir/state
SlurmdSpoolDir=$slurm_dir/spool
SlurmctldPidFile=$slurm_dir/slurmctld.pid
SlurmdPidFile=$slurm_dir/slurmd.pid
SlurmctldLogFile=$slurm_dir/slurmctld.log
SlurmdLogFile=$slurm_dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF

slurmctld -D -f "$SLURM_CONF" >"$slurm_dir/slurmctld.stderr" 2>&1 &
slurmctld_pid=$!
slurmd -D -f "$SLURM_CONF" >"$slurm_dir/slurmd.stderr" 2>&1 &
slurmd_pid=$!

node_idle() { [[ "$(sinfo -h -o %t)" == idle ]]; }
wait_for 60 node_idle || fail "the node is not idle after 60 s (sinfo: $(sinfo -h -o %t 2>&1))"

# -- the sweep: 4 tiny MLP runs as 2 array tasks -------------------------------------------------------
cat >"$tmp/sweep.toml" <<'EOF'
# 4 tiny MLP runs (the default experiment, shortened), one per seed.
[set]
"model.family" = "mlp"
"model.width" = 16
"train.steps" = 20
"train.eval_every" = 10
"data.val_size" = 64

[grid]
seed = [0, 1, 2, 3]
EOF

# In the background so that a signal to this script interrupts `wait` and cleans up at once. 240 s
# plus the waits above and the cleanup stay under CTest's TIMEOUT (400 s).
start=$SECONDS
timeout 240 "$normlab" sweep "$tmp/sweep.toml" --slurm --tasks 2 --cpus 1 --time 00:05:00 \
  --out "$tmp/sweep" --wait >"$tmp/sweep.log" 2>&1 &
sweep_pid=$!
sweep_status=0
wait "$sweep_pid" || sweep_status=$?
sweep_pid=""
seconds=$((SECONDS - start))
((sweep_status != 124)) || fail "normlab sweep --slurm --wait still running after 240 s"
((sweep_status == 0)) || fail "normlab sweep --slurm --wait exited with status $sweep_status"

# Every run of the index has status "completed".
index="$tmp/sweep/index.csv"
[[ -f "$index" ]] || fail "no $index"
rows=$(awk 'NR > 1 && NF' "$index" | wc -l)
((rows == 4)) || fail "index.csv has $rows runs, expected 4:"$'\n'"$(cat "$index")"
completed=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; ++i) if ($i == "status") c = i; next }
                     c && $c == "completed" { ++n } END { print n + 0 }' "$index")
((completed == 4)) || fail "$completed of 4 runs completed:"$'\n'"$(cat "$index")"

# Both array tasks ran and wrote their output (%A_%a.out).
job=$(sed -n 's/^Submitted batch job \([0-9]*\).*/\1/p' "$tmp/sweep.log")
[[ -n "$job" ]] || fail "no job id in the sweep's output:"$'\n'"$(cat "$tmp/sweep.log")"
for task in 0 1; do
  [[ -f "$tmp/sweep/slurm/${job}_$task.out" ]] || fail "no output of array task ${job}_$task"
done

# collect, run afresh, sees all four.
collect=$("$normlab" collect "$tmp/sweep")
grep -q ": 4 runs (4 completed)" <<<"$collect" || fail "collect: $collect"

echo "slurm: 4 runs in 2 array tasks completed in ${seconds} s; collect sees 4"
