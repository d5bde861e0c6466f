// Output buffers for large results: 64-byte aligned (whole cache lines, so SIMD kernels can stream
// full lines) and not zero-filled (the operation writes every byte; zeroing would be a second pass).
#include <stdlib.h>

#include "alloc.h"
#include "args.h"

namespace fp8k::addon {

// (bytes) -> ArrayBuffer, freed when garbage-collected.
Napi::Value AllocOutput(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t bytes = size_arg(info, 0, "bytes");
  void* p = nullptr;
  if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0) fail(env, FP8K_ERR_OUT_OF_MEMORY, "cannot allocate " + std::to_string(bytes) + " bytes");
  return Napi::ArrayBuffer::New(env, p, bytes, [](Napi::Env, void* data) { free(data); });
}

}  // namespace fp8k::addon
