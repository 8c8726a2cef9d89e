// The GPU kernels of native/cuda, exported only by the CUDA build (clafusion_cuda.node); the CPU build registers
// nothing here. lib/solvers/device.ts validates every argument before these are called.
//   cudaInfo() -> { runtimeVersion, driverVersion, devices: [{ index, name, computeCapability, multiprocessors,
//                   totalMemoryBytes, freeMemoryBytes }] }
//   cudaSinkhorn[Sync](a: Float64Array, b: Float64Array, M: Float32Array, options)
//       -> { plan: Float32Array, f, g: Float64Array, iterations, error, converged, cost, epsilon, logSteps }
//   cudaPairwiseDistances[Sync](X: Float32Array, n, Y: Float32Array, m, d, metric) -> Float32Array (n x m)
#include "addon/bindings.hpp"

#ifdef CLAFUSION_WITH_CUDA
#include <memory>
#include <string>

#include "addon/napi_job.hpp"
#include "addon/sinkhorn_js.hpp"
#include "core/distance.hpp"
#include "core/error.hpp"
#include "core/sinkhorn.hpp"
#include "cuda/device.hpp"
#include "cuda/distance_cuda.hpp"
#include "cuda/sinkhorn_cuda.hpp"
#endif

namespace clf::addon {

#ifdef CLAFUSION_WITH_CUDA
namespace {

Napi::Value cudaInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("runtimeVersion", Napi::Number::New(env, cuda::runtimeVersion()));
  out.Set("driverVersion", Napi::Number::New(env, cuda::driverVersion()));
  const int count = cuda::deviceCount();
  Napi::Array devices = Napi::Array::New(env, count);
  for (int index = 0; index < count; ++index) {
    cuda::DeviceInfo device;
    try {
      device = cuda::deviceInfo(index);
    } catch (const clf::Error& e) {
      throw codedError(env, e.code(), e.what());
    }
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("index", Napi::Number::New(env, device.index));
    entry.Set("name", Napi::String::New(env, device.name));
    entry.Set("computeCapability",
              Napi::String::New(env, std::to_string(device.computeMajor) + "." + std::to_string(device.computeMinor)));
    entry.Set("multiprocessors", Napi::Number::New(env, device.multiprocessors));
    entry.Set("totalMemoryBytes", Napi::Number::New(env, static_cast<double>(device.totalMemoryBytes)));
    entry.Set("freeMemoryBytes", Napi::Number::New(env, static_cast<double>(device.freeMemoryBytes)));
    devices.Set(static_cast<uint32_t>(index), entry);
  }
  out.Set("devices", devices);
  return out;
}

Napi::Value cudaSinkhornImpl(const Napi::CallbackInfo& info, bool async) {
  Napi::Env env = info.Env();
  Span<double> a = typedSpan<double>(info[0], "a");
  Span<double> b = typedSpan<double>(info[1], "b");
  Span<float> cost = typedSpan<float>(info[2], "M");
  if (cost.length != a.length * b.length) throw codedError(env, "E_ARG", "cudaSinkhorn: M must have a.length x b.length elements");
  SinkhornOptions solverOptions = sinkhornOptionsFrom(info[3]);  // epsilonScaling and threads do not apply on the GPU

  auto plan = newTyped<float>(env, cost.length);
  float* planData = plan.Data();
  Pins pins;
  pins.add(info[0]);
  pins.add(info[1]);
  pins.add(info[2]);
  auto result = std::make_shared<SinkhornResult>();
  Kept planRef = keep(plan);
  return runJob(
      env, async, std::move(pins),
      [a, b, cost, planData, solverOptions, result]() mutable {
        // The kernels take ε itself; Median / Max are resolved here, on the host, exactly as the CPU solver does.
        solverOptions.reg = sinkhornEpsilon(cost.data, cost.length, solverOptions.reg, solverOptions.regMode);
        solverOptions.regMode = RegMode::Absolute;
        *result = cuda::sinkhorn(a.data, a.length, b.data, b.length, cost.data, planData, solverOptions);
      },
      [result, planRef](Napi::Env e) { return sinkhornResultObject(e, *result, planRef->Value()); });
}

DistanceMetric metricArgument(const Napi::Value& value) {
  const std::string name = value.IsString() ? value.As<Napi::String>().Utf8Value() : "";
  if (name == "sqeuclidean") return DistanceMetric::SqEuclidean;
  if (name == "euclidean") return DistanceMetric::Euclidean;
  if (name == "cosine") return DistanceMetric::Cosine;
  throw codedError(value.Env(), "E_ARG", "cudaPairwiseDistances: metric must be 'sqeuclidean', 'euclidean' or 'cosine'");
}

Napi::Value cudaPairwiseDistancesImpl(const Napi::CallbackInfo& info, bool async) {
  Napi::Env env = info.Env();
  Span<float> x = typedSpan<float>(info[0], "X");
  const size_t n = sizeArgument(info[1], "cudaPairwiseDistances: n");
  Span<float> y = typedSpan<float>(info[2], "Y");
  const size_t m = sizeArgument(info[3], "cudaPairwiseDistances: m");
  const size_t d = sizeArgument(info[4], "cudaPairwiseDistances: d");
  const DistanceMetric metric = metricArgument(info[5]);
  if (x.length != checkedProduct(env, n, d, "n x d") || y.length != checkedProduct(env, m, d, "m x d")) throw codedError(env, "E_ARG", "cudaPairwiseDistances: X must be n x d and Y m x d");
  auto distances = newTyped<float>(env, checkedProduct(env, n, m, "n x m"));
  float* out = distances.Data();
  Pins pins;
  pins.add(info[0]);
  pins.add(info[2]);
  return runJob(
      env, async, std::move(pins), [x, n, y, m, d, metric, out] { cuda::pairwiseDistances(x.data, n, y.data, m, d, metric, out); },
      returning(distances));
}

}  // namespace

void registerCuda(Napi::Env env, Napi::Object exports) {
  exportGuarded<cudaInfo>(env, exports, "cudaInfo");
  exportTwins<cudaSinkhornImpl>(env, exports, "cudaSinkhorn");
  exportTwins<cudaPairwiseDistancesImpl>(env, exports, "cudaPairwiseDistances");
}
#else
void registerCuda(Napi::Env, Napi::Object) {}
#endif

}  // namespace clf::addon
