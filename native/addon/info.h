#pragma once
#include <napi.h>

namespace fp8k::addon {
Napi::Value Backends(const Napi::CallbackInfo& info);
Napi::Value LoadPlugin(const Napi::CallbackInfo& info);
Napi::Value CudaDriver(const Napi::CallbackInfo& info);
Napi::Value CpuSimd(const Napi::CallbackInfo& info);
Napi::Value BenchCopy(const Napi::CallbackInfo& info);
Napi::Value BenchPeak(const Napi::CallbackInfo& info);
Napi::Value IsDetached(const Napi::CallbackInfo& info);
Napi::Value IsOutput(const Napi::CallbackInfo& info);
}  // namespace fp8k::addon
