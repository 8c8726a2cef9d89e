#include "core/train_program.hpp"

#include <cmath>
#include <string>

#include "core/error.hpp"

namespace clf::train {

namespace {

const char* kindName(OpKind kind) {
  switch (kind) {
    case OpKind::Conv: return "conv";
    case OpKind::BatchNorm: return "batchnorm";
    case OpKind::Relu: return "relu";
    case OpKind::MaxPool: return "maxpool";
    case OpKind::AvgPool: return "avgpool";
    case OpKind::GlobalAvgPool: return "globalavgpool";
    case OpKind::GlobalMaxPool: return "globalmaxpool";
    case OpKind::Flatten: return "flatten";
    case OpKind::Add: return "add";
    case OpKind::Activation: return "activation";
  }
  return "?";
}

Op decodeOp(const int32_t* f, double epsilon) {
  Op op;
  op.kind = static_cast<OpKind>(f[0]);
  op.in = f[1], op.in2 = f[2], op.out = f[3];
  op.c = f[4], op.h = f[5], op.w = f[6];
  op.co = f[7], op.ho = f[8], op.wo = f[9];
  op.kh = f[10], op.kw = f[11], op.sh = f[12], op.sw = f[13];
  op.pt = f[14], op.pl = f[15], op.pb = f[16], op.pr = f[17];
  op.dh = f[18], op.dw = f[19];
  op.weight = f[20], op.bias = f[21], op.aux = f[22];
  op.flag = f[23];
  op.epsilon = epsilon;
  return op;
}

class Checker {
 public:
  Checker(const Program& program, size_t index, const Op& op) : program_(program), op_(op) {
    where_ = "train program op " + std::to_string(index);
    if (op.kind >= OpKind::Conv && op.kind <= OpKind::Activation) where_ += std::string(" (") + kindName(op.kind) + ")";
  }

  void require(bool condition, const std::string& problem) const {
    if (!condition) throw argError(where_ + ": " + problem);
  }

  /** `slot` exists and holds channels x (h*w). */
  void slot(int32_t slot, int32_t channels, int32_t h, int32_t w, const char* what) const {
    require(slot >= 0 && static_cast<size_t>(slot) < program_.slotChannels.size(), std::string(what) + " slot out of range");
    require(channels > 0 && h > 0 && w > 0, std::string(what) + " dimensions must be positive");
    require(program_.slotChannels[slot] == channels && program_.slotSpatial[slot] == static_cast<int64_t>(h) * w,
            std::string(what) + " slot shape does not match the op");
  }

  /** [offset, offset + length) lies inside a buffer of `size` values (offset -1 allowed when `optional`). */
  void range(int32_t offset, size_t length, size_t size, bool optional, const char* what) const {
    if (optional && offset == -1) return;
    require(offset >= 0 && static_cast<size_t>(offset) + length <= size, std::string(what) + " offset out of range");
  }

 private:
  const Program& program_;
  const Op& op_;
  std::string where_;
};

int64_t windowCount(int32_t size, int32_t kernel, int32_t stride, int32_t padBegin, int32_t padEnd, int32_t dilation) {
  return (static_cast<int64_t>(size) + padBegin + padEnd - static_cast<int64_t>(dilation) * (kernel - 1) - 1) / stride + 1;
}

void checkWindowOp(const Checker& check, const Op& op, bool conv) {
  check.require(op.kh > 0 && op.kw > 0 && op.sh > 0 && op.sw > 0, "kernel and stride must be positive");
  check.require(op.pt >= 0 && op.pl >= 0 && op.pb >= 0 && op.pr >= 0, "pads must not be negative");
  const int32_t dh = conv ? op.dh : 1, dw = conv ? op.dw : 1;
  check.require(dh > 0 && dw > 0, "dilations must be positive");
  if (conv) {
    check.require(op.ho == windowCount(op.h, op.kh, op.sh, op.pt, op.pb, dh) &&
                      op.wo == windowCount(op.w, op.kw, op.sw, op.pl, op.pr, dw),
                  "output size does not follow from kernel, stride, pads and dilation");
  } else {
    // Ceil mode may add one window; every window must start inside the input or its begin padding.
    check.require(op.ho >= 1 && op.wo >= 1 && (op.ho - 1) * op.sh < op.h + op.pt && (op.wo - 1) * op.sw < op.w + op.pl,
                  "output size does not fit the input");
    check.require(op.kh <= op.h + op.pt + op.pb && op.kw <= op.w + op.pl + op.pr, "the window is larger than the padded map");
    check.require(op.pt < op.kh && op.pb < op.kh && op.pl < op.kw && op.pr < op.kw, "pool pads must be smaller than the kernel");
  }
}

void checkOp(const Program& program, size_t index, const Op& op) {
  const Checker check(program, index, op);
  check.require(op.kind >= OpKind::Conv && op.kind <= OpKind::Activation, "unknown op kind " + std::to_string(static_cast<int>(op.kind)));
  check.slot(op.in, op.c, op.h, op.w, "input");
  check.require(op.in2 == -1 || op.kind == OpKind::Add, "only add takes a second input");
  switch (op.kind) {
    case OpKind::Conv: {
      checkWindowOp(check, op, true);
      check.slot(op.out, op.co, op.ho, op.wo, "output");
      check.range(op.weight, static_cast<size_t>(op.co) * op.c * op.kh * op.kw, program.paramCount, false, "weight");
      check.range(op.bias, static_cast<size_t>(op.co), program.paramCount, true, "bias");
      break;
    }
    case OpKind::BatchNorm:
      check.slot(op.out, op.c, op.h, op.w, "output");
      check.require(op.epsilon > 0, "epsilon must be positive");
      check.range(op.weight, op.c, program.paramCount, false, "scale");
      check.range(op.bias, op.c, program.paramCount, false, "shift");
      check.range(op.aux, 2 * static_cast<size_t>(op.c), program.statCount, false, "running statistics");
      break;
    case OpKind::Relu:
      check.slot(op.out, op.c, op.h, op.w, "output");
      break;
    case OpKind::Activation:
      check.slot(op.out, op.c, op.h, op.w, "output");
      check.require(op.flag >= static_cast<int32_t>(ActivationKind::LeakyRelu) &&
                        op.flag <= static_cast<int32_t>(ActivationKind::Tanh),
                    "unknown activation " + std::to_string(op.flag));
      check.require(std::isfinite(op.epsilon), "the activation parameter must be finite");
      break;
    case OpKind::MaxPool:
    case OpKind::AvgPool:
      checkWindowOp(check, op, false);
      check.slot(op.out, op.c, op.ho, op.wo, "output");
      break;
    case OpKind::GlobalAvgPool:
    case OpKind::GlobalMaxPool:
      check.slot(op.out, op.c, 1, 1, "output");
      break;
    case OpKind::Flatten:
      check.slot(op.out, op.c * op.h * op.w, 1, 1, "output");
      break;
    case OpKind::Add:
      check.slot(op.in2, op.c, op.h, op.w, "second input");
      check.slot(op.out, op.c, op.h, op.w, "output");
      check.require(op.out != op.in && op.out != op.in2 && op.in != op.in2, "add needs three distinct slots");
      break;
  }
  check.require(op.out != 0, "no op may write the input slot");
  check.require(op.out == op.in ? op.kind == OpKind::Relu : true, "only relu runs in place");
}

}  // namespace

Program decodeProgram(const int32_t* fields, size_t fieldCount, const double* epsilons, size_t epsilonCount,
                      const int32_t* slots, size_t slotFieldCount, size_t paramCount, size_t statCount) {
  if (fieldCount == 0 || fieldCount % kOpFields != 0) throw argError("train program: ops must hold a positive multiple of 24 fields");
  const size_t count = fieldCount / kOpFields;
  if (epsilonCount != count) throw argError("train program: one epsilon per op is needed");
  if (slotFieldCount < 4 || slotFieldCount % 2 != 0) throw argError("train program: slots must hold (C, S) pairs, at least two slots");
  Program program;
  program.paramCount = paramCount;
  program.statCount = statCount;
  for (size_t s = 0; s < slotFieldCount; s += 2) {
    program.slotChannels.push_back(slots[s]);
    program.slotSpatial.push_back(slots[s + 1]);
  }
  for (size_t i = 0; i < count; i++) {
    Op op = decodeOp(fields + i * kOpFields, epsilons[i]);
    checkOp(program, i, op);
    program.ops.push_back(op);
  }
  if (program.slotSpatial[program.logitsSlot()] != 1) throw argError("train program: the last op must write flat logits [classes][N]");
  return program;
}

}  // namespace clf::train
