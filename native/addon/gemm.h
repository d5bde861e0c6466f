#pragma once
#include <napi.h>

namespace fp8k::addon {
Napi::Value Gemm(const Napi::CallbackInfo& info);
}  // namespace fp8k::addon
