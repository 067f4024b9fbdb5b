#!/usr/bin/env bash
# A fault that Open MPI does not survive, done to a running job from outside the cluster
# (run as `cluster.sh run 3 --outside -- fault_test.sh FAULT HOST CADRE_RUN PROGRAM ARGS...`):
#   daemon  kill -9 the Open MPI daemon (orted) of HOST
#   cut     unplug HOST's cable at the switch (plugged back at the end of the test)
# The job (cadre-run -n 6 over the cluster's hostfile, two ranks a host) must print "ready:"
# first. Prints how long the job took to end after the fault and its status file, then waits
# until nothing of the job runs on any host, a cut host still cut off (printing how long that
# took, at most 120 s).
set -u
fault=$1 host=$2 run=$3
shift 3
: "${CADRE_CLUSTER:?run me through cluster.sh run --outside}"
C=$CADRE_CLUSTER
SH=$CADRE_CLUSTER_SH
mode_args=()
[ -n "${FAULT_RECOVERY:-}" ] && mode_args+=(--recovery)
work=$(mktemp -d "${TMPDIR:-/tmp}/cadre-fault.XXXXXX")
trap 'rm -rf "$work"' EXIT
log=$work/job.log
status_file=$work/status.json
now_ms() { echo $(($(date +%s%N) / 1000000)); }

"$SH" exec "$C" cn1 "$run" -n 6 "${mode_args[@]}" --hostfile "$CADRE_CLUSTER_HOSTFILE" \
  --status-file "$status_file" -- "$@" >"$log" 2>&1 &
job=$!
for _ in $(seq 300); do
  grep -q '^ready:' "$log" && break
  kill -0 $job 2>/dev/null || break
  sleep 0.1
done
if ! grep -q '^ready:' "$log"; then
  cat "$log"
  echo "fault_test: FAIL: the job never became ready"
  exit 1
fi
t0=$(now_ms)
case "$fault" in
  daemon)
    pid=$("$SH" pids "$C" "$host" | awk '$3 == "orted" {print $2; exit}')
    if [ -z "$pid" ]; then
      echo "fault_test: FAIL: no orted on $host"
      exit 1
    fi
    kill -9 "$pid"
    echo "fault_test: killed the daemon of $host (pid $pid)" ;;
  cut)
    "$SH" cut "$C" "$host"
    echo "fault_test: cut the link of $host" ;;
  *) echo "fault_test: unknown fault $fault"; exit 2 ;;
esac
ended=""
for _ in $(seq 1800); do
  kill -0 $job 2>/dev/null || { ended=$(now_ms); break; }
  sleep 0.1
done
wait $job
rc=$?
cat "$log"
echo "--- status file:"
cat "$status_file" 2>/dev/null || echo "(none)"
if [ -z "$ended" ]; then
  echo "fault_test: FAIL: the job had not ended 180 s after the fault"
  exit 1
fi
echo "fault_test: the job ended $((ended - t0)) ms after the fault, exit status $rc"
# Nothing of the job may be left on any host (a cut host still cut off): the cluster's hosts
# run only what the job started.
for i in $(seq 1200); do
  left=$("$SH" pids "$C")
  [ -z "$left" ] && break
  sleep 0.1
done
[ "$fault" = cut ] && "$SH" uncut "$C" "$host" && echo "fault_test: plugged $host back in"
if [ -n "$left" ]; then
  echo "fault_test: FAIL: still running 120 s after the job ended:"
  echo "$left"
  exit 1
fi
echo "fault_test: no process of the job on any host $(($(now_ms) - t0)) ms after the fault"
exit $rc
