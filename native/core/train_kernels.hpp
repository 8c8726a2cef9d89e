// Forward and backward kernels of the trainer's ops on channel-major activations [C][N][S] (see train_program.hpp).
// Every kernel is a template over the element type: float for training, double for the gradient checks in the
// tests. Backward kernels ADD their input gradient into `dx` (a slot may feed several ops, e.g. a residual block's
// input feeds the branch and the shortcut) and WRITE their parameter gradients (each parameter belongs to one op).
//
// Determinism: work is split over channels, (channel, sample) planes or, for convolutions, fixed chunks of samples
// (sized from the shapes alone; the per-chunk weight-gradient partials are summed in chunk order); each output element
// is produced by one thread with a fixed summation order, and the GEMMs are thread-count invariant (gemm.hpp), so
// results are bit-identical for any thread count.
#pragma once
#include <cstddef>
#include <vector>

#include "core/train_program.hpp"

namespace clf::train {

/**
 * Scratch space of the convolutions, grown on demand and reused: im2col columns and their gradient per thread, and
 * the per-chunk weight-gradient partials.
 */
template <typename T>
struct ConvWorkspace {
  std::vector<std::vector<T>> cols;
  std::vector<std::vector<T>> dcols;
  std::vector<T> partials;
};

/** Per-channel batch statistics saved by a training-mode batch-norm for its backward pass and the running update. */
struct BatchStats {
  std::vector<double> mean;
  std::vector<double> variance;  // biased (divides by N*S)
};

/** Y[Co][N*So] = W[Co][C*kh*kw] * im2col(X) + b. */
template <typename T>
void convForward(const Op& op, size_t n, const T* x, const T* params, T* y, ConvWorkspace<T>& ws, int threads);

/** dW = dY * im2col(X)^T, db = row sums of dY, dX += col2im(W^T * dY) (skipped when dx is null). */
template <typename T>
void convBackward(const Op& op, size_t n, const T* x, const T* params, const T* dy, T* dx, T* grad, ConvWorkspace<T>& ws, int threads);

/**
 * Training mode: x̂ = (x − μ_B) / sqrt(σ²_B + ε), y = γ x̂ + β with the batch mean and biased variance per channel
 * (saved in `stats` for the backward pass).
 */
template <typename T>
void batchNormForwardTrain(const Op& op, size_t n, const T* x, const T* params, T* y, BatchStats& stats, int threads);

/** Evaluation mode: the running statistics (state buffer at op.aux: mean, then variance) replace the batch's. */
template <typename T>
void batchNormForwardEval(const Op& op, size_t n, const T* x, const T* params, const T* running, T* y, int threads);

/**
 * dγ = Σ dy x̂, dβ = Σ dy, dx += γ / sqrt(σ²_B + ε) · (dy − mean(dy) − x̂ · mean(dy x̂)), sums over the channel's N*S
 * values (the batch statistics depend on x, hence the two mean terms).
 */
template <typename T>
void batchNormBackward(const Op& op, size_t n, const T* x, const T* params, const BatchStats& stats, const T* dy, T* dx, T* grad, int threads);

/** PyTorch's running update: r ← (1 − m) r + m b, with the unbiased batch variance for the running variance. */
template <typename T>
void updateRunningStats(const Op& op, size_t n, const BatchStats& stats, double momentum, T* running);

template <typename T>
void reluForward(size_t count, const T* x, T* y, int threads);
/** dx = dy where y > 0 (in place when dx == dy), else dx += dy · [y > 0]. */
template <typename T>
void reluBackward(size_t count, const T* y, const T* dy, T* dx, int threads);

/** y = f(x) for the ActivationKind `kind` (α: LeakyReLU's slope). */
template <typename T>
void activationForward(ActivationKind kind, double alpha, size_t count, const T* x, T* y, int threads);
/**
 * dx += dy · f'(x): LeakyReLU 1 or α; GELU Φ(x) + x φ(x); SiLU σ(x)(1 + x(1 − σ(x))); sigmoid y(1 − y);
 * tanh 1 − y² (y = f(x), the forward's output).
 */
template <typename T>
void activationBackward(ActivationKind kind, double alpha, size_t count, const T* x, const T* y, const T* dy, T* dx,
                        int threads);

/** Max or average pooling per (channel, sample) plane; average as PyTorch (count_include_pad = op.flag). */
template <typename T>
void poolForward(const Op& op, size_t n, const T* x, T* y, int threads);
/** Max: the gradient goes to the first maximum of each window (the forward's choice); average: spread evenly. */
template <typename T>
void poolBackward(const Op& op, size_t n, const T* x, const T* dy, T* dx, int threads);

template <typename T>
void globalPoolForward(const Op& op, size_t n, const T* x, T* y, int threads);
template <typename T>
void globalPoolBackward(const Op& op, size_t n, const T* x, const T* dy, T* dx, int threads);

/** [C][N][S] -> [C*S][N]. */
template <typename T>
void flattenForward(const Op& op, size_t n, const T* x, T* y);
template <typename T>
void flattenBackward(const Op& op, size_t n, const T* dy, T* dx);

}  // namespace clf::train
