#!/usr/bin/env bash
# Runs a command, prints its output and checks line counts that depend on timing (rate-limited
# reports) as ranges:
#   rogue_lines.sh [--lines PATTERN MIN MAX]... -- COMMAND...
# Exits with the command's status, or with 97 if that is 0 and a fixed-string PATTERN is on
# fewer than MIN or more than MAX lines.
set -u
pats=(); mins=(); maxs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --lines) pats+=("$2"); mins+=("$3"); maxs+=("$4"); shift 4 ;;
    --) shift; break ;;
    *) echo "rogue_lines.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$@" >"$out" 2>&1
rc=$?
cat "$out"
for i in "${!pats[@]}"; do
  n=$(grep -cF -- "${pats[$i]}" "$out")
  if [ "$n" -lt "${mins[$i]}" ] || [ "$n" -gt "${maxs[$i]}" ]; then
    echo "rogue_lines.sh: '${pats[$i]}' on $n line(s), expected ${mins[$i]} to ${maxs[$i]}"
    [ $rc -eq 0 ] && rc=97
  fi
done
exit $rc
