// Streaming statistics of activations (DESIGN "Activations are statistics, not arrays"): what the fusion stages read,
// accumulated chunk by chunk of samples, in float64, so no stage needs every sample's activations at once.
//
// Every accumulator sums each output element's terms in one fixed order that depends only on the data (samples in
// ascending order, positions ascending, features in fixed blocks), never on where the chunks were cut or how many
// threads ran: threads split the output elements, never one element's sum. The results are therefore bit-identical
// for any chunk size and any thread count.
#pragma once
#include <cstddef>
#include <vector>

namespace clf {

/**
 * One block of the shifted sample Gram K~ = (X - 1 s^T)(X - 1 s^T)^T (n x n, float64, row-major, lower triangle):
 *   K[(a0 + i) n + (b0 + j)] += sum_f (A[i, f] - s[f]) (B[j, f] - s[f])   for every a0 + i >= b0 + j,
 * where A (rowsA x d) holds samples a0 .. a0 + rowsA - 1 and B (rowsB x d) samples b0 .. b0 + rowsB - 1, row-major
 * float32 (a chunk's tap output read in place). Entries above the diagonal are not touched.
 *
 * The shift s (any fixed vector, e.g. the first sample) leaves the centred Gram H K~ H = H X X^T H unchanged while
 * keeping the products small, so features with a large mean (post-ReLU) lose no digits to cancellation. Each entry
 * is the float64 sum, over feature blocks of kGramBlock in ascending order, of the block's float32 dot product from
 * sgemm (k ascending, one FMA per product): the same bits whichever blocks of samples it is computed in.
 */
void accumulateGramBlock(const float* A, size_t rowsA, size_t a0, const float* B, size_t rowsB, size_t b0, size_t d,
                         const float* shift, size_t n, double* K, int threads);

/**
 * Cross second moments between the channels of two sides' taps recorded on the same samples, summed over tap pairs
 * (the taps of one map: a residual stream's starter and blocks, one to one on both sides). For t = 0 .. T - 1, X[t]
 * is samples x cx x spatial and Y[t] samples x cy x spatial, row-major float32:
 *   M[i cy + j] += sum_n sum_t sum_p X[t][n, i, p] Y[t][n, j, p]        (M: cx x cy, float64)
 * Per sample and pair the sum over positions is one float32 sgemm dot product when spatial >= kCrossFloatMin
 * (positions ascending), else exact float64 products; the terms are added to M samples ascending, then pairs in
 * order. A pair that repeats the one before it (the same X and Y arrays) adds the same terms again without computing
 * them, so an inserted block's output, which is its input, costs only the additions.
 */
void accumulateCross(const std::vector<const float*>& X, size_t cx, const std::vector<const float*>& Y, size_t cy,
                     size_t samples, size_t spatial, double* M, int threads);

/**
 * The second moments of one side's taps, accumulateCross(X, c, X, c, ...), at half the work: only the entries on and
 * below the diagonal of M (c x c, symmetric) are accumulated, with the same bits as there; the entries above are not
 * touched (mirror them once, when M is read: x_i x_j and x_j x_i are the same products in the same order, and a
 * mirror per call would cost a strided pass over M every chunk).
 */
void accumulateSecondMoments(const std::vector<const float*>& X, size_t channels, size_t samples, size_t spatial,
                             double* M, int threads);

/**
 * Per-channel sums over samples and positions of X (samples x channels x spatial, float32):
 *   sums[c] += sum x,  squares[c] += sum x^2,  positives[c] += #{x > 0}     (float64)
 * Per sample, position p goes to one of 8 running sums (p mod 8), which are then added in order to the total: samples
 * ascending, a fixed order within each.
 */
void accumulateChannels(const float* X, size_t samples, size_t channels, size_t spatial, double* sums, double* squares,
                        double* positives, int threads);

}  // namespace clf
