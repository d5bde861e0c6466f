#include <initializer_list>

#include "fp8.h"
#include "gemm_index.h"

extern "C" int fp8k_check_gemm(const fp8k_gemm* p, fp8k_call* call) {
  if (p->m < 1 || p->n < 1 || p->k < 1) return fp8k_fail(call, FP8K_ERR_SHAPE, "gemm needs M, N, K >= 1; got %zu, %zu, %zu", p->m, p->n, p->k);
  size_t mn, mk, nk;
  if (__builtin_mul_overflow(p->m, p->n, &mn) || __builtin_mul_overflow(p->m, p->k, &mk) || __builtin_mul_overflow(p->n, p->k, &nk) ||
      mn > (SIZE_MAX >> 4) || mk > (SIZE_MAX >> 4) || nk > (SIZE_MAX >> 4))
    return fp8k_fail(call, FP8K_ERR_SHAPE, "gemm shape overflows");
  if (p->layout < FP8K_GEMM_NT || p->layout > FP8K_GEMM_TT) return fp8k_fail(call, FP8K_ERR_ARGUMENT, "unknown gemm layout %d", p->layout);
  for (int f : {p->a_format, p->b_format})
    if (f != FP8K_FORMAT_E4M3 && f != FP8K_FORMAT_E5M2) return fp8k_fail(call, FP8K_ERR_ARGUMENT, "unknown format %d", f);
  if (p->a_scale_layout != FP8K_LAYOUT_ROW && (p->a_scale_layout != FP8K_LAYOUT_MN_MAJOR || fp8k_gemm_a_transposed(p)))
    return fp8k_fail(call, FP8K_ERR_ARGUMENT, "A's scales are row-major or, for A [M,K], mn-major");
  if (p->b_scales != FP8K_B_BLOCKS && p->b_scales != FP8K_B_LINES) return fp8k_fail(call, FP8K_ERR_ARGUMENT, "unknown B scaling %d", p->b_scales);
  if (p->accumulate < FP8K_ACC_PROMOTED || p->accumulate > FP8K_ACC_LIMITED) return fp8k_fail(call, FP8K_ERR_ARGUMENT, "unknown accumulation %d", p->accumulate);
  if (p->accumulate == FP8K_ACC_LIMITED) {
    if (p->accumulator_bits < 1 || p->accumulator_bits > 30) return fp8k_fail(call, FP8K_ERR_ARGUMENT, "accumulatorBits must be from 1 to 30; got %d", p->accumulator_bits);
    if (p->promotion_interval != 0 && p->promotion_interval != 32 && p->promotion_interval != 64 && p->promotion_interval != 128)
      return fp8k_fail(call, FP8K_ERR_ARGUMENT, "promotionInterval must be 32, 64 or 128 (one scale block holds whole intervals); got %d", p->promotion_interval);
  }
  if (p->out_dtype != FP8K_F32 && p->out_dtype != FP8K_BF16) return fp8k_fail(call, FP8K_ERR_DTYPE, "gemm output is f32 or bf16");
  return FP8K_OK;
}
