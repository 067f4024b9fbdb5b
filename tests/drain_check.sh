#!/usr/bin/env bash
# Runs a job RUNS times and checks, each time, that every message a send accepted was
# handled or counted as dropped: the job prints "sent N" and "handled N" lines (one per
# process, when it ends) and the master "shutdown: D message(s) were dropped (...)";
# sum(sent) must equal sum(handled) + D exactly, and the job must exit 0.
#   drain_check.sh RUNS PROCESSES -- COMMAND...
set -u
runs=$1 procs=$2
shift 3
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for ((i = 1; i <= runs; i++)); do
  "$@" >"$out" 2>&1
  rc=$?
  read -r sent handled dropped lines < <(awk '
    /^sent [0-9]+$/ { s += $2; n++ }
    /^handled [0-9]+$/ { h += $2; n++ }
    /shutdown: [0-9]+ message\(s\) were dropped/ {
      for (k = 1; k <= NF; k++) if ($k == "message(s)") d = $(k - 1)
    }
    END { printf "%d %d %d %d\n", s, h, d, n }' "$out")
  echo "run $i: exit $rc, sent $sent, handled $handled, dropped $dropped ($lines counts)"
  if [ "$rc" -ne 0 ] || [ "$lines" -ne "$procs" ] || [ "$sent" -ne $((handled + dropped)) ] ||
     [ "$sent" -eq 0 ]; then
    cat "$out"
    echo "drain_check.sh: run $i: sent $sent != handled $handled + dropped $dropped, or a" \
         "process did not report (expected $procs counts), or exit $rc"
    exit 1
  fi
done
echo "drain_check.sh: every message accounted for in $runs runs"
