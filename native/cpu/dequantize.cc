// SPEC §2 dequantize on the cpu: y = f32(q) * scale, elementwise with vectors, one row per unit.
// f32(q) is built exactly: the code's magnitude bits placed as an f32 (a subnormal f32 for the
// fp8 subnormals) times 2^(127 - bias) (exact), inf and NaN codes patched. The product is one
// f32 multiply with f32(q) as the first operand, as in ref (x86 returns the first operand's NaN
// when both are NaN: the NaN code's 0x7FFFFFFF wins over a NaN scale). bf16 output rounds to
// nearest even in integer arithmetic (fp8k_bf16_from_f32). With DAZ set in MXCSR the scalar
// tier runs (the exact construction needs f32 subnormal inputs).
// GCC 12 warns falsely about the _mm512_undefined_* inside inlined intrinsics (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <vector>

#include "quant_simd.h"
#include "simd.h"

namespace fp8k::cpu {
namespace {

// y[i] = f32(q[i]) * s16[i / 16], i < n.
using RowKernel = void (*)(const uint8_t* q, const float* s16, void* y, size_t n);

template <int FMT, bool BF16>
void deq_scalar(const uint8_t* q, const float* s16, void* y, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const float v = fp8k_to_f32(q[i], FMT) * s16[i / 16];
    if (BF16)
      static_cast<uint16_t*>(y)[i] = fp8k_bf16_from_f32(v);
    else
      static_cast<float*>(y)[i] = v;
  }
}

template <int FMT>
FP8K_TARGET_AVX512 inline __m512 deq16_avx512(__m128i q8, __m512 scale) {
  const __m512i q = _mm512_cvtepu8_epi32(q8);
  const __m512i a = _mm512_and_si512(q, _mm512_set1_epi32(0x7F));
  const __m512i sign = _mm512_slli_epi32(_mm512_and_si512(q, _mm512_set1_epi32(0x80)), 24);
  const int mb = FMT == FP8K_FORMAT_E5M2 ? 2 : 3;
  __m512i f = _mm512_or_si512(_mm512_slli_epi32(a, 23 - mb), sign);
  __m512 v = _mm512_mul_ps(_mm512_castsi512_ps(f), _mm512_set1_ps(FMT == FP8K_FORMAT_E5M2 ? 0x1p112f : 0x1p120f));
  __mmask16 nan;
  if (FMT == FP8K_FORMAT_E5M2) {
    const __mmask16 inf = _mm512_cmpeq_epi32_mask(a, _mm512_set1_epi32(0x7C));
    v = _mm512_mask_mov_ps(v, inf, _mm512_castsi512_ps(_mm512_or_si512(sign, _mm512_set1_epi32(0x7F800000))));
    nan = _mm512_cmpgt_epi32_mask(a, _mm512_set1_epi32(0x7C));
  } else {
    nan = _mm512_cmpeq_epi32_mask(a, _mm512_set1_epi32(0x7F));
  }
  const __m512 y = _mm512_mul_ps(v, scale);
  return _mm512_mask_mov_ps(y, nan, _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF)));
}

FP8K_TARGET_AVX512 inline __m256i bf16_avx512(__m512 y) {
  const __m512i b = _mm512_castps_si512(y);
  const __m512i r = _mm512_srli_epi32(
      _mm512_add_epi32(_mm512_add_epi32(b, _mm512_set1_epi32(0x7FFF)), _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1))), 16);
  const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(b, _mm512_set1_epi32(0x7FFFFFFF)), _mm512_set1_epi32(0x7F800000));
  const __m512i n = _mm512_or_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(0x40));
  return _mm512_cvtepi32_epi16(_mm512_mask_mov_epi32(r, nan, n));
}

template <int FMT, bool BF16>
FP8K_TARGET_AVX512 void deq_avx512(const uint8_t* q, const float* s16, void* y, size_t n) {
  for (size_t i = 0; i < n; i += 16) {
    const size_t c = n - i < 16 ? n - i : 16;
    const __mmask16 k = (__mmask16)((1u << c) - 1);
    const __m128i q8 = c == 16 ? _mm_loadu_si128((const __m128i*)(q + i)) : _mm_maskz_loadu_epi8(k, q + i);
    const __m512 v = deq16_avx512<FMT>(q8, _mm512_set1_ps(s16[i / 16]));
    if (BF16) {
      uint16_t* o = static_cast<uint16_t*>(y) + i;
      if (c == 16)
        _mm256_storeu_si256((__m256i*)o, bf16_avx512(v));
      else
        _mm256_mask_storeu_epi16(o, k, bf16_avx512(v));
    } else {
      float* o = static_cast<float*>(y) + i;
      if (c == 16)
        _mm512_storeu_ps(o, v);
      else
        _mm512_mask_storeu_ps(o, k, v);
    }
  }
}

template <int FMT>
FP8K_TARGET_AVX2 inline __m256 deq8_avx2(const uint8_t* p, __m256 scale) {
  const __m256i q = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)p));
  const __m256i a = _mm256_and_si256(q, _mm256_set1_epi32(0x7F));
  const __m256i sign = _mm256_slli_epi32(_mm256_and_si256(q, _mm256_set1_epi32(0x80)), 24);
  const int mb = FMT == FP8K_FORMAT_E5M2 ? 2 : 3;
  const __m256i f = _mm256_or_si256(_mm256_slli_epi32(a, 23 - mb), sign);
  __m256 v = _mm256_mul_ps(_mm256_castsi256_ps(f), _mm256_set1_ps(FMT == FP8K_FORMAT_E5M2 ? 0x1p112f : 0x1p120f));
  __m256i nan;
  if (FMT == FP8K_FORMAT_E5M2) {
    const __m256i inf = _mm256_cmpeq_epi32(a, _mm256_set1_epi32(0x7C));
    v = _mm256_blendv_ps(v, _mm256_castsi256_ps(_mm256_or_si256(sign, _mm256_set1_epi32(0x7F800000))), _mm256_castsi256_ps(inf));
    nan = _mm256_cmpgt_epi32(a, _mm256_set1_epi32(0x7C));
  } else {
    nan = _mm256_cmpeq_epi32(a, _mm256_set1_epi32(0x7F));
  }
  const __m256 y = _mm256_mul_ps(v, scale);
  return _mm256_blendv_ps(y, _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF)), _mm256_castsi256_ps(nan));
}

FP8K_TARGET_AVX2 inline __m128i bf16_avx2(__m256 y) {
  const __m256i b = _mm256_castps_si256(y);
  const __m256i r = _mm256_srli_epi32(
      _mm256_add_epi32(_mm256_add_epi32(b, _mm256_set1_epi32(0x7FFF)), _mm256_and_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(1))), 16);
  const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(b, _mm256_set1_epi32(0x7FFFFFFF)), _mm256_set1_epi32(0x7F800000));
  const __m256i n = _mm256_or_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(0x40));
  const __m256i h = _mm256_blendv_epi8(r, _mm256_and_si256(n, _mm256_set1_epi32(0xFFFF)), nan);
  return _mm_packus_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

template <int FMT, bool BF16>
FP8K_TARGET_AVX2 void deq_avx2(const uint8_t* q, const float* s16, void* y, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = deq8_avx2<FMT>(q + i, _mm256_broadcast_ss(s16 + i / 16));
    if (BF16)
      _mm_storeu_si128((__m128i*)(static_cast<uint16_t*>(y) + i), bf16_avx2(v));
    else
      _mm256_storeu_ps(static_cast<float*>(y) + i, v);
  }
  // i is a multiple of 8: the tail lies in group i / 16.
  for (; i < n; i++) {
    const float v = fp8k_to_f32(q[i], FMT) * s16[i / 16];
    if (BF16)
      static_cast<uint16_t*>(y)[i] = fp8k_bf16_from_f32(v);
    else
      static_cast<float*>(y)[i] = v;
  }
}

template <int FMT, bool BF16>
RowKernel kernel_for(int level) {
  if ((_mm_getcsr() & 0x40) != 0) return deq_scalar<FMT, BF16>;  // DAZ
  if (level >= FP8K_SIMD_AVX512) return deq_avx512<FMT, BF16>;
  if (level == FP8K_SIMD_AVX2) return deq_avx2<FMT, BF16>;
  return deq_scalar<FMT, BF16>;
}

RowKernel kernel_for(int level, int format, bool bf16) {
  if (format == FP8K_FORMAT_E5M2) return bf16 ? kernel_for<FP8K_FORMAT_E5M2, true>(level) : kernel_for<FP8K_FORMAT_E5M2, false>(level);
  return bf16 ? kernel_for<FP8K_FORMAT_E4M3, true>(level) : kernel_for<FP8K_FORMAT_E4M3, false>(level);
}

}  // namespace

int dequantize(const uint8_t* q, const float* scales, const fp8k_quant* p, void* y, int y_dtype, fp8k_call* call) {
  if (int s = fp8k_check_quant(p, call)) return s;
  if (y_dtype != FP8K_F32 && y_dtype != FP8K_BF16)
    return fp8k_fail(call, FP8K_ERR_DTYPE, "dequantize: output must be f32 or bf16 (got dtype %d)", y_dtype);
  const bool bf16 = y_dtype == FP8K_BF16;
  if (p->tile_cols == 1) {  // G x 1: a scale per column, so the 16-element row kernels do not apply
    parallel_units(p->batch * p->rows, p->batch * p->rows * p->cols, [&](size_t u0, size_t u1) {
      for (size_t u = u0; u < u1; u++) {
        const size_t b = u / p->rows, tr = u % p->rows / p->tile_rows;
        for (size_t c = 0; c < p->cols; c++) {
          const float v = fp8k_to_f32(q[u * p->cols + c], p->format) * scales[fp8k_scale_index(p, b, tr, c)];
          if (bf16)
            static_cast<uint16_t*>(y)[u * p->cols + c] = fp8k_bf16_from_f32(v);
          else
            static_cast<float*>(y)[u * p->cols + c] = v;
        }
      }
    });
    return FP8K_OK;
  }
  const RowKernel k = kernel_for(fp8k_cpu_vector_level(), p->format, bf16);
  const size_t rows = p->rows, cols = p->cols, g = (size_t)p->tile_cols, tr = (size_t)p->tile_rows, tcn = fp8k_tile_cols_count(p);
  const size_t out = bf16 ? 2 : 4;
  parallel_units(p->batch * rows, p->batch * rows * cols, [&](size_t u0, size_t u1) {
    std::vector<float> s16(fp8k_cdiv(cols, 16) + 1);
    size_t last = SIZE_MAX;  // the tile row s16 holds (G x G rows share it)
    for (size_t u = u0; u < u1; u++) {
      const size_t b = u / rows, r = u % rows, key = b * rows + r / tr;
      if (key != last) {
        for (size_t t = 0; t < tcn; t++) {
          const float s = scales[fp8k_scale_index(p, b, r / tr, t)];
          for (size_t j = t * g / 16; j < (t + 1) * g / 16 && j < s16.size(); j++) s16[j] = s;
        }
        last = key;
      }
      k(q + u * cols, s16.data(), static_cast<char*>(y) + u * cols * out, cols);
    }
  });
  return FP8K_OK;
}

}  // namespace fp8k::cpu
