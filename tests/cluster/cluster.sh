#!/usr/bin/env bash
# A test cluster on one machine: N hosts, each a Linux network namespace with a host name of
# its own, wired by veth pairs to a bridge in a "switch" namespace of their own. Nothing is
# added to the machine's own namespace: the hosts reach one another over the private test
# subnet and nothing else (each has its loopback too).
#
#   cluster.sh up NAME N       build cluster NAME with hosts cn1..cnN (10.231.0.11, .12, ...)
#   cluster.sh down NAME       kill what runs on its hosts, remove it (safe to repeat)
#   cluster.sh exec NAME HOST CMD...   run CMD on HOST (its network and host name)
#   cluster.sh agent [-opts] HOST CMD...   Open MPI's launch agent (plm_rsh_agent): runs the
#                              daemon's command on HOST of cluster $CADRE_CLUSTER
#   cluster.sh pids NAME [HOST]  the processes running on the cluster's hosts
#   cluster.sh cut NAME HOST | uncut NAME HOST   unplug / plug HOST's cable at the switch
#   cluster.sh run N [--outside] [--slurm] -- CMD...
#                              build a fresh cluster of N hosts, run CMD on cn1 with the MPI
#                              settings below, check that no process is left on any host,
#                              tear the cluster down however CMD ends; exit status is CMD's
#                              (or 1 when something was left behind); @HOSTFILE@ in CMD
#                              becomes the cluster's hostfile. --outside: CMD runs on this
#                              machine instead, as a test's controller (it starts the job with
#                              `$CADRE_CLUSTER_SH exec $CADRE_CLUSTER cn1 ...`). --slurm:
#                              Slurm runs on the hosts (tests/cluster/slurm.sh) and CMD gets
#                              SLURM_CONF; it is stopped before the check for leftovers
#
# `run` exports to CMD: CADRE_CLUSTER (its name), CADRE_CLUSTER_SH (this script),
# CADRE_CLUSTER_HOSTFILE (hostfiles/test-cluster cut to N hosts), CADRE_HOSTS, and Open MPI's
# settings for the cluster: the launch agent, TCP only (btl tcp,self), both the daemons'
# (oob) and the ranks' (btl) traffic on the test subnet, yielding when idle, and short TCP
# keepalives for the daemons.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"
SUBNET=10.231.0
NETMASK=24
HOSTFILE_TEMPLATE="$HERE/../../hostfiles/test-cluster"

die() { echo "cluster: $*" >&2; exit 1; }
# A machine that cannot build the cluster skips the test (CTest's SKIP_RETURN_CODE), saying why.
skip() { echo "cluster: SKIPPED: $*" >&2; exit 77; }
ns_of() { echo "cadre-$1-$2"; }        # ns_of CLUSTER HOST
switch_of() { echo "cadre-$1-switch"; }
hosts_of() {  # the hosts of a built cluster, from its namespaces
  ip netns list 2>/dev/null | awk '{print $1}' | sed -n "s/^cadre-$1-\(cn[0-9]*\)\$/\1/p" | sort -V
}

need_privileges() {
  [ "$(id -u)" = 0 ] || skip "needs root (network namespaces need CAP_NET_ADMIN and CAP_SYS_ADMIN); run as root or skip the cluster tests"
  command -v ip >/dev/null || skip "needs 'ip' from iproute2 (apt-get install iproute2)"
  command -v unshare >/dev/null || skip "needs 'unshare' from util-linux"
  if ! unshare --net --uts true 2>/dev/null; then
    skip "cannot create network or UTS namespaces here (unshare --net --uts failed): a container without CAP_SYS_ADMIN, or user namespaces disabled"
  fi
}

up() {  # up NAME N
  local name=$1 n=$2 sw i host ns
  [[ $name =~ ^[a-z0-9]{1,12}$ ]] || die "cluster name '$name': 1-12 lower-case letters or digits"
  [[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 9 ] || die "host count '$n': 1 to 9"
  need_privileges
  sw=$(switch_of "$name")
  ip netns list | grep -q "^$sw\b" && die "cluster $name exists already (cluster.sh down $name)"
  ip netns add "$sw"
  ip -n "$sw" link add br0 type bridge
  ip -n "$sw" link set br0 up
  for i in $(seq 1 "$n"); do
    host=cn$i
    ns=$(ns_of "$name" "$host")
    ip netns add "$ns"
    # The pair is made inside the two namespaces: its names never meet the machine's.
    ip -n "$sw" link add "$host" type veth peer name eth0 netns "$ns"
    ip -n "$sw" link set "$host" master br0 up
    ip -n "$ns" addr add "$SUBNET.$((10 + i))/$NETMASK" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
    # TCP gives up on a silent peer after about 6 s here instead of 15 minutes: a cut link
    # is then a lost daemon within the test's time (see the README's fault model).
    ip netns exec "$ns" sysctl -qw net.ipv4.tcp_retries2="${CADRE_CLUSTER_TCP_RETRIES2:-4}"
    # The hosts' names: on_host puts /etc/netns/NS/hosts in place of /etc/hosts (as `ip netns
    # exec` would).
    mkdir -p "/etc/netns/$ns"
    {
      echo "127.0.0.1 localhost"
      for j in $(seq 1 "$n"); do echo "$SUBNET.$((10 + j)) cn$j"; done
    } >"/etc/netns/$ns/hosts"
  done
}

down() {  # down NAME
  local name=$1 host ns pids
  for host in $(hosts_of "$name"); do
    ns=$(ns_of "$name" "$host")
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [ -n "$pids" ] && kill -9 $pids 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "/etc/netns/$ns"
  done
  ip netns del "$(switch_of "$name")" 2>/dev/null || true
}

on_host() {  # on_host NAME HOST CMD...: CMD in HOST's network namespace and host name
  local name=$1 host=$2
  shift 2
  local ns
  ns=$(ns_of "$name" "$host")
  ip netns list | awk '{print $1}' | grep -qx "$ns" || die "no host '$host' in cluster '$name' (hosts: $(hosts_of "$name" | paste -sd' ' -))"
  # The host's network; its own host name and mount namespace, where its hosts file stands in
  # for /etc/hosts. (`ip netns exec` would also remount /sys, hiding the cgroups that slurmd
  # needs.)
  exec nsenter --net="/run/netns/$ns" unshare --uts --mount --propagation private \
    sh -c 'hostname "$0" && mount --bind "$1" /etc/hosts && shift && exec "$@"' \
    "$host" "/etc/netns/$ns/hosts" "$@"
}

agent() {  # agent [-x ...] HOST CMD...: what Open MPI's rsh launcher calls
  while [ $# -gt 0 ] && [ "${1#-}" != "$1" ]; do shift; done
  [ $# -ge 2 ] || die "agent: expected HOST COMMAND..."
  [ -n "${CADRE_CLUSTER:-}" ] || die "agent: CADRE_CLUSTER is not set (start mpirun through 'cluster.sh run' or 'cluster.sh exec')"
  local host=$1
  shift
  on_host "$CADRE_CLUSTER" "$host" sh -c "$*"
}

pids() {  # pids NAME [HOST]: "host pid command" of every process on the hosts
  local name=$1 host p cmd
  for host in ${2:-$(hosts_of "$name")}; do
    for p in $(ip netns pids "$(ns_of "$name" "$host")" 2>/dev/null); do
      # A process may end between the listing and the read: it is then skipped.
      cmd=$({ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null) || continue
      echo "$host $p ${cmd:0:120}"
    done
  done
}

cut_link() {  # cut_link NAME HOST up|down
  ip -n "$(switch_of "$1")" link set "$2" "$3" || die "no host '$2' in cluster '$1'"
}

run() {  # run N [--outside] [--slurm] -- CMD...
  local n=$1 outside=0 slurm=0
  shift
  while [ "${1:-}" = --outside ] || [ "${1:-}" = --slurm ]; do
    [ "$1" = --outside ] && outside=1
    [ "$1" = --slurm ] && slurm=1
    shift
  done
  [ "${1:-}" = -- ] && shift
  [ $# -gt 0 ] || die "run: no command"
  local name="t$$" rc=0 left hostfile stale
  need_privileges
  # A run killed outright (SIGKILL at a test's timeout) could not tear its cluster down: the
  # next run removes every cluster whose run has ended.
  for stale in $(ip netns list | sed -n 's/^cadre-t\([0-9]*\)-switch.*/\1/p'); do
    kill -0 "$stale" 2>/dev/null || down "t$stale"
  done
  RUN_NAME=$name RUN_HOSTFILE="" RUN_SLURM=""
  # Globals: the trap runs after this function has returned.
  trap 'down "$RUN_NAME"; [ -z "$RUN_HOSTFILE" ] || rm -f "$RUN_HOSTFILE";
        [ -z "$RUN_SLURM" ] || rm -rf "$RUN_SLURM"' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  up "$name" "$n"
  hostfile=$(mktemp "${TMPDIR:-/tmp}/cadre-cluster-hosts.XXXXXX")
  RUN_HOSTFILE=$hostfile
  grep -E '^cn[0-9]' "$HOSTFILE_TEMPLATE" | head -n "$n" >"$hostfile"
  export CADRE_CLUSTER=$name CADRE_CLUSTER_SH=$SELF CADRE_CLUSTER_HOSTFILE=$hostfile
  CADRE_HOSTS=$(awk '{print $1}' "$hostfile" | paste -sd, -)
  export CADRE_HOSTS
  export OMPI_MCA_plm_rsh_agent="$SELF agent" OMPI_MCA_plm_rsh_no_tree_spawn=1
  export OMPI_MCA_btl=tcp,self OMPI_MCA_pml=ob1
  export OMPI_MCA_btl_tcp_if_include=$SUBNET.0/$NETMASK OMPI_MCA_oob_tcp_if_include=$SUBNET.0/$NETMASK
  # Ranks that poll for messages yield the core when idle: on a machine with few cores, a
  # rank spinning in MPI starves the kernel's handling of the hosts' virtual network (a raw
  # MPI ping-pong took 4 ms a way instead of 20 us).
  export OMPI_MCA_mpi_yield_when_idle=${OMPI_MCA_mpi_yield_when_idle:-1}
  # The daemons probe an idle connection after 2 s of silence, every second, twice.
  export OMPI_MCA_oob_tcp_keepalive_time=2 OMPI_MCA_oob_tcp_keepalive_intvl=1 \
    OMPI_MCA_oob_tcp_keepalive_probes=2
  echo "cluster: $n host(s) up (cluster $name: $CADRE_HOSTS on $SUBNET.0/$NETMASK)" >&2
  if [ $slurm = 1 ]; then
    RUN_SLURM=$(mktemp -d "${TMPDIR:-/tmp}/cadre-slurm.XXXXXX")
    "$HERE/slurm.sh" start "$name" "$RUN_SLURM" >/dev/null
    export SLURM_CONF=$RUN_SLURM/slurm.conf
    echo "cluster: Slurm up (slurmctld on cn1, slurmd on every host; SLURM_CONF=$SLURM_CONF)" >&2
  fi
  local args=() a
  for a in "$@"; do args+=("${a//@HOSTFILE@/$hostfile}"); done
  if [ $outside = 1 ]; then
    ("${args[@]}") || rc=$?
  else
    (on_host "$name" cn1 "${args[@]}") || rc=$?
  fi
  # Whatever the command did, nothing of its job may outlive it on any host.
  [ $slurm = 1 ] && "$HERE/slurm.sh" stop "$name" "$RUN_SLURM"
  sleep 0.5
  left=$(pids "$name")
  if [ -n "$left" ]; then
    echo "cluster: LEFT BEHIND after the command ended (killed now):" >&2
    echo "$left" | sed 's/^/cluster:   /' >&2
    [ $rc = 0 ] && rc=1
  else
    echo "cluster: no process left on any host" >&2
  fi
  return $rc
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  up) [ $# = 2 ] || die "usage: up NAME N"; up "$@" ;;
  down) [ $# = 1 ] || die "usage: down NAME"; down "$1" ;;
  exec) [ $# -ge 3 ] || die "usage: exec NAME HOST CMD..."; on_host "$@" ;;
  agent) agent "$@" ;;
  pids) [ $# -ge 1 ] || die "usage: pids NAME [HOST]"; pids "$@" ;;
  cut) [ $# = 2 ] || die "usage: cut NAME HOST"; cut_link "$1" "$2" down ;;
  uncut) [ $# = 2 ] || die "usage: uncut NAME HOST"; cut_link "$1" "$2" up ;;
  run) [ $# -ge 2 ] || die "usage: run N -- CMD..."; run "$@" ;;
  *) sed -n '2,21p' "$SELF" | sed 's/^# \{0,1\}//'; [ -z "$cmd" ] || exit 2 ;;
esac
