// Bindings of the `mpi` transport (SPEC §8): libfp8kit_mpi.so opened at run time, its communicators,
// and exchanges run on the libuv pool (the library's MPI thread does the MPI calls).
#pragma once
#include <napi.h>

namespace fp8k::addon {
Napi::Value MpiLoad(const Napi::CallbackInfo& info);
Napi::Value MpiComms(const Napi::CallbackInfo& info);
Napi::Value MpiRank(const Napi::CallbackInfo& info);
Napi::Value MpiExchange(const Napi::CallbackInfo& info);
Napi::Value MpiShutdown(const Napi::CallbackInfo& info);
}  // namespace fp8k::addon
