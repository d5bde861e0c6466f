#pragma once
#include <napi.h>

#include "../common/fp8.h"

namespace fp8k::addon {
Napi::Value CastToFp8(const Napi::CallbackInfo& info);
Napi::Value CastFromFp8(const Napi::CallbackInfo& info);
Napi::Value Convert(const Napi::CallbackInfo& info);
}  // namespace fp8k::addon
