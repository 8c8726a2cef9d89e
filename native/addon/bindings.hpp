// Each bind_*.cpp adds one group of functions to the addon's exports. Every heavy function is exported twice:
// `name` (returns a Promise; work runs off the JS thread) and `nameSync`.
#pragma once
#include <napi.h>

namespace clf::addon {

void registerDevice(Napi::Env env, Napi::Object exports);    // bind_device.cpp: build info, threads, CUDA devices
void registerEmd(Napi::Env env, Napi::Object exports);       // bind_emd.cpp: exact OT
void registerSinkhorn(Napi::Env env, Napi::Object exports);  // bind_sinkhorn.cpp: entropic OT
void registerLinalg(Napi::Env env, Napi::Object exports);    // bind_linalg.cpp: GEMM, pairwise distances, Gram, CKA
void registerCla(Napi::Env env, Napi::Object exports);       // bind_cla.cpp: the cross-layer alignment DP
void registerStats(Napi::Env env, Napi::Object exports);     // bind_stats.cpp: streaming statistics accumulators
void registerCuda(Napi::Env env, Napi::Object exports);      // bind_cuda.cpp: GPU kernels (CUDA builds only)
void registerTrain(Napi::Env env, Napi::Object exports);     // bind_train.cpp: finetuning / distillation steps
void registerMemory(Napi::Env env, Napi::Object exports);    // bind_memory.cpp: the allocator's mmap threshold

}  // namespace clf::addon
