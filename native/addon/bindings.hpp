// Each bind_*.cpp adds one group of functions to the addon's exports. Every heavy function is exported twice:
// `name` (returns a Promise; work runs off the JS thread) and `nameSync`.
#pragma once
#include <napi.h>

namespace clf::addon {

void registerOt(Napi::Env env, Napi::Object exports);       // bind_ot.cpp: emd, sinkhorn
void registerLinalg(Napi::Env env, Napi::Object exports);   // bind_linalg.cpp: gemm, pairwise distances, Gram, CKA
void registerCla(Napi::Env env, Napi::Object exports);      // bind_cla.cpp: the cross-layer alignment DP
void registerDevice(Napi::Env env, Napi::Object exports);   // bind_device.cpp: build info, threads, CUDA devices

}  // namespace clf::addon
