#!/usr/bin/python3
"""Reference exact-OT costs for test/solvers/emd.test.ts: POT 0.8.2 `ot.emd2` (numItermax 1e8) and, for the tiny
problems, SciPy's HiGHS LP as a second, independent solver.

Inputs are stored compactly so the fixture stays small: point clouds X (n x d), Y (m x d) and weights with 6 decimal
digits; the test rebuilds the cost M with the same formula (`metric`) and normalises each weight vector to sum 1.

Run: /usr/bin/python3 scripts/make-ot-vectors.py   (writes test/fixtures/ot/emd-vectors.json atomically)
"""
import json
import os

import numpy as np
import ot
from scipy.optimize import linprog

OUT = os.path.normpath(os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'ot', 'emd-vectors.json'))

# (name, n, m, d, metric, weights, integer_points)
# weights: 'uniform' | 'random' | 'sparse' (about a third of the bins empty)
PROBLEMS = [
    ('tiny-2x3', 2, 3, 2, 'sqeuclidean', 'random', False),
    ('tiny-3x3', 3, 3, 2, 'euclidean', 'random', False),
    ('tiny-4x2', 4, 2, 1, 'cityblock', 'random', False),
    ('tiny-4x5-sparse', 4, 5, 2, 'sqeuclidean', 'sparse', False),
    ('tiny-5x4-ties', 5, 4, 2, 'cityblock', 'random', True),
    ('small-10x7', 10, 7, 3, 'sqeuclidean', 'random', False),
    ('small-12x12-ties', 12, 12, 2, 'cityblock', 'random', True),
    ('mid-50x80', 50, 80, 3, 'euclidean', 'random', False),
    ('mid-100x60-sparse', 100, 60, 4, 'sqeuclidean', 'sparse', False),
    ('mid-64x48-uniform', 64, 48, 3, 'sqeuclidean', 'uniform', False),
    ('mid-50x100-uniform', 50, 100, 3, 'sqeuclidean', 'uniform', False),
    ('mid-128x128-uniform', 128, 128, 5, 'sqeuclidean', 'uniform', False),
    ('large-200x300', 200, 300, 3, 'sqeuclidean', 'random', False),
    ('large-300x240', 300, 240, 4, 'euclidean', 'random', False),
    ('large-300x300-ties', 300, 300, 2, 'cityblock', 'random', True),
    ('large-300x200-uniform', 300, 200, 3, 'sqeuclidean', 'uniform', False),
    ('large-300x150-uniform', 300, 150, 4, 'euclidean', 'uniform', False),
]


def rounded(values):
    return [float(f'{v:.6f}') for v in np.ravel(values)]


def weights(rng, k, kind):
    if kind == 'uniform':
        return [1.0] * k
    w = rng.uniform(0.05, 1.0, size=k)
    if kind == 'sparse':
        w[rng.uniform(size=k) < 0.33] = 0.0
        w[0] = max(w[0], 0.5)
    return rounded(w)


def cost(X, Y, metric):
    """Same loop order as the test: M[i, j] = sum_k f(x_ik - y_jk), then sqrt for euclidean."""
    n, m = len(X), len(Y)
    M = np.zeros((n, m))
    for i in range(n):
        for j in range(m):
            acc = 0.0
            for xk, yk in zip(X[i], Y[j]):
                diff = xk - yk
                acc += abs(diff) if metric == 'cityblock' else diff * diff
            M[i, j] = np.sqrt(acc) if metric == 'euclidean' else acc
    return M


def lp_cost(a, b, M):
    n, m = M.shape
    rows = np.kron(np.eye(n), np.ones((1, m)))
    cols = np.kron(np.ones((1, n)), np.eye(m))
    res = linprog(M.ravel(), A_eq=np.vstack([rows, cols]), b_eq=np.concatenate([a, b]), bounds=(0, None),
                  method='highs')
    assert res.status == 0, res.message
    return float(res.fun)


def main():
    rng = np.random.default_rng(20231126)
    out = []
    for name, n, m, d, metric, kind, integer in PROBLEMS:
        if integer:
            X = rng.integers(0, 4, size=(n, d)).astype(float)
            Y = rng.integers(0, 4, size=(m, d)).astype(float)
        else:
            X = np.array(rounded(rng.normal(size=(n, d)))).reshape(n, d)
            Y = np.array(rounded(rng.normal(size=(m, d)))).reshape(m, d)
        wa, wb = weights(rng, n, kind), weights(rng, m, kind)
        a = np.array(wa) / np.sum(wa)
        b = np.array(wb) / np.sum(wb)
        M = cost(X, Y, metric)
        entry = {
            'name': name, 'n': n, 'm': m, 'd': d, 'metric': metric,
            'X': rounded(X), 'Y': rounded(Y), 'a': wa, 'b': wb,
            'potCost': float(ot.emd2(a, b, M, numItermax=100_000_000)),
        }
        if n * m <= 400:
            entry['lpCost'] = lp_cost(a, b, M)
        out.append(entry)
    meta = {'generator': 'scripts/make-ot-vectors.py', 'pot': ot.__version__, 'numpy': np.__version__}
    tmp = OUT + '.tmp'
    with open(tmp, 'w') as f:
        json.dump({'meta': meta, 'problems': out}, f, separators=(',', ':'))
    os.replace(tmp, OUT)
    print(f'wrote {OUT}: {len(out)} problems, {os.path.getsize(OUT)} bytes')


if __name__ == '__main__':
    main()
