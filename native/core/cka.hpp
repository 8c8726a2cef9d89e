// Gram matrices and linear CKA (centred kernel alignment, Kornblith et al. 2019), the CLA layer cost (spec §1.2).
#pragma once
#include <cstddef>
#include <vector>

namespace clf {

/**
 * K = X X^T (n x n, float64) for a row-major float32 activation matrix X (n samples x d features).
 * With `centered`, K is the doubly centred Gram H K H (H = I - 11^T/n), i.e.  K_ij - mean_i - mean_j + mean.
 * It is computed as X~ X~^T with column-centred X~ = X - 1 mean(X)^T (the same matrix, without the cancellation
 * that centring a large uncentred Gram suffers), then centred once more in double to remove the rounding residue.
 * The products run through sgemm in depth chunks of fixed size whose partial Grams are summed in double.
 */
void gramMatrix(const float* X, size_t n, size_t d, bool centered, int threads, double* K);

/**
 * Linear CKA between the representations X (n x dx) and Y (n x dy) of the same n samples.
 *   biased (published):  CKA = <Kc, Lc>_F / (||Kc||_F ||Lc||_F),  Kc = H X X^T H.
 *   debiased: HSIC_1 in place of <.,.>_F, with K~ = Kc, zero diagonal (HSIC_1 is unchanged by the centring):
 *     HSIC_1(K, L) = [ tr(K~ L~) + 1^T K~ 1 . 1^T L~ 1 / ((n-1)(n-2)) - 2/(n-2) . 1^T K~ L~ 1 ] / (n (n-3)),
 *     CKA = HSIC_1(K, L) / sqrt(HSIC_1(K, K) HSIC_1(L, L));  needs n > 3.
 * A representation with no variance (a normaliser <= 0) has CKA 0 with everything.
 */
double linearCka(const float* X, const float* Y, size_t n, size_t dx, size_t dy, bool debiased, int threads);

/**
 * cost[i * shallow.size() + j] = 1 - CKA(deep[i], shallow[j]) for n x n Gram matrices (centred or not; each is
 * centred once here, so the work is O((a + b) n^2) for centring plus O(a b n^2) for the pairs).
 */
void ckaCostMatrix(const std::vector<const double*>& deep, const std::vector<const double*>& shallow, size_t n,
                   bool debiased, int threads, double* cost);

}  // namespace clf
