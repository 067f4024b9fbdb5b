#!/usr/bin/env bash
# Runs a command under a real pseudo-terminal (script) and checks the bytes the terminal got:
# no line of the program's output may share a terminal line with the live progress line.
#   terminal_check.sh PROGRAM_LINES -- COMMAND...
# The live line ("[###---] ...") is drawn after "\r\033[K"; split at those sequences and at
# newlines, every piece must be either a whole live line or text without one. PROGRAM_LINES
# lines starting "program line " must each stand whole at the start of a piece, the live
# line must have been drawn, with "(2 senders)", and its done count must never go back.
set -u
want=$1
shift 2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
script -qfec "$(printf '%q ' "$@")" /dev/null >"$out" 2>&1 </dev/null
rc=$?
# What the terminal showed, with the control bytes made visible.
sed -e 's/\x1b/<ESC>/g' -e 's/\r/<CR>/g' "$out"
echo "terminal_check: the command exited with $rc"
LC_ALL=C awk -v want="$want" -v rc="$rc" '
  BEGIN { bars = 0; last = -1; prog = 0; senders = 0; bad = 0 }
  {
    sub(/\r$/, "")
    gsub(/\r\033\[K/, "\001")
    n = split($0, piece, "\001")
    for (i = 1; i <= n; ++i) {
      p = piece[i]
      if (p ~ /\[[#-]+\]/) {
        if (p !~ /^\[[#-]+\] +[0-9.]+% [0-9]+\/[0-9]+ [^ ]+\/s ETA [0-9:?]+( \([0-9]+ senders[^)]*\))?$/) {
          print "terminal_check: the live line shares a line with other text: " p; bad = 1
        }
        split(p, f, " "); for (k in f) if (f[k] ~ /^[0-9]+\/[0-9]+$/) { split(f[k], dt, "/"); d = dt[1] + 0 }
        if (d < last) { print "terminal_check: the done count went back from " last " to " d; bad = 1 }
        last = d; ++bars
        if (p ~ /\(2 senders/) senders = 1
      } else if (p ~ /program line /) {
        if (p !~ /^program line [0-9]+ of [0-9]+$/) { print "terminal_check: a broken program line: " p; bad = 1 }
        else ++prog
      }
    }
  }
  END {
    if (rc != 0) { print "terminal_check: exit status " rc ", expected 0"; bad = 1 }
    if (bars == 0) { print "terminal_check: no live progress line was drawn"; bad = 1 }
    if (!senders) { print "terminal_check: no live line showed (2 senders)"; bad = 1 }
    if (prog != want) { print "terminal_check: " prog " whole program lines, expected " want; bad = 1 }
    if (!bad) print "terminal_check: as expected"
    exit bad
  }' "$out"
