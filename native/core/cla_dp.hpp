// Cross-layer alignment (CLAFusion, spec §1.4): the monotone, injective mapping of the shallow network's layers
// into the deep network's layers with the least total cost.
#pragma once
#include <cstddef>
#include <vector>

namespace clf {

struct ClaAlignment {
  std::vector<int> mapping;  // mapping[k-1] = 1-based deep layer matched to shallow layer k; strictly increasing
  double totalCost = 0;      // sum over k of C[mapping[k]-1, k-1]
};

/**
 * Solves  min_A  sum_k C[A_k, k]  over strictly increasing A: {1..n} -> {1..m}  (n <= m), with the published pins:
 * A_k = k for k < s (the first s-1 layers), A_{n-t} = m-t for t < f (the last f layers).
 *
 * F[k][l] = least cost of placing shallow 1..k into deep 1..l:
 *   F[k][l] = min(F[k][l-1], F[k-1][l-1] + C[l][k]),   F[k][k] = sum_{t<=k} C[t][t].
 * Backtracking skips deep layer l whenever F[k][l] == F[k][l-1] (exact equality), so each shallow layer goes to the
 * earliest deep layer among equal-cost choices. n == 1 maps to deep layer 1, as published. O(mn) time and memory.
 *
 * `C` is m x n row-major (row = deep layer, column = shallow layer).
 */
ClaAlignment claAlign(const double* C, size_t m, size_t n, size_t s, size_t f);

}  // namespace clf
