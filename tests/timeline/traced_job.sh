#!/usr/bin/env bash
# Runs a job with CADRE_TRACE naming FILE, then checks the file with check_trace.py:
#   traced_job.sh FILE [CHECK_TRACE_ARGS...] -- COMMAND...
# Prints the job's output and then the checker's; exits with the job's status (callers grep
# "check_trace: ok" for the file's verdict).
set -u
here=$(cd "$(dirname "$0")" && pwd)
trace=$1
shift
args=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  args+=("$1")
  shift
done
[ $# -gt 0 ] || { echo "traced_job.sh: no -- COMMAND" >&2; exit 2; }
shift
rm -f "$trace"
CADRE_TRACE=$trace "$@"
rc=$?
if [ -f "$trace" ]; then
  /usr/bin/python3 "$here/check_trace.py" "$trace" "${args[@]}"
else
  echo "traced_job.sh: the job wrote no trace file $trace"
fi
exit $rc
