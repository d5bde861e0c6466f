// A's fp8 rows as bf16 for the vdpbf16ps and AMX tiers: 64 codes at a time through the byte tables
// (widen_run) where a row's K codes lie side by side, the table one code at a time where A is stored
// [K, M]; each K block times its scale's power of two where the tiers fold the scales.
#include <string.h>

#include "bf16_widen.h"

namespace fp8k::cpu {

namespace {

// Rows stored [M, K]: 64 codes a load, the tail masked (code 0 is +0).
FP8K_TARGET_AVX512_BF16 void rows_contiguous(const fp8k_gemm* p, const uint8_t* a, const float* sa, const Bf16Tables& w, size_t m0,
                                             size_t rows, size_t k0, size_t k1, size_t width, bool fold, uint16_t* out, size_t pitch) {
  const Regs t = regs(w);
  for (size_t r = 0; r < rows; r++) {
    uint16_t* o = out + r * pitch;
    const size_t m = m0 + r;
    if (m >= p->m) {
      memset(o, 0, width * 2);
      continue;
    }
    const uint8_t* src = a + m * p->k;
    for (size_t k = k0; k - k0 < width; k += 64) {
      const size_t n = k < k1 ? (k1 - k < 64 ? k1 - k : 64) : 0;
      const __m512i codes = _mm512_maskz_loadu_epi8(n == 64 ? ~0ull : (1ull << n) - 1, src + k);
      __m512i v0, v1;
      widen_run(t, codes, &v0, &v1);
      if (fold) {
        const __m512i shift = _mm512_set1_epi16((short)(fold_exponent(sa[fp8k_gemm_a_scale_index(p, m, k / FP8K_GEMM_BLOCK)]) * 128));
        v0 = fold_vec(v0, shift);
        v1 = fold_vec(v1, shift);
      }
      const size_t left = width - (k - k0);
      _mm512_mask_storeu_epi16(o + (k - k0), left >= 32 ? 0xFFFFFFFFu : (1u << left) - 1, v0);
      if (left > 32) _mm512_mask_storeu_epi16(o + (k - k0) + 32, left >= 64 ? 0xFFFFFFFFu : (1u << (left - 32)) - 1, v1);
    }
  }
}

// Rows stored [K, M] (layouts 'tn', 'tt'): a row's codes are M apart.
void rows_strided(const fp8k_gemm* p, const uint8_t* a, const float* sa, const Bf16Tables& w, size_t m0, size_t rows, size_t k0, size_t k1,
                  size_t width, bool fold, uint16_t* out, size_t pitch) {
  for (size_t r = 0; r < rows; r++) {
    uint16_t* o = out + r * pitch;
    const size_t m = m0 + r;
    for (size_t k = k0; k - k0 < width; k++) {
      uint16_t v = m < p->m && k < k1 ? w.full[a[fp8k_gemm_a_index(p, m, k)]] : 0;
      if (fold && (v & 0x7FFF)) v = (uint16_t)(v + fold_exponent(sa[fp8k_gemm_a_scale_index(p, m, k / FP8K_GEMM_BLOCK)]) * 128);
      o[k - k0] = v;
    }
  }
}

}  // namespace

void widen_a(const fp8k_gemm* p, const uint8_t* a, const float* sa, const Bf16Tables& w, size_t m0, size_t rows, size_t k0, size_t k1,
             size_t width, bool fold, uint16_t* out, size_t pitch) {
  (fp8k_gemm_a_transposed(p) ? rows_strided : rows_contiguous)(p, a, sa, w, m0, rows, k0, k1, width, fold, out, pitch);
}

bool a_scales_fold(const fp8k_gemm* p, const float* sa) {
  const size_t kbs = fp8k_cdiv(p->k, FP8K_GEMM_BLOCK);
  for (size_t m = 0; m < p->m; m++)
    for (size_t kb = 0; kb < kbs; kb++)
      if (fold_exponent(sa[fp8k_gemm_a_scale_index(p, m, kb)]) == kNoFold) return false;
  return true;
}

}  // namespace fp8k::cpu
