#!/usr/bin/env bash
# Runs a command and checks its exit status and output:
#   expect.sh --status zero|nonzero [--grep PATTERN --count N]... -- COMMAND...
# --count N: PATTERN (a fixed string) must appear on exactly N lines of the combined output.
set -u
status=any
pats=()
counts=()
while [ $# -gt 0 ]; do
  case "$1" in
    --status) status=$2; shift 2 ;;
    --grep) pats+=("$2"); shift 2 ;;
    --count) counts+=("$2"); shift 2 ;;
    --) shift; break ;;
    *) echo "expect.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$@" >"$out" 2>&1
rc=$?
cat "$out"
fail=0
case "$status" in
  zero) [ $rc -eq 0 ] || { echo "expect.sh: exit status $rc, expected 0"; fail=1; } ;;
  nonzero) [ $rc -ne 0 ] || { echo "expect.sh: exit status 0, expected non-zero"; fail=1; } ;;
esac
for i in "${!pats[@]}"; do
  n=$(grep -cF -- "${pats[$i]}" "$out")
  if [ "$n" -ne "${counts[$i]}" ]; then
    echo "expect.sh: '${pats[$i]}' on $n line(s), expected ${counts[$i]}"
    fail=1
  fi
done
[ $fail -eq 0 ] && echo "expect.sh: as expected (exit $rc)"
exit $fail
