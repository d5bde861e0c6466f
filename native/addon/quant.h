#pragma once
#include <napi.h>

namespace fp8k::addon {
Napi::Value Quantize(const Napi::CallbackInfo& info);
Napi::Value Dequantize(const Napi::CallbackInfo& info);
Napi::Value CastTranspose(const Napi::CallbackInfo& info);
}  // namespace fp8k::addon
