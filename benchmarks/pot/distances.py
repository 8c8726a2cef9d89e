"""Baselines for benchmarks/cases/distances.ts: numpy (OpenBLAS) and POT on the problem the case wrote.

usage: python3 distances.py <dir with problem.json, X.f32, Y.f32>
Loads the problem, warms every baseline up, prints "ready", then serves one timing per request: each stdin line names
a baseline (numpy_sqeuclidean, ot_dist_f64, numpy_sgemm); the reply is one line with its wall time in ms. The case
interleaves these with its own runs, so a busy machine slows both sides alike. EOF ends it.
The BLAS thread count is whatever the environment gives (OPENBLAS_NUM_THREADS).
"""
import json
import sys
import time

import numpy as np
import ot


def main():
    folder = sys.argv[1]
    shape = json.load(open(f"{folder}/problem.json"))
    n, m, d = shape["n"], shape["m"], shape["d"]
    X = np.fromfile(f"{folder}/X.f32", dtype=np.float32).reshape(n, d)
    Y = np.fromfile(f"{folder}/Y.f32", dtype=np.float32).reshape(m, d)
    X64, Y64 = X.astype(np.float64), Y.astype(np.float64)
    baselines = {
        "numpy_sqeuclidean": lambda: (X * X).sum(1)[:, None] + (Y * Y).sum(1)[None] - 2 * X @ Y.T,
        "ot_dist_f64": lambda: ot.dist(X64, Y64, metric="sqeuclidean"),
        "numpy_sgemm": lambda: X @ Y.T,
    }
    for run in baselines.values():
        run()  # warm-up: page faults, BLAS thread start
    print("ready", flush=True)
    for line in sys.stdin:
        run = baselines[line.strip()]
        start = time.perf_counter()
        run()
        print((time.perf_counter() - start) * 1e3, flush=True)


main()
