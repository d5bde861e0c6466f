#pragma once
#include <napi.h>

namespace fp8k::addon {
Napi::Value Gemm(const Napi::CallbackInfo& info);
Napi::Value PackBBytes(const Napi::CallbackInfo& info);
Napi::Value PackB(const Napi::CallbackInfo& info);
}  // namespace fp8k::addon
