// cuda-emu's gemm: native/cuda/gemm.cuh's kernel on the CPU. A file of its own so that the kernel-level
// test drivers, which link backend.cc, do not compile the GEMM kernels too.
#include "../backend.h"
#include "../common/gemm_packed.h"
#include "../cuda/gemm.cuh"
#include "guarded.h"

int fp8k_emu_gemm(const uint8_t* a, const float* sa, const uint8_t* b, const float* sb, const float* c, void* d, const fp8k_gemm* p,
                  fp8k_call* call) {
  if (int s = fp8k::cuda::gemm_refuse(*p, call)) return s;
  // The emulator's device memory is the host's: the header is read where the GPU backend cannot.
  if (p->b_packed)
    if (int s = fp8k_packed_check(b, fp8k::cuda::kGemmPackTag, p, call)) return s;
  return fp8k::emu::guarded(call, "gemm", [&] { fp8k::cuda::gemm(a, sa, b, sb, c, d, *p, nullptr); });
}

size_t fp8k_emu_pack_b_bytes(const fp8k_gemm* p) { return fp8k::cuda::gemm_packed(*p).bytes; }

int fp8k_emu_pack_b(const uint8_t* b, const float* sb, const fp8k_gemm* p, uint8_t* packed, fp8k_call* call) {
  if (int s = fp8k::cuda::gemm_refuse(*p, call)) return s;
  fp8k_packed_init(packed, fp8k::cuda::kGemmPackTag, p, fp8k::cuda::gemm_packed(*p).bytes);
  return fp8k::emu::guarded(call, "packWeights", [&] { fp8k::cuda::gemm_pack_b(b, sb, *p, packed, nullptr); });
}
