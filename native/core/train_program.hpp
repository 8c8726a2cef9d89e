// A network as the trainer sees it: a flat list of ops over activation "slots", every trainable parameter at an
// offset into one parameter buffer and every batch-norm running statistic at an offset into one state buffer.
//
// Activations live channel-major, [C][N][S] (channel, sample, spatial position h*W+w), so that a convolution over
// the whole batch is one GEMM (Y[Co][N*S] = W[Co][K] * cols[K][N*S]), a dense layer is the same GEMM with S = 1, and
// batch-norm reads each channel as one contiguous run of N*S values. Slot 0 is the input; the last op's output slot
// holds the logits [classes][N].
//
// The TypeScript side (lib/train/program.ts) compiles a Network into this form; decodeProgram checks every index,
// shape and offset so that a malformed program fails with E_ARG instead of reading out of bounds.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace clf::train {

enum class OpKind : int32_t {
  Conv = 0,           // y = W * im2col(x) + b (dense layers are 1x1 convolutions on S = 1)
  BatchNorm = 1,      // training: batch statistics (and a running-statistics update); evaluation: running statistics
  Relu = 2,           // may run in place (in == out)
  MaxPool = 3,        // padding never wins the max
  AvgPool = 4,        // flag = count_include_pad
  GlobalAvgPool = 5,  // [C][N][S] -> [C][N][1]
  GlobalMaxPool = 6,
  Flatten = 7,        // [C][N][S] -> [C*S][N][1], feature index c*S + s (ONNX Flatten of NCHW)
  Add = 8,            // y = x + x2 (the residual join)
  Activation = 9,     // y = f(x) elementwise, f = ActivationKind(flag); LeakyReLU's α in `epsilon`
};

/** The elementwise functions of OpKind::Activation (ReLU has its own in-place op). */
enum class ActivationKind : int32_t {
  LeakyRelu = 0,  // x >= 0 ? x : α x
  Gelu = 1,       // ½ x (1 + erf(x / √2))
  Silu = 2,       // x σ(x)
  Sigmoid = 3,    // σ(x) = 1 / (1 + e^-x)
  Tanh = 4,
};

/** Int32 fields per op in the encoded program, in the order of Op's members. */
constexpr size_t kOpFields = 24;

struct Op {
  OpKind kind;
  int32_t in, in2, out;             // slots; in2 only for Add (else -1)
  int32_t c, h, w;                  // input channels and map size
  int32_t co, ho, wo;               // output channels and map size
  int32_t kh, kw, sh, sw;           // kernel and stride (Conv, pools)
  int32_t pt, pl, pb, pr;           // pads top, left, bottom, right
  int32_t dh, dw;                   // dilations (Conv)
  int32_t weight, bias, aux;        // parameter offsets (-1: none); aux = BN running statistics offset (mean, then var)
  int32_t flag;                     // AvgPool: count_include_pad; Activation: ActivationKind
  double epsilon = 0;               // BatchNorm; Activation: LeakyReLU's α
};

struct Program {
  std::vector<Op> ops;
  std::vector<int32_t> slotChannels;  // C of each slot
  std::vector<int32_t> slotSpatial;   // S of each slot
  size_t paramCount = 0;
  size_t statCount = 0;

  size_t slotSize(int32_t slot) const { return static_cast<size_t>(slotChannels[slot]) * slotSpatial[slot]; }
  int32_t logitsSlot() const { return ops.back().out; }
  size_t classes() const { return static_cast<size_t>(slotChannels[logitsSlot()]); }
  size_t inputSize() const { return slotSize(0); }
};

/**
 * Decodes and validates a program: `fields` holds kOpFields int32 per op, `epsilons` one double per op, `slots` a
 * (C, S) pair per slot. Throws E_ARG naming the op and the problem.
 */
Program decodeProgram(const int32_t* fields, size_t fieldCount, const double* epsilons, size_t epsilonCount,
                      const int32_t* slots, size_t slotFieldCount, size_t paramCount, size_t statCount);

}  // namespace clf::train
