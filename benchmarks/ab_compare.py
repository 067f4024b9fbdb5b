#!/usr/bin/env python3
"""Compares two builds of cadre-bench on one machine at one time.

Runs each mode of each build in turn, A B A B ..., so that both see the same noise, and
prints per result the median of each build, B's median over A's, and each build's median
ratio to raw MPI (measured in the same job as the result). Exits non-zero when a run fails.

    benchmarks/ab_compare.py --a OLD/cadre-bench --b NEW/cadre-bench --runs 5 \\
        --modes latency msgrate tasks [--np 2] [--json out.json]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile


def run_once(binary, mode, np, extra):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        path = f.name
    try:
        cmd = ["mpirun", "-np", str(np), binary, mode, "--json", path] + extra
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if done.returncode != 0:
            sys.exit(f"ab_compare: {' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}")
        with open(path) as f:
            return json.load(f)["results"]
    finally:
        os.unlink(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", required=True, help="cadre-bench of build A (the baseline)")
    ap.add_argument("--b", required=True, help="cadre-bench of build B")
    ap.add_argument("--runs", type=int, default=5, help="runs of each mode per build")
    ap.add_argument("--modes", nargs="+", default=["latency", "msgrate", "tasks"])
    ap.add_argument("--np", type=int, default=2, help="ranks per job")
    ap.add_argument("--json", help="also write the medians to this file")
    ap.add_argument("extra", nargs="*", help="flags passed to every run (after --)")
    args = ap.parse_args()

    values = {}  # (mode, name, build) -> [value]
    ratios = {}  # (mode, name, build) -> [ratio to raw]
    units = {}
    for i in range(args.runs):
        for mode in args.modes:
            for build, binary in (("A", args.a), ("B", args.b)):
                for row in run_once(binary, mode, args.np, args.extra):
                    if row["value"] is None:
                        continue
                    key = (mode, row["name"])
                    units[key] = row["unit"]
                    values.setdefault(key + (build,), []).append(row["value"])
                    if row["ratio_to_raw"] is not None:
                        ratios.setdefault(key + (build,), []).append(row["ratio_to_raw"])
        print(f"ab_compare: round {i + 1} of {args.runs} done", file=sys.stderr)

    out = []
    print(f"{'result':34} {'unit':10} {'median A':>12} {'median B':>12} {'B/A':>7}"
          f" {'A/raw':>7} {'B/raw':>7}")
    for key in sorted(units):
        a, b = values.get(key + ("A",), []), values.get(key + ("B",), [])
        if not a or not b:
            continue
        ma, mb = statistics.median(a), statistics.median(b)
        ra = ratios.get(key + ("A",))
        rb = ratios.get(key + ("B",))
        entry = {
            "mode": key[0], "name": key[1], "unit": units[key], "runs": len(a),
            "median_a": ma, "median_b": mb, "b_over_a": mb / ma if ma else None,
            "a_ratio_to_raw": statistics.median(ra) if ra else None,
            "b_ratio_to_raw": statistics.median(rb) if rb else None,
        }
        out.append(entry)
        fmt = lambda v: f"{v:7.3f}" if v is not None else "      -"
        print(f"{key[1]:34} {units[key]:10} {ma:12.4g} {mb:12.4g} {fmt(entry['b_over_a'])}"
              f" {fmt(entry['a_ratio_to_raw'])} {fmt(entry['b_ratio_to_raw'])}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"a": args.a, "b": args.b, "runs": args.runs, "results": out}, f, indent=2)


if __name__ == "__main__":
    main()
