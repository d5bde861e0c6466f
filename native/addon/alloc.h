#pragma once
#include <napi.h>

namespace fp8k::addon {
Napi::Value AllocOutput(const Napi::CallbackInfo& info);
}  // namespace fp8k::addon
