// SPEC §4, one output element at a time (native/common/gemm_modes.h holds each mode as SPEC states it).
#include "../common/gemm_modes.h"
#include "ref.h"

namespace fp8k::ref {

int gemm(const uint8_t* a, const float* sa, const uint8_t* b, const float* sb, const float* c, void* d, const fp8k_gemm* p,
         fp8k_call* call) {
  if (int s = fp8k_check_gemm(p, call)) return s;
  const fp8k_gemm_operands o{p, a, b, sa, sb};
  for (size_t m = 0; m < p->m; m++)
    for (size_t n = 0; n < p->n; n++) store_f32(d, p->out_dtype, m * p->n + n, fp8k_gemm_element(o, c, m, n));
  return FP8K_OK;
}

}  // namespace fp8k::ref
