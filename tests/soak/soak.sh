#!/usr/bin/env bash
# The soak: cadre-soak (tests/soak/soak.cpp) for SECONDS (600) on a fresh 3-host test cluster
# (tests/cluster/cluster.sh), under `cadre-run --recovery`, then the ledger against the job's
# drop counts from the status file. From the repository's root, after ./cadre-dev build:
#   tests/soak/soak.sh [SECONDS]          (CADRE_BUILD_DIR: another build; needs root)
# Passes when the program's own checks pass (every map input answered once, no process left
# behind, the master's memory flat after the warm-up) and
#   messages sent = messages received + the drops (to ended processes, unread, past the
#   mailbox bound, late replies, malformed, after the link closed),
# the job's status names exactly the nodes it killed, every link drained, and nothing is left
# on any host.
set -u
secs=${1:-600}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${CADRE_BUILD_DIR:-$ROOT/build}
bin=$build/tests/cadre-soak
[ -x "$bin" ] || { echo "soak: no $bin (build first: ./cadre-dev build)"; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/cadre-soak.XXXXXX")
trap 'rm -rf "$work"' EXIT
status=$work/status.json
"$ROOT/tests/cluster/cluster.sh" run 3 -- "$ROOT/tools/cadre-run" --recovery \
  --status-file "$status" -n 3 --hostfile @HOSTFILE@ --mpirun-arg --map-by --mpirun-arg node \
  -- "$bin" "$secs" 2>&1 | tee "$work/out"
rc=${PIPESTATUS[0]}
[ $rc = 77 ] && exit 77
fail() { echo "soak: FAIL: $*"; exit 1; }
grep -q '^soak: ok$' "$work/out" || fail "the soak program's checks did not pass"
grep -q 'cluster: no process left on any host' "$work/out" || fail "processes were left behind"
[ -s "$status" ] || fail "no status file"
echo "soak: status file: $(cat "$status")"
field() { sed -n "s/.*\"$1\": *\([0-9]*\).*/\1/p" "$status" | head -n 1; }
kills=$(sed -n 's/^soak: nodes: .*, \([0-9]*\) killed and replaced$/\1/p' "$work/out")
lost=$(sed -n 's/.*"lost_nodes": \[\([^]]*\)\].*/\1/p' "$status" | tr ',' '\n' | grep -c '[0-9]')
want_status=$([ "${kills:-0}" -gt 0 ] && echo 1 || echo 0)
[ "$(field status)" = "$want_status" ] ||
  fail "status $(field status), expected $want_status (${kills:-0} node(s) killed)"
[ "$lost" = "${kills:-0}" ] || fail "$lost node(s) lost, ${kills:-0} killed"
[ "$(field undrained_links)" = 0 ] || fail "$(field undrained_links) link(s) did not drain"
read -r sent received < <(sed -n 's/^soak: ledger: sent \([0-9]*\), received \([0-9]*\)$/\1 \2/p' "$work/out")
[ -n "${sent:-}" ] || fail "no ledger line"
drops=0
for k in ended unread overflow late_reply malformed after_close; do
  drops=$((drops + $(field $k)))
done
echo "soak: ledger: sent $sent = received $received + dropped $drops (ended $(field ended)," \
  "unread $(field unread), overflow $(field overflow), late replies $(field late_reply)," \
  "malformed $(field malformed), after close $(field after_close)); to lost nodes" \
  "$(field node_down) (task chunks in flight to the killed nodes)"
[ "$sent" = $((received + drops)) ] ||
  fail "the ledger does not balance: $sent sent, $((received + drops)) received or dropped"
echo "soak: passed (mpirun's status $rc)"
