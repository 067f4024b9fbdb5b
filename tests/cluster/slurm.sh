#!/usr/bin/env bash
# Slurm on the hosts of a test cluster (tests/cluster/cluster.sh): one munged and slurmctld on
# cn1, one `slurmd -N cnX` on every host, all inside the hosts' namespaces, with a
# configuration of its own in STATE (nothing under /etc is touched). For a machine without
# systemd: proctrack/linuxproc, task/none, jobacct_gather/none.
#
#   slurm.sh start CLUSTER STATE   write STATE/slurm.conf, start the daemons, wait until every
#                                  node is idle (prints `export SLURM_CONF=...`)
#   slurm.sh stop CLUSTER STATE    cancel every job, stop the daemons
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SH="$HERE/cluster.sh"
die() { echo "slurm: $*" >&2; exit 1; }
skip() { echo "slurm: SKIPPED: $*" >&2; exit 77; }

hosts_of() { "$SH" pids "$1" >/dev/null; ip netns list | awk '{print $1}' |
  sed -n "s/^cadre-$1-\(cn[0-9]*\)\$/\1/p" | sort -V; }

write_conf() {  # write_conf STATE HOSTS...
  local state=$1 h i
  shift
  local nodes
  nodes=$(echo "$@" | tr ' ' ',')
  mkdir -p "$state/ctld" "$state/log"
  {
    echo "ClusterName=cadretest"
    echo "SlurmctldHost=cn1(10.231.0.11)"
    echo "AuthType=auth/munge"
    echo "AuthInfo=socket=$state/munge.socket"
    echo "CredType=cred/munge"
    echo "MpiDefault=none"
    echo "ProctrackType=proctrack/linuxproc"
    echo "TaskPlugin=task/none"
    echo "JobAcctGatherType=jobacct_gather/none"
    echo "SwitchType=switch/none"
    echo "SchedulerType=sched/backfill"
    echo "SelectType=select/cons_tres"
    echo "SelectTypeParameters=CR_Core"
    echo "ReturnToService=2"
    echo "SlurmUser=root"
    echo "SlurmdUser=root"
    echo "StateSaveLocation=$state/ctld"
    echo "SlurmdSpoolDir=$state/spool-%n"
    echo "SlurmctldPidFile=$state/slurmctld.pid"
    echo "SlurmdPidFile=$state/slurmd-%n.pid"
    echo "SlurmctldLogFile=$state/log/slurmctld.log"
    echo "SlurmdLogFile=$state/log/slurmd-%n.log"
    echo "SlurmctldPort=6817"
    echo "SlurmdPort=6818"
    echo "KillWait=5"
    echo "MinJobAge=30"
    i=11
    for h in "$@"; do
      echo "NodeName=$h NodeAddr=10.231.0.$i CPUs=2 State=UNKNOWN"
      i=$((i + 1))
    done
    echo "PartitionName=batch Nodes=$nodes Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES"
  } >"$state/slurm.conf"
}

start() {  # start CLUSTER STATE
  local c=$1 state=$2 h hosts
  command -v slurmctld >/dev/null && command -v munged >/dev/null ||
    skip "needs slurm-wlm and munge (apt-get install slurm-wlm munge)"
  [ -r /etc/munge/munge.key ] || skip "no /etc/munge/munge.key (the munge package makes one)"
  hosts=$(hosts_of "$c")
  [ -n "$hosts" ] || die "no cluster '$c'"
  mkdir -p "$state"
  write_conf "$state" $hosts
  export SLURM_CONF=$state/slurm.conf
  "$SH" exec "$c" cn1 munged --force --socket="$state/munge.socket" \
    --pid-file="$state/munged.pid" --log-file="$state/log/munged.log" \
    --seed-file="$state/munged.seed"
  "$SH" exec "$c" cn1 env SLURM_CONF="$SLURM_CONF" slurmctld -i -f "$SLURM_CONF"
  for h in $hosts; do
    mkdir -p "$state/spool-$h"
    "$SH" exec "$c" "$h" env SLURM_CONF="$SLURM_CONF" slurmd -N "$h" -f "$SLURM_CONF" ||
      die "slurmd on $h did not start: $(tail -n 5 "$state/log/slurmd-$h.log" 2>/dev/null)"
  done
  for _ in $(seq 300); do
    if [ "$("$SH" exec "$c" cn1 env SLURM_CONF="$SLURM_CONF" sinfo -h -o '%T' -t idle -N 2>/dev/null |
          grep -c idle)" = "$(echo "$hosts" | wc -w)" ]; then
      echo "export SLURM_CONF=$SLURM_CONF"
      return 0
    fi
    sleep 0.1
  done
  "$SH" exec "$c" cn1 env SLURM_CONF="$SLURM_CONF" sinfo -N >&2 || true
  tail -n 20 "$state"/log/*.log >&2 || true
  die "the Slurm nodes did not come up within 30 s (logs above)"
}

stop() {  # stop CLUSTER STATE
  local c=$1 state=$2 f
  export SLURM_CONF=$state/slurm.conf
  "$SH" exec "$c" cn1 scancel --full --user=root 2>/dev/null || true
  for f in "$state"/slurmd-*.pid "$state"/slurmctld.pid "$state"/munged.pid; do
    [ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
  done
  sleep 0.5
  for f in "$state"/slurmd-*.pid "$state"/slurmctld.pid "$state"/munged.pid; do
    [ -s "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null || true
  done
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  start) [ $# = 2 ] || die "usage: start CLUSTER STATE"; start "$@" ;;
  stop) [ $# = 2 ] || die "usage: stop CLUSTER STATE"; stop "$@" ;;
  *) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; [ -z "$cmd" ] || exit 2 ;;
esac
