#!/usr/bin/env bash
# The run timeline end to end, under real mpirun: traced jobs write a Chrome trace whose
# structure check_trace.py checks against what each job did, and cadre-timeline draws it.
#   timeline_test.sh CASE OUT_DIR DEMO SCENARIO TRACE_SCENARIO
# CASE: demo     the demo job (3 nodes): tasks on every node, a PNG and an SVG
#       lost     a worker killed mid-map under --recovery: marked lost, the file still written
#       flood    30 000 messages between two processes: sampled, all counted
#       spawn    a node spawned, used and stopped: its spawn, arrival and events
#       refused  a trace file that cannot be written: the job refuses to start, naming it
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
case_=$1 out=$2 demo=$3 scenario=$4 trace_scenario=$5
run="$root/tools/cadre-run"
check=(/usr/bin/python3 "$here/check_trace.py")
mkdir -p "$out"
trace="$out/$case_.json"
rm -f "$trace" "$out/$case_.png" "$out/$case_.svg"
fail() { echo "timeline_test $case_: FAIL: $*"; exit 1; }

expect_status() {  # expect_status WANT CMD...
  local want=$1 rc
  shift
  "$@"
  rc=$?
  [ "$rc" = "$want" ] || fail "'$*' ended with status $rc, not $want"
}

case "$case_" in
  demo)
    CADRE_TRACE=$trace expect_status 0 "$run" -n 3 -- "$demo"
    "${check[@]}" "$trace" --nodes 3 --task square --task count_primes --task where_am_i ||
      fail "the trace does not show the demo job"
    for fmt in png svg; do
      "$root/tools/cadre-timeline" "$trace" -o "$out/demo.$fmt" || fail "cadre-timeline -o $fmt"
    done
    [ "$(head -c 4 "$out/demo.png" | tail -c 3)" = "PNG" ] || fail "demo.png is not a PNG"
    [ "$(stat -c %s "$out/demo.png")" -gt 10000 ] || fail "demo.png is nearly empty"
    grep -q "<svg" "$out/demo.svg" || fail "demo.svg is not an SVG"
    grep -q "count_primes" "$out/demo.svg" || fail "demo.svg does not name the tasks"
    # A file that is not a trace gets an error naming it, not a traceback.
    echo "not json" >"$out/bad.json"
    msg=$("$root/tools/cadre-timeline" "$out/bad.json" -o "$out/bad.png" 2>&1) &&
      fail "cadre-timeline drew a file that is not a trace"
    grep -q "bad.json is not a trace file" <<<"$msg" || fail "unclear error: $msg"
    ;;
  lost)
    CADRE_TRACE=$trace expect_status 1 "$run" -n 3 --recovery -- "$scenario" lost kill
    "${check[@]}" "$trace" --nodes 3 --lost 2 --task maybe_die || fail "the loss is not traced"
    "$root/tools/cadre-timeline" "$trace" -o "$out/lost.png" || fail "cadre-timeline"
    ;;
  flood)
    CADRE_TRACE=$trace expect_status 0 "$run" -n 3 -- "$trace_scenario" flood
    "${check[@]}" "$trace" --nodes 3 --sampled --task twice --process sink --process source ||
      fail "the flood is not sampled and counted"
    ;;
  spawn)
    CADRE_TRACE=$trace expect_status 0 "$run" -n 1 -- "$trace_scenario" spawn
    "${check[@]}" "$trace" --nodes 2 --spawned 1 --task twice || fail "the spawn is not traced"
    ;;
  refused)
    log="$out/refused.log"
    CADRE_TRACE=/nonexistent-dir/trace.json "$run" -n 2 -- "$scenario" single >"$log" 2>&1 &&
      fail "a job whose trace file cannot be written started"
    grep -q "the trace file '/nonexistent-dir/trace.json' (Options::trace_file, CADRE_TRACE) cannot be written: No such file or directory" "$log" ||
      { cat "$log"; fail "the error does not name the trace file"; }
    ;;
  *)
    fail "unknown case"
    ;;
esac
echo "timeline_test $case_: ok"
