// f32 -> bf16 bits in 16 lanes, as fp8k_bf16_from_f32 rounds one (nearest even; a NaN stays a quiet NaN).
#pragma once
#include <immintrin.h>

#include "simd.h"

FP8K_TARGET_AVX512 inline __m512i bf16_round_avx512(__m512i b) {
  const __m512i hi = _mm512_srli_epi32(b, 16);
  const __m512i rounded = _mm512_srli_epi32(
      _mm512_add_epi32(_mm512_add_epi32(b, _mm512_set1_epi32(0x7FFF)), _mm512_and_si512(hi, _mm512_set1_epi32(1))), 16);
  const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(b, _mm512_set1_epi32(0x7FFFFFFF)), _mm512_set1_epi32(0x7F800000));
  return _mm512_mask_or_epi32(rounded, nan, hi, _mm512_set1_epi32(0x40));
}
