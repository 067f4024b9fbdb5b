#!/usr/bin/env bash
# Runs a command and checks its exit status and output:
#   expect.sh --status zero|nonzero|N [--grep PATTERN --count N]... [--lines PATTERN MIN MAX]...
#             [--cat FILE] [--ordered] -- COMMAND...
# --count N: PATTERN (a fixed string) must appear on exactly N lines of the combined output.
# --lines PATTERN MIN MAX: on MIN to MAX lines (counts that depend on timing, such as
#            rate-limited reports).
# --cat FILE: FILE (written by the command) is added to the output before the checks.
# --ordered: cadre log lines ("<time> <node> <pid> <level>: seq I ...") must be whole and
#            every sender's I must increase by one from 0.
set -u
status=any
pats=()
cats=()
ordered=0
counts=()
rpats=(); rmins=(); rmaxs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --status) status=$2; shift 2 ;;
    --grep) pats+=("$2"); shift 2 ;;
    --count) counts+=("$2"); shift 2 ;;
    --lines) rpats+=("$2"); rmins+=("$3"); rmaxs+=("$4"); shift 4 ;;
    --cat) cats+=("$2"); shift 2 ;;
    --ordered) ordered=1; shift ;;
    --) shift; break ;;
    *) echo "expect.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$@" >"$out" 2>&1
rc=$?
if [ $rc = 77 ] && grep -q "SKIPPED:" "$out"; then
  cat "$out"
  exit 77  # the command skipped itself and said why (CTest's SKIP_RETURN_CODE)
fi
for f in "${cats[@]}"; do
  echo "--- $f:" >>"$out"
  cat "$f" >>"$out" 2>&1 || echo "(missing)" >>"$out"
done
cat "$out"
fail=0
case "$status" in
  any) ;;
  zero) [ $rc -eq 0 ] || { echo "expect.sh: exit status $rc, expected 0"; fail=1; } ;;
  nonzero) [ $rc -ne 0 ] || { echo "expect.sh: exit status 0, expected non-zero"; fail=1; } ;;
  *) [ $rc -eq "$status" ] || { echo "expect.sh: exit status $rc, expected $status"; fail=1; } ;;
esac
if [ $ordered = 1 ]; then
  if ! awk '
    / (trace|debug|info|warn|error): seq / {
      if ($0 !~ /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]\.[0-9][0-9][0-9]Z [^ ]+ <[0-9]+\.[0-9]+> (trace|debug|info|warn|error): seq [0-9]+ of <[0-9]+\.[0-9]+>$/) {
        print "expect.sh: a malformed or broken log line: " $0; bad = 1; next
      }
      key = $3; i = $6 + 0
      if (!(key in next_i)) next_i[key] = 0
      if (i != next_i[key]) { print "expect.sh: sender " key " line " i " after " next_i[key] - 1; bad = 1 }
      next_i[key] = i + 1; n++
    }
    END { if (n == 0) { print "expect.sh: no log lines"; bad = 1 } exit bad }' "$out"; then
    fail=1
  fi
fi
for i in "${!pats[@]}"; do
  n=$(grep -cF -- "${pats[$i]}" "$out")
  if [ "$n" -ne "${counts[$i]}" ]; then
    echo "expect.sh: '${pats[$i]}' on $n line(s), expected ${counts[$i]}"
    fail=1
  fi
done
for i in "${!rpats[@]}"; do
  n=$(grep -cF -- "${rpats[$i]}" "$out")
  if [ "$n" -lt "${rmins[$i]}" ] || [ "$n" -gt "${rmaxs[$i]}" ]; then
    echo "expect.sh: '${rpats[$i]}' on $n line(s), expected ${rmins[$i]} to ${rmaxs[$i]}"
    fail=1
  fi
done
[ $fail -eq 0 ] && echo "expect.sh: as expected (exit $rc)"
exit $fail
