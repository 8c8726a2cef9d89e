#include "core/train_net.hpp"

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/parallel.hpp"

namespace clf::train {

namespace {

/** The activations (and, for training, their gradients) of one batch flowing through a program. */
template <typename T>
class Pass {
 public:
  Pass(const Program& program, size_t n, int threads, Workspace<T>& workspace)
      : program_(program), n_(n), threads_(threads), values_(workspace.values), grads_(workspace.grads), stats_(workspace.stats),
        workspace_(workspace.conv) {
    if (workspace.busy.exchange(true)) throw argError("train: a workspace serves one step at a time");
    busy_ = &workspace.busy;
    try {
      values_.resize(program.slotChannels.size());
      stats_.resize(program.ops.size());
    } catch (...) {
      busy_->store(false);
      throw;
    }
  }
  ~Pass() { busy_->store(false); }
  Pass(const Pass&) = delete;
  Pass& operator=(const Pass&) = delete;

  /** Slot 0 = the input [N][C][S] transposed to [C][N][S]. */
  void load(const T* input) {
    const size_t C = program_.slotChannels[0], S = program_.slotSpatial[0];
    std::vector<T>& x = slot(0);
    for (size_t c = 0; c < C; c++)
      for (size_t s = 0; s < n_; s++) std::copy_n(input + (s * C + c) * S, S, x.data() + (c * n_ + s) * S);
  }

  /** Runs every op; batch-norms use batch statistics when `training`, else the running statistics in `running`. */
  void forward(const T* params, const T* running, bool training) {
    for (size_t i = 0; i < program_.ops.size(); i++) {
      const Op& op = program_.ops[i];
      const T* x = values_[op.in].data();
      T* y = slot(op.out).data();
      switch (op.kind) {
        case OpKind::Conv: convForward(op, n_, x, params, y, workspace_, threads_); break;
        case OpKind::BatchNorm:
          if (training) batchNormForwardTrain(op, n_, x, params, y, stats_[i], threads_);
          else batchNormForwardEval(op, n_, x, params, running, y, threads_);
          break;
        case OpKind::Relu: reluForward(size(op.out), x, y, threads_); break;
        case OpKind::Activation:
          activationForward(static_cast<ActivationKind>(op.flag), op.epsilon, size(op.out), x, y, threads_);
          break;
        case OpKind::MaxPool:
        case OpKind::AvgPool: poolForward(op, n_, x, y, threads_); break;
        case OpKind::GlobalAvgPool:
        case OpKind::GlobalMaxPool: globalPoolForward(op, n_, x, y, threads_); break;
        case OpKind::Flatten: flattenForward(op, n_, x, y); break;
        case OpKind::Add: {
          const T* x2 = values_[op.in2].data();
          for (size_t k = 0; k < size(op.out); k++) y[k] = x[k] + x2[k];
          break;
        }
      }
    }
  }

  /** Back-propagates `dlogits` ([classes][N]) through every op, writing the parameter gradients into `grad`. */
  void backward(const T* params, std::vector<T> dlogits, T* grad) {
    grads_.resize(values_.size());
    for (size_t s = 1; s < values_.size(); s++) grads_[s].assign(size(static_cast<int32_t>(s)), T(0));
    grads_[program_.logitsSlot()] = std::move(dlogits);
    for (size_t i = program_.ops.size(); i-- > 0;) {
      const Op& op = program_.ops[i];
      const T* x = values_[op.in].data();
      const T* dy = grads_[op.out].data();
      T* dx = op.in == 0 ? nullptr : grads_[op.in].data();  // nothing learns from the input's gradient
      switch (op.kind) {
        case OpKind::Conv: convBackward(op, n_, x, params, dy, dx, grad, workspace_, threads_); break;
        case OpKind::BatchNorm: batchNormBackward(op, n_, x, params, stats_[i], dy, dx, grad, threads_); break;
        case OpKind::Relu:
          if (dx) reluBackward(size(op.out), values_[op.out].data(), dy, dx, threads_);
          break;
        case OpKind::Activation:
          if (dx) {
            activationBackward(static_cast<ActivationKind>(op.flag), op.epsilon, size(op.out), x, values_[op.out].data(), dy,
                               dx, threads_);
          }
          break;
        case OpKind::MaxPool:
        case OpKind::AvgPool:
          if (dx) poolBackward(op, n_, x, dy, dx, threads_);
          break;
        case OpKind::GlobalAvgPool:
        case OpKind::GlobalMaxPool:
          if (dx) globalPoolBackward(op, n_, x, dy, dx, threads_);
          break;
        case OpKind::Flatten:
          if (dx) flattenBackward(op, n_, dy, dx);
          break;
        case OpKind::Add:
          for (int32_t in : {op.in, op.in2}) {
            if (in == 0) continue;
            T* target = grads_[in].data();
            for (size_t k = 0; k < size(op.out); k++) target[k] += dy[k];
          }
          break;
      }
    }
  }

  void updateRunning(T* running, double momentum) const {
    for (size_t i = 0; i < program_.ops.size(); i++) {
      if (program_.ops[i].kind == OpKind::BatchNorm) updateRunningStats(program_.ops[i], n_, stats_[i], momentum, running);
    }
  }

  const std::vector<T>& logits() const { return values_[program_.logitsSlot()]; }

 private:
  size_t size(int32_t slot) const { return program_.slotSize(slot) * n_; }

  /** The slot's buffer at this batch size (in-place relu finds its input's, already sized). */
  std::vector<T>& slot(int32_t index) {
    values_[index].resize(size(index));
    return values_[index];
  }

  const Program& program_;
  size_t n_;
  int threads_;
  std::vector<std::vector<T>>& values_;
  std::vector<std::vector<T>>& grads_;
  std::vector<BatchStats>& stats_;
  ConvWorkspace<T>& workspace_;
  std::atomic<bool>* busy_;
};

void checkLabels(const int32_t* labels, size_t n, size_t classes) {
  for (size_t s = 0; s < n; s++) {
    if (labels[s] < 0 || static_cast<size_t>(labels[s]) >= classes) {
      throw Error("E_DATA", "label " + std::to_string(labels[s]) + " of sample " + std::to_string(s) + " is outside the model's " +
                                std::to_string(classes) + " classes");
    }
  }
}

/** log softmax(z / T) of one sample, in double. */
void logSoftmax(const std::vector<double>& z, double temperature, std::vector<double>& out) {
  const double top = *std::max_element(z.begin(), z.end()) / temperature;
  double sum = 0;
  for (double v : z) sum += std::exp(v / temperature - top);
  const double logSum = top + std::log(sum);
  for (size_t k = 0; k < z.size(); k++) out[k] = z[k] / temperature - logSum;
}

/**
 * The batch's mean loss (see train_net.hpp) and dL/ds into `dlogits` ([classes][N], like the logits). Samples
 * are summed in order, so the loss does not depend on the thread count.
 */
template <typename T>
StepResult lossGradient(const std::vector<T>& logits, size_t classes, size_t n, const int32_t* labels, const LossOptions& options,
                        std::vector<T>& dlogits) {
  const T* teacher = static_cast<const T*>(options.teacher);
  const double ceWeight = teacher ? 1 - options.alpha : 1, T_ = options.temperature;
  const double kdDivisor = options.reduction == KdReduction::BatchMean ? static_cast<double>(n) : static_cast<double>(n * classes);
  const double kdWeight = teacher ? options.alpha * T_ * T_ / kdDivisor : 0;
  std::vector<double> s(classes), t(classes), logQ(classes), logP(classes), logProbs(classes);
  dlogits.assign(classes * n, T(0));
  StepResult result;
  for (size_t j = 0; j < n; j++) {
    for (size_t k = 0; k < classes; k++) s[k] = logits[k * n + j];
    logSoftmax(s, 1, logProbs);
    const size_t label = static_cast<size_t>(labels[j]);
    result.loss += ceWeight * -logProbs[label] / n;
    if (static_cast<size_t>(std::max_element(s.begin(), s.end()) - s.begin()) == label) result.correct++;
    for (size_t k = 0; k < classes; k++) dlogits[k * n + j] = static_cast<T>(ceWeight * (std::exp(logProbs[k]) - (k == label)) / n);
    if (!teacher) continue;
    for (size_t k = 0; k < classes; k++) t[k] = teacher[j * classes + k];
    logSoftmax(t, T_, logP);
    logSoftmax(s, T_, logQ);
    double kl = 0;
    for (size_t k = 0; k < classes; k++) {
      const double p = std::exp(logP[k]);
      if (p > 0) kl += p * (logP[k] - logQ[k]);
      // d/ds_k of KL = (q_k − p_k) / T.
      dlogits[k * n + j] += static_cast<T>(kdWeight * (std::exp(logQ[k]) - p) / T_);
    }
    result.loss += kdWeight * kl;
  }
  return result;
}

void checkBatch(size_t n) {
  if (n == 0) throw argError("train: the batch is empty");
}

}  // namespace

template <typename T>
StepResult computeGradients(const Program& program, const T* params, T* running, double bnMomentum, const T* input, size_t n,
                            const int32_t* labels, const LossOptions& loss, T* grad, int threads, Workspace<T>* workspace) {
  checkBatch(n);
  checkLabels(labels, n, program.classes());
  threads = resolveThreads(threads);
  Workspace<T> local;
  Pass<T> pass(program, n, threads, workspace ? *workspace : local);
  pass.load(input);
  pass.forward(params, nullptr, true);
  std::vector<T> dlogits;
  const StepResult result = lossGradient(pass.logits(), program.classes(), n, labels, loss, dlogits);
  // A diverged step changes nothing: not the gradients' consumers, not the running statistics.
  if (!std::isfinite(result.loss)) throw Error("E_SOLVER", "train: the loss is not finite (diverged); lower the learning rate");
  std::fill(grad, grad + program.paramCount, T(0));
  pass.backward(params, std::move(dlogits), grad);
  if (running) pass.updateRunning(running, bnMomentum);
  return result;
}

template <typename T>
void forwardLogits(const Program& program, const T* params, const T* running, const T* input, size_t n, T* logits, int threads) {
  checkBatch(n);
  Workspace<T> local;
  Pass<T> pass(program, n, resolveThreads(threads), local);
  pass.load(input);
  pass.forward(params, running, false);
  const size_t classes = program.classes();
  const std::vector<T>& out = pass.logits();
  for (size_t j = 0; j < n; j++)
    for (size_t k = 0; k < classes; k++) logits[j * classes + k] = out[k * n + j];
}

void sgdUpdate(float* params, const float* grad, float* velocity, size_t count, const SgdOptions& sgd, int threads) {
  const float lr = static_cast<float>(sgd.learningRate), mu = static_cast<float>(sgd.momentum), decay = static_cast<float>(sgd.weightDecay);
#pragma omp parallel for num_threads(resolveThreads(threads)) schedule(static)
  for (ptrdiff_t i = 0; i < static_cast<ptrdiff_t>(count); i++) {
    const float g = grad[i] + decay * params[i];
    velocity[i] = mu * velocity[i] + g;
    params[i] -= lr * velocity[i];
  }
}

StepResult trainStep(const Program& program, float* params, float* running, float* velocity, double bnMomentum, const float* input,
                     size_t n, const int32_t* labels, const LossOptions& loss, const SgdOptions& sgd, int threads,
                     Workspace<float>& workspace) {
  workspace.paramGrad.resize(program.paramCount);
  float* grad = workspace.paramGrad.data();
  const StepResult result = computeGradients(program, params, running, bnMomentum, input, n, labels, loss, grad, threads, &workspace);
  sgdUpdate(params, grad, velocity, program.paramCount, sgd, threads);
  return result;
}

template StepResult computeGradients<float>(const Program&, const float*, float*, double, const float*, size_t, const int32_t*,
                                            const LossOptions&, float*, int, Workspace<float>*);
template StepResult computeGradients<double>(const Program&, const double*, double*, double, const double*, size_t, const int32_t*,
                                             const LossOptions&, double*, int, Workspace<double>*);
template void forwardLogits<float>(const Program&, const float*, const float*, const float*, size_t, float*, int);
template void forwardLogits<double>(const Program&, const double*, const double*, const double*, size_t, double*, int);

}  // namespace clf::train
