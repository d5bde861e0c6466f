// What the vdpbf16ps and AMX tiers share: fp8 codes to bf16 (exact: fp8 values are bf16 values) through
// one pair of byte tables, a packed k pair or a run of 64 codes widened in registers, A's rows widened
// into a buffer (widen_a.cc), B's pairs as bf16 tiles (widen_b.cc), the promotion of a block's partial
// sums, and the store of finished output rows.
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

// K as the AMX tiles and the bf16 B tiles take it: steps of 32 (16 pairs).
constexpr size_t kStepK = 32, kStepPairs = kStepK / 2;

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

// 64 consecutive codes as 64 bf16: v0 codes 0-31, v1 32-63. The codes are first put in the order that
// the in-lane unpack of widen_pair undoes (byte 16L + j holds code 8L + j, byte 16L + 8 + j code 32 + 8L + j).
inline FP8K_TARGET_AVX512_BF16 void widen_run(const Regs& t, __m512i codes, __m512i* v0, __m512i* v1) {
  alignas(64) static const uint8_t order[64] = {0,  1,  2,  3,  4,  5,  6,  7,  32, 33, 34, 35, 36, 37, 38, 39, 8,  9,  10, 11, 12, 13,
                                                14, 15, 40, 41, 42, 43, 44, 45, 46, 47, 16, 17, 18, 19, 20, 21, 22, 23, 48, 49, 50, 51,
                                                52, 53, 54, 55, 24, 25, 26, 27, 28, 29, 30, 31, 56, 57, 58, 59, 60, 61, 62, 63};
  codes = _mm512_permutexvar_epi8(_mm512_load_si512(order), codes);
  const __m512i lo = _mm512_permutex2var_epi8(t.lo0, codes, t.lo1);
  const __m512i hi = _mm512_ternarylogic_epi32(_mm512_permutex2var_epi8(t.hi0, codes, t.hi1), codes, t.sign, 0xF8);
  *v0 = _mm512_unpacklo_epi8(lo, hi);
  *v1 = _mm512_unpackhi_epi8(lo, hi);
}

// bf16 values times powers of two, exactly: each nonzero value's exponent field raised by e (a lane of
// `shift`, already e << 7); zeros stay zero. The caller keeps the results normal (fold_exponent).
inline FP8K_TARGET_AVX512_BF16 __m512i fold_vec(__m512i v, __m512i shift) {
  return _mm512_mask_add_epi16(v, _mm512_test_epi16_mask(v, _mm512_set1_epi16(0x7FFF)), v, shift);
}

// A scale that can be folded into an operand: a power of two 2^e with |e| <= 30, so every fp8 value
// (e4m3 from 2^-9, e5m2 from 2^-16, to 57344) times two such scales, and a sum of up to 2^24 of their
// products, stays a normal f32 (the tiles flush subnormals). Returns e, or kNoFold.
constexpr int kNoFold = 1000;
inline int fold_exponent(float s) {
  const uint32_t bits = fp8k_f32_bits(s);
  const int e = (int)((bits >> 23) & 0xFF) - 127;
  return (bits & 0x807FFFFFu) == 0 && e >= -30 && e <= 30 ? e : kNoFold;
}

// Rows [m0, m0 + rows) of A, K range [k0, k1), as bf16 rows `pitch` elements apart: out[r·pitch + k − k0],
// zero from k1 − k0 up to `width` and in rows at or past M. With `fold` (k0 a multiple of 128, every
// scale a power of two fold_exponent takes), each element times its 1×128 scale.
void widen_a(const fp8k_gemm* p, const uint8_t* a, const float* sa, const Bf16Tables& w, size_t m0, size_t rows, size_t k0, size_t k1,
             size_t width, bool fold, uint16_t* out, size_t pitch);
// Whether every scale of A that p reads folds (fold_exponent).
bool a_scales_fold(const fp8k_gemm* p, const float* sa);

// acc ← acc + p · (sA · sB) for one output row's 32 columns (p0 columns 0-15, p1 16-31): SPEC §4's
// promotion, as every tier after vdpbf16ps does it.
inline FP8K_TARGET_AVX512_BF16 void promote_row(float* acc, __m512 p0, __m512 p1, float sa, __m512 sb0, __m512 sb1) {
  const __m512 s = _mm512_set1_ps(sa);
  _mm512_store_ps(acc, _mm512_add_ps(_mm512_load_ps(acc), _mm512_mul_ps(p0, _mm512_mul_ps(s, sb0))));
  _mm512_store_ps(acc + 16, _mm512_add_ps(_mm512_load_ps(acc + 16), _mm512_mul_ps(p1, _mm512_mul_ps(s, sb1))));
}

// Pairs [kp0, kp1) of panel pn as bf16 B tiles, [pair][column half][16 columns × 2 bf16] (128 bytes a
// pair, the order TDPBF16PS takes), zero up to a whole step; with `fold` (kp0 a multiple of 64, every
// scale a power of two), each column times its scale, so the packed scales are not needed again.
void widen_b(const Regs& t, const PackedB& b, size_t pn, size_t kp0, size_t kp1, bool fold, uint16_t* out);
// Whether every scale of B's columns folds (fold_exponent).
bool b_scales_fold(const PackedB& b);

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
