"""Baseline for benchmarks/cases/emd.ts: POT's `ot.emd` (network simplex, 1 thread) on the problem the case wrote.

usage: python3 emd.py <dir with problem.json, a.f64, b.f64, M.f64> <repetitions>
Prints one JSON object: the median milliseconds and cost of ot.emd with numItermax = 1e9 (effectively no cap), and
one run with POT's default numItermax = 100000 (its time, cost, and whether it stopped at the cap).
"""
import json
import sys
import time
import warnings

import numpy as np
import ot


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return (time.perf_counter() - start) * 1e3, value


def main():
    folder, repetitions = sys.argv[1], int(sys.argv[2])
    shape = json.load(open(f"{folder}/problem.json"))
    n, m = shape["n"], shape["m"]
    a = np.fromfile(f"{folder}/a.f64")
    b = np.fromfile(f"{folder}/b.f64")
    M = np.fromfile(f"{folder}/M.f64").reshape(n, m)
    times, plan = [], None
    for _ in range(repetitions):
        ms, plan = timed(lambda: ot.emd(a, b, M, numItermax=1_000_000_000))
        times.append(ms)
    result = {"emd_ms": float(np.median(times)), "emd_cost": float(np.sum(plan * M))}
    if shape.get("defaultCap"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ms, capped = timed(lambda: ot.emd(a, b, M))
        stopped = any("numItermax" in str(w.message) for w in caught)
        result["default_cap"] = {"ms": ms, "cost": float(np.sum(capped * M)), "stopped": stopped}
    print(json.dumps(result))


main()
