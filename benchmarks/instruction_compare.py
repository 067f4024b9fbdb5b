#!/usr/bin/env python3
"""Counts the instructions two builds of cadre-bench execute, with callgrind.

Timings on a shared machine wander by several per cent from run to run; instruction counts do
not. This runs each mode of each build once under `valgrind --tool=callgrind` (2 ranks) and
prints, per function matching --functions, its calls and its own instructions per call in
each build (B - A is what build B adds to every call), its instructions per call with what it
calls, and each build's instructions in all and per raw-MPI message in the same job. Written to
show what the run timeline's hooks cost when tracing is off:

    benchmarks/instruction_compare.py --a NOTRACE/benchmarks/cadre-bench \\
        --b TRACED/benchmarks/cadre-bench --modes msgrate tasks
"""

import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile

# Each mode's arguments: small enough for callgrind (about 50 times slower than native).
MODE_ARGS = {
    "msgrate": ["-m", "8", "-r", "1", "-x", "10"],
    "tasks": ["-n", "20000", "-r", "1"],
}

# The functions holding a hook that runs per message or per task.
DEFAULT_FUNCTIONS = [
    r"cadre::node::Core::send\(",
    r"cadre::node::Core::on_envelope\(",
    r"TaskService::execute\(.*\)::\{lambda\(\)#1\}::operator\(\)",
]


class Profile:
    """Per function: calls, own instructions, instructions with callees; summed over ranks."""

    def __init__(self):
        self.calls, self.self_ir, self.incl_ir = {}, {}, {}
        self.total = 0

    def add_file(self, path):
        names, fn, pending_call = {}, None, None

        def name_of(spec):
            m = re.match(r"\((\d+)\)(?: (.*))?$", spec)
            if not m:
                return spec
            if m.group(2) is not None:
                names[m.group(1)] = m.group(2)
            return names[m.group(1)]

        with open(path, errors="replace") as f:
            for line in f:
                line = line.rstrip("\n")
                if line.startswith("fn="):
                    fn = name_of(line[3:])
                elif line.startswith("cfn="):
                    callee = name_of(line[4:])
                elif line.startswith("calls="):
                    pending_call = (callee, int(line[6:].split()[0]))
                elif line.startswith("totals:") or line.startswith("summary:"):
                    self.total += int(line.split()[1]) if line.startswith("summary:") else 0
                elif line and (line[0].isdigit() or line[0] in "+-*") and fn is not None:
                    parts = line.split()
                    ir = int(parts[1]) if len(parts) > 1 else 0
                    if pending_call:
                        callee_name, n = pending_call
                        self.calls[callee_name] = self.calls.get(callee_name, 0) + n
                        self.incl_ir[fn] = self.incl_ir.get(fn, 0) + ir
                        pending_call = None
                    else:
                        self.self_ir[fn] = self.self_ir.get(fn, 0) + ir
                        self.incl_ir[fn] = self.incl_ir.get(fn, 0) + ir


def run(binary, mode, workdir, tag):
    out = os.path.join(workdir, f"{tag}.{mode}.%p")
    env = dict(os.environ)
    # Under callgrind a node is far slower: give the liveness checks room.
    env.setdefault("CADRE_HEARTBEAT_TIMEOUT_MS", "60000")
    env.setdefault("CADRE_READY_TIMEOUT_MS", "120000")
    cmd = ["mpirun", "-np", "2", "valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
           binary, mode] + MODE_ARGS[mode]
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"instruction_compare: {' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}")
    profile = Profile()
    files = glob.glob(out.replace("%p", "*"))
    if len(files) != 2:
        sys.exit(f"instruction_compare: expected 2 callgrind files for {tag} {mode}, got {files}")
    for path in files:
        profile.add_file(path)
    return profile


def matching(profile, pattern):
    return [name for name in profile.calls if re.search(pattern, name)]


def per_call(value, calls):
    return value / calls if calls else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", required=True, help="cadre-bench of build A (the baseline)")
    ap.add_argument("--b", required=True, help="cadre-bench of build B")
    ap.add_argument("--modes", nargs="+", default=list(MODE_ARGS), choices=list(MODE_ARGS))
    ap.add_argument("--functions", nargs="+", default=DEFAULT_FUNCTIONS,
                    help="regular expressions naming the functions to compare")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        for mode in args.modes:
            a = run(args.a, mode, workdir, "a")
            b = run(args.b, mode, workdir, "b")
            print(f"# {mode}: instructions, A = {args.a}, B = {args.b}")
            print(f"{'function':60} {'calls A':>9} {'calls B':>9} {'own/call A':>10} "
                  f"{'own/call B':>10} {'B-A':>6} {'all/call A':>10} {'all/call B':>10} {'B/A':>7}")
            for pattern in args.functions:
                for name in sorted(set(matching(a, pattern)) | set(matching(b, pattern))):
                    ca, cb = a.calls.get(name, 0), b.calls.get(name, 0)
                    sa = per_call(a.self_ir.get(name, 0), ca)
                    sb = per_call(b.self_ir.get(name, 0), cb)
                    ia = per_call(a.incl_ir.get(name, 0), ca)
                    ib = per_call(b.incl_ir.get(name, 0), cb)
                    short = re.sub(r"\(.*", "(...)", name) if len(name) > 60 else name
                    print(f"{short[:60]:60} {ca:9d} {cb:9d} {sa:10.1f} {sb:10.1f} {sb - sa:6.1f} "
                          f"{ia:10.1f} {ib:10.1f} {ib / ia if ia else float('nan'):7.4f}")
            print(f"{'the whole job (both ranks, idle polling included)':60} "
                  f"{a.total:>20d} {b.total:>20d}  B/A {b.total / a.total:.4f}")
            print()


if __name__ == "__main__":
    main()
