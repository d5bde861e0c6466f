// What the vdpbf16ps and AMX tiers share: fp8 codes to bf16 (exact: fp8 values are bf16 values), a
// packed k pair widened in registers, and the store of finished output rows.
#pragma once
#include <immintrin.h>

#include "../bf16_avx512.h"
#include "../simd.h"
#include "tiers.h"

// GCC 12 warns of the undefined vectors inside the inlined bf16 rounding (a known false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace fp8k::cpu {

// The bf16 bits of every code: full for A (scalar packing), the low and high bytes of codes 0…127 for B.
struct Bf16Tables {
  uint16_t full[256];
  alignas(64) uint8_t lo[128], hi[128];
  explicit Bf16Tables(int format) {
    for (int c = 0; c < 256; c++) full[c] = (uint16_t)(fp8k_f32_bits(fp8k_to_f32((uint8_t)c, format)) >> 16);  // exact
    for (int c = 0; c < 128; c++) {
      lo[c] = (uint8_t)full[c];
      hi[c] = (uint8_t)(full[c] >> 8);
    }
  }
};

struct Regs {
  __m512i lo0, lo1, hi0, hi1, sign;
};

inline FP8K_TARGET_AVX512_BF16 Regs regs(const Bf16Tables& w) {
  return {_mm512_load_si512(w.lo), _mm512_load_si512(w.lo + 64), _mm512_load_si512(w.hi), _mm512_load_si512(w.hi + 64), _mm512_set1_epi8((char)0x80)};
}

// One packed k pair (64 codes) as bf16: b0 the pairs of columns 0-15, b1 of 16-31. Two 128-entry
// byte tables through vpermi2b give each code's low and high byte, the sign is or'ed back, and the
// in-lane unpack interleaves them into the order pair_byte stored.
inline FP8K_TARGET_AVX512_BF16 void widen_pair(const Regs& t, const uint8_t* pair, __m512bh* b0, __m512bh* b1) {
  const __m512i codes = _mm512_loadu_si512(pair);
  const __m512i lo = _mm512_permutex2var_epi8(t.lo0, codes, t.lo1);
  const __m512i hi = _mm512_ternarylogic_epi32(_mm512_permutex2var_epi8(t.hi0, codes, t.hi1), codes, t.sign, 0xF8);  // hi | (codes & 0x80)
  *b0 = (__m512bh)_mm512_unpacklo_epi8(lo, hi);
  *b1 = (__m512bh)_mm512_unpackhi_epi8(lo, hi);
}

// Rows [m0, m0 + rows) × panel pn of the output from acc ([rows][32] f32), C added.
inline FP8K_TARGET_AVX512_BF16 void store_rows(const fp8k_gemm* p, const float* acc, size_t m0, size_t rows, size_t pn, const float* c, void* d) {
  const size_t n0 = pn * kPanelCols, width = n0 + kPanelCols <= p->n ? kPanelCols : p->n - n0;
  for (size_t r = 0; r < rows; r++)
    for (size_t h = 0; h < kPanelCols && h < width; h += 16) {
      const __mmask16 mask = (__mmask16)(width - h >= 16 ? 0xFFFF : (1u << (width - h)) - 1);
      const size_t i = (m0 + r) * p->n + n0 + h;
      __m512 v = _mm512_load_ps(acc + r * kPanelCols + h);
      if (p->has_c) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, c + i));
      if (p->out_dtype == FP8K_BF16)
        _mm256_mask_storeu_epi16(static_cast<uint16_t*>(d) + i, mask, _mm512_cvtepi32_epi16(bf16_round_avx512(_mm512_castps_si512(v))));
      else
        _mm512_mask_storeu_ps(static_cast<float*>(d) + i, mask, v);
    }
}

}  // namespace fp8k::cpu
