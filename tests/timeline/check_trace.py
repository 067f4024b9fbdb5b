#!/usr/bin/python3
"""Checks a trace file a cadre job wrote (CADRE_TRACE) against what the job did.

    check_trace.py FILE --nodes N [--task NAME]... [--process NAME]... [--lost NODE]
                   [--sampled] [--spawned N] [--max-offset-us US] [--outside N]

Fails (status 1, saying why) unless: the file is one JSON object with a traceEvents list;
every node 0..N-1 is named; every event has the fields its phase needs, times >= 0 and
durations >= 0; each node ran its shut-down span; the master's driver span holds every
worker's task span (the clocks are aligned); each --task name ran on a worker and each
--process name lived somewhere; --lost NODE is marked lost; with --sampled, messages were
sampled out and the counters count more messages than the instants show; with
--max-offset-us, no node's measured clock offset is larger; with --outside N, at least N
events were left out as outside the run. NaN and Infinity are not JSON: they fail.
"""

import argparse
import json
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("--nodes", type=int, required=True)
    ap.add_argument("--task", action="append", default=[])
    ap.add_argument("--process", action="append", default=[])
    ap.add_argument("--lost", type=int, action="append", default=[])
    ap.add_argument("--sampled", action="store_true")
    ap.add_argument("--spawned", type=int, default=0)
    ap.add_argument("--max-offset-us", type=float)
    ap.add_argument("--outside", type=int, default=0)
    a = ap.parse_args()
    problems = []

    def not_json(name):
        sys.exit(f"check_trace: FAIL: {name} in the file (not JSON)")

    with open(a.trace, encoding="utf-8") as f:
        doc = json.load(f, parse_constant=not_json)
    if not isinstance(doc, dict) or not isinstance(doc.get("traceEvents"), list):
        sys.exit("check_trace: not an object with a traceEvents list")
    events = doc["traceEvents"]
    other = doc.get("otherData", {})
    if other.get("producer") != "cadre":
        problems.append("otherData.producer is not cadre")

    named = {e["pid"] for e in events if e.get("ph") == "M" and e.get("name") == "process_name"}
    for n in range(a.nodes):
        if n not in named:
            problems.append(f"node {n} has no process_name")
    for n in range(1, a.nodes):
        if n in a.lost:
            continue
        c = other.get("clock_offsets", {}).get(str(n))
        if c is None or c.get("rounds", 0) < 1 or c.get("uncertainty_us", -1) < 0:
            problems.append(f"node {n}: no measured clock offset ({c})")

    if a.max_offset_us is not None:
        for n, c in other.get("clock_offsets", {}).items():
            if abs(c.get("offset_us", 0)) > a.max_offset_us:
                problems.append(f"node {n}: clock offset {c.get('offset_us')} us")
    if other.get("events_outside_the_run", 0) < a.outside:
        problems.append(f"{other.get('events_outside_the_run')} events outside the run, "
                        f"expected at least {a.outside}")

    need = {"X": ("name", "pid", "tid", "ts", "dur"), "i": ("name", "pid", "ts", "s"),
            "C": ("name", "pid", "ts", "args"), "M": ("name", "pid", "args")}
    for e in events:
        ph = e.get("ph")
        if ph not in need:
            problems.append(f"an event of unknown phase: {e}")
            continue
        for k in need[ph]:
            if k not in e:
                problems.append(f"a '{ph}' event without {k}: {e}")
        if ph in "XiC" and e.get("ts", 0) < 0:
            problems.append(f"an event before the run began: {e}")
        if ph == "X" and e.get("dur", 0) < 0:
            problems.append(f"a span of negative length: {e}")

    spans = [e for e in events if e.get("ph") == "X"]
    shut = {e["pid"] for e in spans if e.get("cat") == "shutdown"}
    for n in range(a.nodes):
        if n not in a.lost and n not in shut:
            problems.append(f"node {n} has no shutdown span")
    drivers = [e for e in spans if e.get("cat") == "driver" and e["pid"] == 0]
    if len(drivers) != 1:
        problems.append(f"{len(drivers)} driver spans on the master, not 1")
    tasks = [e for e in spans if e.get("cat") == "task" and e["pid"] != 0]
    if drivers:
        d0, d1 = drivers[0]["ts"], drivers[0]["ts"] + drivers[0]["dur"]
        # A worker's task runs between the driver's request and its result: inside the
        # driver's span, give or take the clocks' uncertainty (1 ms is far above it).
        for t in tasks:
            if t["ts"] < d0 - 1000 or t["ts"] + t["dur"] > d1 + 1000:
                problems.append(f"a worker's task outside the driver's span {d0}..{d1}: {t}")
                break
    for name in a.task:
        if not any(t["name"] == name for t in tasks):
            problems.append(f"no task '{name}' ran on a worker")
    for name in a.process:
        if not any(e.get("cat") == "process" and e["name"] == name for e in spans):
            problems.append(f"no process '{name}' lived")
    for n in a.lost:
        if not any(e.get("ph") == "i" and e.get("cat") == "node" and
                   e.get("name") == f"node {n} lost" for e in events):
            problems.append(f"node {n} is not marked lost")
    if a.spawned:
        joined = [e for e in events if e.get("ph") == "i" and "joined" in e.get("name", "")]
        if len(joined) < a.spawned or not any(e.get("cat") == "spawn" for e in spans):
            problems.append(f"expected {a.spawned} joined node(s) and a spawn span")
    if a.sampled:
        instants = sum(1 for e in events if e.get("ph") == "i" and e.get("cat") == "message")
        counted = sum(e["args"].get("sent", 0) + e["args"].get("received", 0)
                      for e in events if e.get("ph") == "C")
        if other.get("sampled_out_messages", 0) <= 0 or counted <= instants:
            problems.append(f"no sampling: {instants} message instants, {counted} counted, "
                            f"{other.get('sampled_out_messages')} sampled out")

    kinds = {}
    for e in events:
        kinds[e.get("cat", e.get("ph"))] = kinds.get(e.get("cat", e.get("ph")), 0) + 1
    print("check_trace:", ", ".join(f"{v} {k}" for k, v in sorted(kinds.items())))
    if problems:
        for p in problems[:20]:
            print("check_trace: FAIL:", p)
        sys.exit(1)
    print(f"check_trace: ok ({len(events)} events, {a.nodes} nodes)")


if __name__ == "__main__":
    main()
