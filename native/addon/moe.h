// Bindings for SPEC §5, §7 and the data movement of §8: route, dispatchLayout, copyRows, reduceRows.
#pragma once
#include <napi.h>

namespace fp8k::addon {
Napi::Value Route(const Napi::CallbackInfo& info);
Napi::Value DispatchLayout(const Napi::CallbackInfo& info);
Napi::Value CopyRows(const Napi::CallbackInfo& info);
Napi::Value ReduceRows(const Napi::CallbackInfo& info);
}  // namespace fp8k::addon
