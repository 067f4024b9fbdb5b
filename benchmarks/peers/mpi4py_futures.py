"""mpi4py.futures beside cadre's task benchmarks (benchmarks/peers/compare runs it).

Run it under mpi4py.futures, one master and N-1 workers:

    mpirun -np 3 python3 -m mpi4py.futures mpi4py_futures.py --json FILE

Measures a trivial function (square an int): the round trip of executor.submit(f, x).result()
one call at a time, in microseconds, and executor.map throughput at chunksize 1 and 256, in
tasks/s; each the median of --repeat runs. Prints a table and writes the cadre-bench JSON
shape ({"context", "results": [{"name", "value", "unit", "ratio_to_raw", "note"}]}).
"""

import argparse
import datetime
import json
import platform
import statistics
import sys
import time

import mpi4py
from mpi4py import MPI
from mpi4py.futures import MPIPoolExecutor


def square(x):
    """The trivial task: x squared."""
    return x * x


def submit_round_trip_us(executor, calls):
    """Mean microseconds of submit(square, i).result(), one call at a time, over `calls`."""
    t0 = time.perf_counter()
    for i in range(calls):
        if executor.submit(square, i).result() != i * i:
            raise RuntimeError("submit: wrong result")
    return (time.perf_counter() - t0) * 1e6 / calls


def map_rate(executor, tasks, chunksize):
    """Tasks/s of executor.map(square, range(tasks), chunksize=chunksize), results checked."""
    t0 = time.perf_counter()
    results = list(executor.map(square, range(tasks), chunksize=chunksize))
    rate = tasks / (time.perf_counter() - t0)
    if results != [i * i for i in range(tasks)]:
        raise RuntimeError("map: wrong results")
    return rate


def median_of(repeat, measure):
    """The median of `repeat` runs of measure()."""
    return statistics.median(measure() for _ in range(repeat))


def main():
    """Parses the flags, measures, prints the table and writes the JSON file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--tasks", type=int, default=100000,
                        help="tasks per map at chunksize 256 (default 100000)")
    parser.add_argument("--map1-tasks", type=int, default=5000,
                        help="tasks per map at chunksize 1 (default 5000)")
    parser.add_argument("--calls", type=int, default=2000,
                        help="submit round trips per run (default 2000)")
    parser.add_argument("-r", "--repeat", type=int, default=3,
                        help="runs per measurement; the median is reported (default 3)")
    parser.add_argument("--json", metavar="FILE", help="also write the results to FILE")
    args = parser.parse_args()

    # Under `-m mpi4py.futures` every rank but the master (rank 0) is a worker.
    workers = MPI.COMM_WORLD.Get_size() - 1
    if workers < 1:
        sys.exit("mpi4py_futures.py: run it as mpirun -np N python3 -m mpi4py.futures "
                 "mpi4py_futures.py, N at least 2")
    with MPIPoolExecutor() as executor:
        # Untimed: the workers start, and the first pickles of the function are made.
        list(executor.map(square, range(max(100, 4 * workers))))
        rtt = median_of(args.repeat, lambda: submit_round_trip_us(executor, args.calls))
        map1 = median_of(args.repeat, lambda: map_rate(executor, args.map1_tasks, 1))
        map256 = median_of(args.repeat, lambda: map_rate(executor, args.tasks, 256))

    who = f"{workers} worker(s) + the master"
    results = [
        {"name": "mpi4py_submit_rtt", "value": rtt, "unit": "us", "ratio_to_raw": None,
         "note": f"submit(f, x).result(), one at a time, {args.calls} calls, {who}"},
        {"name": "mpi4py_map_chunk1", "value": map1, "unit": "tasks/s", "ratio_to_raw": None,
         "note": f"executor.map, chunksize 1, {args.map1_tasks} tasks, {who}"},
        {"name": "mpi4py_map_chunk256", "value": map256, "unit": "tasks/s",
         "ratio_to_raw": None,
         "note": f"executor.map, chunksize 256, {args.tasks} tasks, {who}"},
    ]
    print("# mpi4py.futures")
    for r in results:
        print(f"{r['name']:<20} {r['value']:>10.4g} {r['unit']:<8} {r['note']}")
    sys.stdout.flush()
    if args.json:
        context = {
            "peer": f"mpi4py.futures {mpi4py.__version__}",
            "python": platform.python_version(),
            "ranks": MPI.COMM_WORLD.Get_size(),
            "workers": workers,
            "host": MPI.Get_processor_name(),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "mpi_library": MPI.Get_library_version().strip(),
            "mpi_version": "{}.{}".format(*MPI.Get_version()),
        }
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({"context": context, "results": results}, out, indent=2)
            out.write("\n")


if __name__ == "__main__":
    main()
