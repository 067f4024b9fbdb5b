#!/usr/bin/env bash
# Runs a command, then checks that every process id it printed on "pids:" lines has ended
# within 10 s of the command's end (no orphaned node outlives its job).
#   no_orphans.sh -- COMMAND...
set -u
[ "${1:-}" = "--" ] && shift
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$@" >"$out" 2>&1
rc=$?
cat "$out"
pids=$(grep -h '^pids:' "$out" | sed 's/^pids://' | tr ' ' '\n' | sort -u | grep -v '^$')
if [ -z "$pids" ]; then
  echo "no_orphans: the command printed no pids"
  exit 1
fi
for i in $(seq 100); do
  alive=""
  for p in $pids; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
  [ -z "$alive" ] && break
  sleep 0.1
done
if [ -n "$alive" ]; then
  echo "no_orphans: still running 10 s after the job ended:$alive"
  for p in $alive; do kill -9 "$p" 2>/dev/null; done
  exit 1
fi
echo "no_orphans: all $(echo "$pids" | wc -l) node processes ended"
exit $rc
