// Output buffers for large results: 64-byte aligned (whole cache lines, so SIMD kernels can stream
// full lines), on huge pages where the OS allows, and not zero-filled (the operation writes every
// byte; zeroing would be a second pass).
#include <stdlib.h>
#include <sys/mman.h>

#include "alloc.h"
#include "args.h"

namespace fp8k::addon {

// (bytes) -> ArrayBuffer, freed when garbage-collected.
Napi::Value AllocOutput(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t bytes = size_arg(info, 0, "bytes");
  void* p = nullptr;
  // From 2 MiB up: 2 MiB aligned and advised onto transparent huge pages (Linux's default policy
  // is madvise). The transposed writes of castTranspose touch 16 pages 4 KiB apart per 64 x 16
  // piece; with 4 KiB pages every one is a TLB miss (castTranspose bf16 [4096, 7168] 0.86-0.96
  // of the time with 4 KiB pages, quantize 0.92-0.96). Where the advice is refused nothing changes.
  const size_t huge = size_t(2) << 20;
  const bool big = bytes >= huge;
  if (posix_memalign(&p, big ? huge : 64, bytes ? bytes : 64) != 0) fail(env, FP8K_ERR_OUT_OF_MEMORY, "cannot allocate " + std::to_string(bytes) + " bytes");
#ifdef MADV_HUGEPAGE
  if (big) madvise(p, bytes, MADV_HUGEPAGE);
#endif
  return Napi::ArrayBuffer::New(env, p, bytes, [](Napi::Env, void* data) { free(data); });
}

}  // namespace fp8k::addon
