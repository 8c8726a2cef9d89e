"""Baseline for benchmarks/cases/sinkhorn.ts: POT's Sinkhorn solvers on the problem the case wrote.

usage: python3 sinkhorn.py <dir with problem.json, a.f64, b.f64, M.f32>
problem.json: n, m, reg (absolute ε), tolerance (stopThr), repetitions, regime ('regular' | 'small'), capSeconds.
Regular runs use POT's default numItermax (1000); small-ε runs have no iteration cap but a time cap.
M arrives as float32; POT gets it as float64 (as users pass it; converted outside the timing) and, in the regular
regime, also as float32. Prints one JSON object with, per solver, the median wall and CPU milliseconds (CPU time
is robust to other jobs on a shared host; the solvers run on one thread) and what it returned:
  regular: sinkhorn (f64), sinkhorn (f32), sinkhorn_log (f64, 1 repetition);
  small:   sinkhorn (overflow?), sinkhorn_stabilized and sinkhorn_log, each cut off after capSeconds.
"""
import json
import signal
import sys
import time
import warnings

import numpy as np
import ot


class OutOfTime(Exception):
    pass


def on_alarm(signum, frame):
    raise OutOfTime()


def run(solve, a, b, M, reg, tolerance, cap_seconds=None, max_iterations=10**7):
    """One call: milliseconds, POT's log, the plan (None when cut off), and the warnings it raised."""
    if cap_seconds:
        signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, cap_seconds)
    start, cpu_start = time.perf_counter(), time.process_time()
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
        warnings.simplefilter("always")
        try:
            plan, log = solve(a, b, M, reg, numItermax=max_iterations, stopThr=tolerance, log=True)
        except OutOfTime:
            plan, log = None, None
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    ms, cpu_ms = (time.perf_counter() - start) * 1e3, (time.process_time() - cpu_start) * 1e3
    return ms, cpu_ms, log, plan, [str(w.message).split("\n")[0] for w in caught]


def finite_or_none(value):
    return float(value) if value is not None and np.isfinite(value) else None


def summary(ms, cpu_ms, log, plan, messages, M):
    """status: converged | not converged (numItermax) | numerical errors (NaN/inf, POT gave up) | cut off."""
    if plan is None:
        return {"ms": ms, "cpu_ms": cpu_ms, "status": "cut off", "note": f"no result after {ms / 1e3:.0f} s"}
    usable = bool(np.all(np.isfinite(plan))) and not any("umerical error" in text for text in messages)
    errors = log.get("err", [])
    status = "converged" if usable and not messages else "not converged" if usable else "numerical errors"
    return {
        "ms": ms, "cpu_ms": cpu_ms, "status": status, "iterations": int(log.get("niter", 0)),
        "error": finite_or_none(errors[-1]) if errors else None,
        "cost": float(np.sum(plan * M)) if usable else None,
        "note": "; ".join(sorted(set(messages)))[:160],
    }


def median_run(solve, a, b, M, reg, tolerance, repetitions):
    """POT's default numItermax (1000): float32 input plateaus above 1e-9 and would otherwise never stop."""
    times, cpu_times, last = [], [], None
    for _ in range(repetitions):
        last = run(solve, a, b, M, reg, tolerance, max_iterations=1000)
        times.append(last[0])
        cpu_times.append(last[1])
    result = summary(*last, M)
    result["ms"], result["cpu_ms"] = float(np.median(times)), float(np.median(cpu_times))
    return result


def stalled(solve, a, b, M, reg):
    """sinkhorn_stabilized in POT 0.8.2 underflows to a zero plan: its error stays frozen at ||b||."""
    _, _, log, plan, _ = run(solve, a, b, M, reg, 0.0)
    errors = [float(e) for e in log["err"]] if log else []
    return len(errors) >= 2 and np.isfinite(errors[0]) and abs(errors[-1] - errors[0]) <= 1e-12 * errors[0]


def main():
    folder = sys.argv[1]
    problem = json.load(open(f"{folder}/problem.json"))
    n, m, reg, tolerance = problem["n"], problem["m"], problem["reg"], problem["tolerance"]
    a = np.fromfile(f"{folder}/a.f64")
    b = np.fromfile(f"{folder}/b.f64")
    M32 = np.fromfile(f"{folder}/M.f32", dtype=np.float32).reshape(n, m)
    M = M32.astype(np.float64)
    sinkhorn_log = ot.bregman.sinkhorn_log
    stabilized = ot.bregman.sinkhorn_stabilized
    if problem["regime"] == "regular":
        result = {
            "sinkhorn_f64": median_run(ot.sinkhorn, a, b, M, reg, tolerance, problem["repetitions"]),
            "sinkhorn_f32": median_run(ot.sinkhorn, a.astype(np.float32), b.astype(np.float32), M32, reg, tolerance,
                                       problem["repetitions"]),
            "sinkhorn_log": median_run(sinkhorn_log, a, b, M, reg, tolerance, 1),
        }
    else:
        cap = problem["capSeconds"]
        result = {
            "sinkhorn_f64": summary(*run(ot.sinkhorn, a, b, M, reg, tolerance, cap), M),
            "sinkhorn_stabilized": summary(*run(stabilized, a, b, M, reg, tolerance, cap), M),
            "sinkhorn_log": summary(*run(sinkhorn_log, a, b, M, reg, tolerance, cap), M),
        }
        if result["sinkhorn_stabilized"]["status"] == "cut off":
            # Why it did not finish: 100 iterations show whether the error moves at all.
            frozen = stalled(lambda *args, **kw: stabilized(*args, **{**kw, "numItermax": 100}), a, b, M, reg)
            if frozen:
                result["sinkhorn_stabilized"]["status"] = "stalled"
                result["sinkhorn_stabilized"]["note"] += "; error frozen at ||b|| (plan underflowed to 0)"
    print(json.dumps(result))


main()
