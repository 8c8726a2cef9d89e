// The JS shape of a Sinkhorn call, shared by the CPU binding (bind_sinkhorn.cpp) and the GPU one (bind_cuda.cpp).
#pragma once
#include <napi.h>

#include "core/sinkhorn.hpp"

namespace clf::addon {

/**
 * { reg, regMode: 'absolute' | 'median' | 'max', maxIterations, tolerance, checkEvery,
 *   epsilonScaling: 'auto' | 'on' | 'off', threads, throwOnNonConvergence } -> SinkhornOptions (E_ARG when malformed).
 */
SinkhornOptions sinkhornOptionsFrom(const Napi::Value& value);

/** { plan, f, g, iterations, error, converged, cost, epsilon, logSteps }. */
Napi::Object sinkhornResultObject(Napi::Env env, const SinkhornResult& result, const Napi::Value& plan);

}  // namespace clf::addon
