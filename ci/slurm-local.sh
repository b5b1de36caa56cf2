#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for the tests of scripts/slurm/ (tests/test_slurm.cpp,
# ctest label slurm). Under ctest, Fixture.slurm-cluster runs `up` once before the first Slurm test
# and Fixture.slurm-cluster.cleanup `down` after the last (tests/CMakeLists.txt); a test binary
# run by hand starts and stops its own.
#   ci/slurm-local.sh up      install (Debian packages) if needed, write the config, start munged,
#                             slurmctld and slurmd, wait until the node is idle
#   ci/slurm-local.sh down    stop every daemon it started and remove its state
#   ci/slurm-local.sh env     print the export line clients need (SLURM_CONF)
#   ci/slurm-local.sh running exit 0 while any of the daemons is alive
# Everything lives in $MIXHIC_SLURM_DIR (default /tmp/mixhic-slurm); /etc/slurm is not touched:
# clients find the config through SLURM_CONF. What works in these containers, each set below:
# munge's socket directory owned by munge, proctrack/linuxproc, task/none, cgroup v1 with
# IgnoreSystemd; and srun --mpi=pmix with Debian's Open MPI (LAUNCH in scripts/slurm/*.sbatch).
set -euo pipefail
DIR=${MIXHIC_SLURM_DIR:-/tmp/mixhic-slurm}
CONF=$DIR/slurm.conf
NODE=$(hostname -s)
CPUS=${MIXHIC_SLURM_CPUS:-4}   # more task slots than cores: the tests run 3 ranks on 2 cores

# A live process of that name (not a zombie: in these containers nothing reaps the daemons'
# exited parents, so a plain pgrep also matches their <defunct> entries).
alive() { ps -C "$1" -o stat= 2>/dev/null | grep -qv '^Z'; }

need_root() { [ "$(id -u)" -eq 0 ] || { echo "ci/slurm-local.sh: run as root (it starts daemons)" >&2; exit 2; }; }

up() {
  need_root
  if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null || ! command -v sbatch >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurmctld slurmd slurm-client munge >/dev/null
  fi
  down quiet
  mkdir -p "$DIR/state" "$DIR/spool"
  cat >"$CONF" <<CONF
ClusterName=mixhic-ci
SlurmctldHost=$NODE
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobRequeue=1
KillWait=30
MinJobAge=600
SlurmdParameters=config_overrides
NodeName=$NODE CPUs=$CPUS State=UNKNOWN
PartitionName=ci Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF
  cat >"$DIR/cgroup.conf" <<CONF
CgroupPlugin=cgroup/v1
IgnoreSystemd=yes
CONF
  # munge: key and socket directory owned by munge
  if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
  fi
  mkdir -p /run/munge
  chown munge:munge /run/munge
  # Daemons get /dev/null for stdio: a caller reading this script's output (popen, $(...))
  # would otherwise wait for them to exit.
  munge -n </dev/null >/dev/null 2>&1 || runuser -u munge -- munged --force </dev/null >/dev/null 2>&1
  export SLURM_CONF=$CONF
  slurmctld </dev/null >/dev/null 2>&1
  slurmd </dev/null >/dev/null 2>&1
  for _ in $(seq 1 60); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qx idle; then
      echo "ci/slurm-local.sh: one-node cluster up ($NODE, $CPUS CPUs); export SLURM_CONF=$CONF"
      return 0
    fi
    sleep 0.5
  done
  echo "ci/slurm-local.sh: the node did not become idle; logs in $DIR" >&2
  tail -n 5 "$DIR/slurmctld.log" "$DIR/slurmd.log" >&2 || true
  exit 1
}

down() {
  export SLURM_CONF=$CONF
  if [ -f "$CONF" ]; then scancel --full -u "$(id -un)" 2>/dev/null || true; fi
  for d in slurmd slurmctld; do
    pkill -x "$d" 2>/dev/null || true
  done
  pkill -x munged 2>/dev/null || true
  for _ in $(seq 1 40); do
    alive slurmd || alive slurmctld || alive munged || break
    sleep 0.25
  done
  pkill -9 -x slurmd 2>/dev/null || true
  pkill -9 -x slurmctld 2>/dev/null || true
  pkill -9 -x slurmstepd 2>/dev/null || true
  pkill -9 -x munged 2>/dev/null || true
  rm -rf "$DIR"
  [ "${1:-}" = quiet ] || echo "ci/slurm-local.sh: down (no slurmctld, slurmd or munged left)"
}

case ${1:-} in
  up) up ;;
  down) down ;;
  env) echo "export SLURM_CONF=$CONF" ;;
  running) alive slurmctld || alive slurmd || alive munged ;;   # exit 0 if any daemon is left
  *) echo "usage: ci/slurm-local.sh up|down|env|running" >&2; exit 2 ;;
esac
