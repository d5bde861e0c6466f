// The module: one export per binding. Context-aware (no global JS state), so it loads in worker_threads.
#include <napi.h>

#include "../backend.h"
#include "alloc.h"
#include "cast.h"
#include "device.h"
#include "dl.h"
#include "gemm.h"
#include "info.h"
#include "job.h"
#include "moe.h"
#include "mpi.h"
#include "quant.h"

namespace fp8k::addon {

// No C++ exception leaves a binding as anything but an Error with a code: node-addon-api turns a
// Napi::Error into a JavaScript exception, and would let anything else escape and abort the process.
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
static Napi::Value binding(const Napi::CallbackInfo& info) {
  try {
    return F(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw status_error(info.Env(), FP8K_ERR_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    throw status_error(info.Env(), FP8K_ERR_INTERNAL, e.what());
  }
}

template <Napi::Value (*F)(const Napi::CallbackInfo&)>
static void add(Napi::Env env, Napi::Object exports, const char* name) {
  exports.Set(name, Napi::Function::New(env, binding<F>, name));
}

// Node unloads an addon when the last environment that loaded it goes away (a worker that exits, with
// the main thread never having loaded fp8kit). The cached output buffers, the cpu backend's threads and
// the CUDA plugin outlive any one environment, so the library stays loaded until the process ends.
static void pin_library() { dl::pin(reinterpret_cast<const void*>(&pin_library)); }

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  pin_library();
  exports.Set("abiVersion", Napi::Number::New(env, FP8K_ABI_VERSION));
  add<Backends>(env, exports, "backends");
  add<LoadPlugin>(env, exports, "loadPlugin");
  add<CudaDriver>(env, exports, "cudaDriver");
  add<CpuSimd>(env, exports, "cpuSimd");
  add<BenchCopy>(env, exports, "benchCopy");
  add<BenchPeak>(env, exports, "benchPeak");
  add<IsDetached>(env, exports, "isDetached");
  add<IsOutput>(env, exports, "isOutput");
  add<AllocOutput>(env, exports, "allocOutput");
  add<MemoryStats>(env, exports, "memoryStats");
  add<ReleaseMemory>(env, exports, "releaseMemory");
  add<CastToFp8>(env, exports, "castToFp8");
  add<CastFromFp8>(env, exports, "castFromFp8");
  add<Convert>(env, exports, "convert");
  add<Quantize>(env, exports, "quantize");
  add<Dequantize>(env, exports, "dequantize");
  add<CastTranspose>(env, exports, "castTranspose");
  add<Gemm>(env, exports, "gemm");
  add<PackBBytes>(env, exports, "packBBytes");
  add<PackB>(env, exports, "packB");
  add<Route>(env, exports, "route");
  add<DispatchLayout>(env, exports, "dispatchLayout");
  add<CopyRows>(env, exports, "copyRows");
  add<ReduceRows>(env, exports, "reduceRows");
  add<DeviceAlloc>(env, exports, "deviceAlloc");
  add<DeviceFree>(env, exports, "deviceFree");
  add<DeviceCopy>(env, exports, "deviceCopy");
  add<StreamCreate>(env, exports, "streamCreate");
  add<StreamSync>(env, exports, "streamSync");
  add<MpiLoad>(env, exports, "mpiLoad");
  add<MpiComms>(env, exports, "mpiComms");
  add<MpiRank>(env, exports, "mpiRank");
  add<MpiExchange>(env, exports, "mpiExchange");
  add<MpiShutdown>(env, exports, "mpiShutdown");
  return exports;
}

NODE_API_MODULE(fp8kit, Init)

}  // namespace fp8k::addon
