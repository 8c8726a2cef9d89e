#!/usr/bin/env python3
"""Writes test/fixtures/ot/sinkhorn-pot.json: small entropic OT problems solved by POT's ot.sinkhorn.

Each case holds the marginals a, b, the cost M (row-major), reg (absolute ε), POT's converged plan (stopThr 1e-13)
and <plan, M>. test/solvers/sinkhorn.test.ts checks that our plans agree. Run with Debian's python3 (POT 0.8.2):
    /usr/bin/python3 scripts/make-sinkhorn-vectors.py
"""
import json
import os

import numpy as np
import ot

OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'ot', 'sinkhorn-pot.json')


def histogram(rng, size):
    weights = rng.uniform(0.2, 1.0, size)
    return weights / weights.sum()


def case(name, a, b, M, reg):
    plan = ot.sinkhorn(a, b, M, reg, numItermax=200000, stopThr=1e-13)
    return {
        'name': name, 'n': len(a), 'm': len(b), 'reg': reg,
        'a': a.tolist(), 'b': b.tolist(), 'M': M.ravel().tolist(),
        'plan': plan.ravel().tolist(), 'cost': float(np.sum(plan * M)),
    }


def main():
    rng = np.random.default_rng(20231)
    cases = []
    # Uniform square, squared euclidean cost of 2-d points (the fusion setting in small).
    x, y = rng.normal(size=(6, 2)), rng.normal(size=(6, 2))
    M = ot.dist(x, y)
    cases.append(case('uniform-6x6-sqeuclidean', ot.unif(6), ot.unif(6), M, 0.1 * float(np.median(M))))
    # Rectangular, non-uniform marginals, random costs.
    M = rng.uniform(0, 1, size=(5, 8))
    cases.append(case('weighted-5x8-random', histogram(rng, 5), histogram(rng, 8), M, 0.05))
    # Tall, large cost scale, small relative ε.
    M = 100 * rng.uniform(0, 1, size=(9, 4))
    cases.append(case('weighted-9x4-scaled', histogram(rng, 9), histogram(rng, 4), M, 5.0))
    with open(OUT + '.tmp', 'w') as f:
        json.dump({'generator': 'scripts/make-sinkhorn-vectors.py', 'pot': ot.__version__, 'cases': cases}, f)
    os.replace(OUT + '.tmp', OUT)


if __name__ == '__main__':
    main()
