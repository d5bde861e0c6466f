// SPEC §8 data movement on the cpu backend: rows split over threads; the reduction in 16-lane f32
// with the same order of additions per element as ref (left to right over the sum's terms).
// GCC 12 warns falsely about the _mm512_undefined_* inside inlined intrinsics (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#include <string.h>

#include <vector>

#include "../common/fp8.h"
#include "bf16_avx512.h"
#include "../ref/ref.h"
#include "ops.h"
#include "quant_simd.h"
#include "simd.h"

namespace fp8k::cpu {
namespace {

// y = bf16(sum_j w_j x_j) for one row of h elements; acc is h floats of scratch.
FP8K_TARGET_AVX512 void reduce_row_avx512(const uint16_t* const* rows, const float* w, int32_t terms, size_t h, uint16_t* y) {
  size_t c = 0;
  for (; c + 16 <= h; c += 16) {
    __m512 sum = _mm512_setzero_ps();
    for (int32_t j = 0; j < terms; j++) {
      const __m512 x = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i*)(rows[j] + c))), 16));
      sum = _mm512_add_ps(sum, w ? _mm512_mul_ps(_mm512_set1_ps(w[j]), x) : x);
    }
    _mm256_storeu_si256((__m256i*)(y + c), _mm512_cvtepi32_epi16(bf16_round_avx512(_mm512_castps_si512(sum))));
  }
  for (; c < h; c++) {
    float sum = 0;
    for (int32_t j = 0; j < terms; j++) sum += w ? w[j] * fp8k_bf16_to_f32(rows[j][c]) : fp8k_bf16_to_f32(rows[j][c]);
    y[c] = fp8k_bf16_from_f32(sum);
  }
}

void reduce_row(const uint16_t* const* rows, const float* w, int32_t terms, size_t h, float* acc, uint16_t* y) {
  for (size_t c = 0; c < h; c++) acc[c] = 0;
  for (int32_t j = 0; j < terms; j++)
    for (size_t c = 0; c < h; c++) acc[c] += w ? w[j] * fp8k_bf16_to_f32(rows[j][c]) : fp8k_bf16_to_f32(rows[j][c]);
  for (size_t c = 0; c < h; c++) y[c] = fp8k_bf16_from_f32(acc[c]);
}

}  // namespace

// A row copy is a memcpy whatever the backend: ref's loop, over the threads' ranges of rows.
int copy_rows(const void* const* srcs, size_t nsrc, size_t row_bytes, const int32_t* src_of, const int32_t* row_of, size_t n, void* dst, fp8k_call* c) {
  parallel_units(n, n * row_bytes, [&](size_t i0, size_t i1) {
    fp8k::ref::copy_rows(srcs, nsrc, row_bytes, src_of + i0, row_of + i0, i1 - i0, static_cast<uint8_t*>(dst) + i0 * row_bytes, c);
  });
  return FP8K_OK;
}

int reduce_rows(const uint16_t* const* srcs, size_t /* nsrc */, size_t h, const int32_t* offsets, const int32_t* src_of, const int32_t* row_of, const float* weights,
                size_t n, uint16_t* y, fp8k_call*) {
  const bool avx512 = fp8k_cpu_vector_level() >= FP8K_SIMD_AVX512;
  parallel_units(n, (size_t)offsets[n] * h + n, [&](size_t i0, size_t i1) {
    std::vector<const uint16_t*> rows;
    std::vector<float> acc(h);
    for (size_t i = i0; i < i1; i++) {
      const int32_t first = offsets[i], terms = offsets[i + 1] - first;
      rows.resize(terms);
      for (int32_t j = 0; j < terms; j++) rows[j] = srcs[src_of[first + j]] + (size_t)row_of[first + j] * h;
      const float* w = weights ? weights + first : nullptr;
      if (avx512)
        reduce_row_avx512(rows.data(), w, terms, h, y + i * h);
      else
        reduce_row(rows.data(), w, terms, h, acc.data(), y + i * h);
    }
  });
  return FP8K_OK;
}

}  // namespace fp8k::cpu
