// The module: one export per binding. Context-aware (no global JS state), so it loads in worker_threads.
#include <napi.h>

#include "../backend.h"
#include "alloc.h"
#include "cast.h"
#include "device.h"
#include "info.h"
#include "quant.h"

namespace fp8k::addon {

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("abiVersion", Napi::Number::New(env, FP8K_ABI_VERSION));
  exports.Set("backends", Napi::Function::New(env, Backends));
  exports.Set("loadPlugin", Napi::Function::New(env, LoadPlugin));
  exports.Set("cudaDriver", Napi::Function::New(env, CudaDriver));
  exports.Set("cpuSimd", Napi::Function::New(env, CpuSimd));
  exports.Set("benchCopy", Napi::Function::New(env, BenchCopy));
  exports.Set("isDetached", Napi::Function::New(env, IsDetached));
  exports.Set("allocOutput", Napi::Function::New(env, AllocOutput));
  exports.Set("castToFp8", Napi::Function::New(env, CastToFp8));
  exports.Set("castFromFp8", Napi::Function::New(env, CastFromFp8));
  exports.Set("convert", Napi::Function::New(env, Convert));
  exports.Set("quantize", Napi::Function::New(env, Quantize));
  exports.Set("dequantize", Napi::Function::New(env, Dequantize));
  exports.Set("castTranspose", Napi::Function::New(env, CastTranspose));
  exports.Set("deviceAlloc", Napi::Function::New(env, DeviceAlloc));
  exports.Set("deviceFree", Napi::Function::New(env, DeviceFree));
  exports.Set("deviceCopy", Napi::Function::New(env, DeviceCopy));
  exports.Set("streamCreate", Napi::Function::New(env, StreamCreate));
  exports.Set("streamSync", Napi::Function::New(env, StreamSync));
  return exports;
}

NODE_API_MODULE(fp8kit, Init)

}  // namespace fp8k::addon
