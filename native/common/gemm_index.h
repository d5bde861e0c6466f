// SPEC §4: where A(m, k), B(n, k) and their scales lie for each layout, shared by every backend.
#pragma once
#include <stddef.h>

#include "../backend.h"
#include "hd.h"
#include "scale.h"
#include "tiles.h"

#define FP8K_GEMM_BLOCK 128
FP8K_HD int fp8k_gemm_a_transposed(const fp8k_gemm* p) { return p->layout == FP8K_GEMM_TN || p->layout == FP8K_GEMM_TT; }
FP8K_HD int fp8k_gemm_b_transposed(const fp8k_gemm* p) { return p->layout == FP8K_GEMM_NN || p->layout == FP8K_GEMM_TN; }

// A stored [M,K], or [K,M] for 'tn' / 'tt'.
FP8K_HD size_t fp8k_gemm_a_index(const fp8k_gemm* p, size_t m, size_t k) { return fp8k_gemm_a_transposed(p) ? k * p->m + m : m * p->k + k; }
// B stored [N,K], or [K,N] for 'nn' / 'tn'.
FP8K_HD size_t fp8k_gemm_b_index(const fp8k_gemm* p, size_t n, size_t k) { return fp8k_gemm_b_transposed(p) ? k * p->n + n : n * p->k + k; }

FP8K_HD size_t fp8k_gemm_a_scale_index(const fp8k_gemm* p, size_t m, size_t kb) {
  if (fp8k_gemm_a_transposed(p)) return kb * p->m + m;  // 128x1 tiles: [ceil(K/128), M]
  if (p->a_scale_layout == FP8K_LAYOUT_MN_MAJOR) return kb * ((p->m + 3) & ~(size_t)3) + m;
  return m * fp8k_cdiv(p->k, FP8K_GEMM_BLOCK) + kb;
}

FP8K_HD size_t fp8k_gemm_b_scale_index(const fp8k_gemm* p, size_t n, size_t kb) {
  const size_t kbs = fp8k_cdiv(p->k, FP8K_GEMM_BLOCK), nbs = fp8k_cdiv(p->n, FP8K_GEMM_BLOCK);
  const size_t nb = n / FP8K_GEMM_BLOCK;
  if (fp8k_gemm_b_transposed(p)) return p->b_scales == FP8K_B_BLOCKS ? kb * nbs + nb : kb * p->n + n;
  return p->b_scales == FP8K_B_BLOCKS ? nb * kbs + kb : n * kbs + kb;
}

FP8K_HD size_t fp8k_gemm_a_scale_count(const fp8k_gemm* p) {
  const size_t kbs = fp8k_cdiv(p->k, FP8K_GEMM_BLOCK);
  if (!fp8k_gemm_a_transposed(p) && p->a_scale_layout == FP8K_LAYOUT_MN_MAJOR) return kbs * ((p->m + 3) & ~(size_t)3);
  return kbs * p->m;
}

FP8K_HD size_t fp8k_gemm_b_scale_count(const fp8k_gemm* p) {
  const size_t kbs = fp8k_cdiv(p->k, FP8K_GEMM_BLOCK);
  return kbs * (p->b_scales == FP8K_B_BLOCKS ? fp8k_cdiv(p->n, FP8K_GEMM_BLOCK) : p->n);
}

#ifdef __cplusplus
extern "C" {
#endif
// FP8K_OK, or FP8K_ERR_ARGUMENT / FP8K_ERR_SHAPE with the message in call.
int fp8k_check_gemm(const fp8k_gemm* p, fp8k_call* call);
#ifdef __cplusplus
}
#endif
