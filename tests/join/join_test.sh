#!/usr/bin/env bash
# Runs a joinable job and, beside it, separately launched joiners (real mpiruns under one
# ompi-server), and prints everything they print:
#   join_test.sh CADRE_RUN SCENARIO_PROGRAM leave|remove|refuse|killed
# refuse: before the good joiner, a joiner with a wrong cookie, one with none, a joiner that
# dies after presenting the cookie, and one that dies after announcing it is connecting.
# killed: the joined node is SIGKILLed once it has joined.
set -u
run=$1 prog=$2 mode=$3
work=$(mktemp -d "${TMPDIR:-/tmp}/cadre-join.XXXXXX")
trap 'rm -rf "$work"' EXIT
export CADRE_COOKIE=${CADRE_COOKIE:-join-test-$$-$RANDOM}
"$run" -n 2 --joinable --ompi-server "$work/uri" -- "$prog" master "$work/port" "$mode" >"$work/master.out" 2>&1 &
master=$!
for _ in $(seq 300); do [ -s "$work/port" ] && break; sleep 0.1; done
if [ ! -s "$work/port" ]; then
  echo "join_test: the master did not listen"
  kill "$master" 2>/dev/null
  cat "$work/master.out"
  exit 1
fi
port=$(cat "$work/port")
joiner() {  # joiner LABEL [env...]
  local label=$1
  shift
  env "$@" "$run" -n 1 --ompi-server "$work/uri" -- "$prog" joiner "$work/port" \
    >"$work/$label.out" 2>&1
  echo "join_test: $label exited with $?"
  sed "s/^/[$label] /" "$work/$label.out"
}
# Speaks the gate's exchange by hand: presents `cookie`, then, when `connect` is set, says
# it is connecting and dies without calling MPI (a joiner killed in the middle).
fake() {  # fake LABEL COOKIE STOP_AFTER(cookie|connecting)
  local host=${port%:*} p=${port##*:}
  exec 3<>"/dev/tcp/$host/$p" || { echo "join_test: $1 could not connect"; return; }
  printf 'cadre-join 1\n%d fake\n%s\n' $$ "$2" >&3
  local reply
  read -r -t 10 reply <&3
  echo "join_test: $1 got: ${reply%% *}"
  [ "$3" = connecting ] && printf 'connecting\n' >&3
  exec 3>&-
}
if [ "$mode" = refuse ]; then
  joiner wrong_cookie CADRE_COOKIE=not-the-cookie
  joiner no_cookie -u CADRE_COOKIE
  fake dies_after_cookie "$CADRE_COOKIE" cookie
  fake dies_connecting "$CADRE_COOKIE" connecting
fi
if [ "$mode" = killed ]; then
  # A joined node killed: the job loses it as it loses any node, and goes on.
  "$run" -n 1 --ompi-server "$work/uri" -- "$prog" joiner "$work/port" >"$work/victim.out" 2>&1 &
  for _ in $(seq 300); do grep -q "joined: node" "$work/master.out" && break; sleep 0.1; done
  pkill -9 -f "$prog joiner" && echo "join_test: killed the joined node"
  wait $! 2>/dev/null
else
  joiner good
fi
wait "$master"
echo "join_test: master exited with $?"
sed 's/^/[master] /' "$work/master.out"
