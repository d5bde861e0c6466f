// cuda-emu's gemm: native/cuda/gemm.cuh's kernel on the CPU. A file of its own so that the kernel-level
// test drivers, which link backend.cc, do not compile the GEMM kernels too.
#include "../backend.h"
#include "../cuda/gemm.cuh"
#include "guarded.h"

int fp8k_emu_gemm(const uint8_t* a, const float* sa, const uint8_t* b, const float* sb, const float* c, void* d, const fp8k_gemm* p,
                  fp8k_call* call) {
  if (int s = fp8k_check_gemm(p, call)) return s;
  if (int s = fp8k::cuda::gemm_refuse(*p, call)) return s;
  return fp8k::emu::guarded(call, "gemm", [&] { fp8k::cuda::gemm(a, sa, b, sb, c, d, *p, nullptr); });
}
