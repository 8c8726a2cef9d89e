// Training a program (train_program.hpp): the forward pass, the loss, the backward pass and the SGD step.
//
// Losses, on the logits s of each sample (the classifier's output before any softmax / log-softmax transform:
// CE(s, y) = NLL(log_softmax(s), y), so a model that outputs log-probabilities trains the same way):
//   cross-entropy        L = (1/N) Σ_n [logsumexp(s_n) − s_n[y_n]]
//   distillation (KD)    L = α T² · KL(softmax(t/T) ‖ softmax(s/T)) + (1 − α) · CE(s, y)
//                        KL = (1/D) Σ_n Σ_k p_nk (log p_nk − log q_nk),  p = softmax(t/T), q = softmax(s/T),
//                        D = N ("batchmean", the textbook KD loss) or N·classes ("mean", what the published code's
//                        KLDivLoss(reduction="mean") computes).
// SGD as torch.optim.SGD (dampening 0, no Nesterov): g = ∇L + λ w, v ← μ v + g, w ← w − η v.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/train_kernels.hpp"
#include "core/train_program.hpp"

namespace clf::train {

enum class KdReduction { BatchMean, Mean };

struct LossOptions {
  /** Teacher logits [N][classes] (row-major), or null for plain cross-entropy. */
  const void* teacher = nullptr;
  double alpha = 0.5;
  double temperature = 1;
  KdReduction reduction = KdReduction::BatchMean;
};

struct SgdOptions {
  double learningRate = 0.01;
  double momentum = 0;
  double weightDecay = 0;
};

struct StepResult {
  double loss = 0;
  /** Samples whose largest logit is the label (ties to the lowest class). */
  size_t correct = 0;
};

/**
 * The buffers of a batch's activations and gradients, kept between steps: reallocating them every step would
 * fault in fresh pages for the whole activation memory each time. Serves one step at a time (`busy` guards it).
 */
template <typename T>
struct Workspace {
  std::vector<std::vector<T>> values;
  std::vector<std::vector<T>> grads;
  std::vector<BatchStats> stats;
  ConvWorkspace<T> conv;
  std::vector<T> paramGrad;
  std::atomic<bool> busy{false};
};

/**
 * The mean loss of a batch and its gradient with respect to every parameter (written into `grad`, paramCount
 * values, zero for parameters no op uses), with batch-norms in training mode. `input` is [N][inputSize] (NCHW or
 * NC as stored), `labels` [N] in [0, classes). When `running` is not null, the batch-norm running statistics in it
 * are updated with `bnMomentum` (PyTorch convention: r ← (1 − m) r + m · batch). `teacher` in `loss` is a const T*.
 */
template <typename T>
StepResult computeGradients(const Program& program, const T* params, T* running, double bnMomentum, const T* input, size_t n,
                            const int32_t* labels, const LossOptions& loss, T* grad, int threads, Workspace<T>* workspace = nullptr);

/** Logits [N][classes] with batch-norms in evaluation mode (running statistics). */
template <typename T>
void forwardLogits(const Program& program, const T* params, const T* running, const T* input, size_t n, T* logits, int threads);

/** One SGD step on `count` parameters (`velocity` holds the momentum buffer, zero at the start). */
void sgdUpdate(float* params, const float* grad, float* velocity, size_t count, const SgdOptions& sgd, int threads);

/** One training step: gradients, running-statistics update and SGD update, all in place. */
StepResult trainStep(const Program& program, float* params, float* running, float* velocity, double bnMomentum, const float* input,
                     size_t n, const int32_t* labels, const LossOptions& loss, const SgdOptions& sgd, int threads,
                     Workspace<float>& workspace);

}  // namespace clf::train
