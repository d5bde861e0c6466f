// f32 <-> bf16 (and the same-dtype cases, which ref also accepts), vectorized.
// f32 -> bf16 is fp8k_bf16_from_f32 lane by lane: round to nearest even,
// (b + 0x7FFF + lsb) >> 16, and a NaN keeps its top bits with the quiet bit set.
// GCC 12 warns falsely about the _mm512_undefined_* inside inlined intrinsics (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include "../common/fp8.h"
#include "ops.h"
#include "bf16_avx512.h"
#include "parallel.h"
#include "simd.h"

namespace fp8k::cpu {
namespace {

using Kernel = void (*)(const void* x, void* y, size_t n);

template <bool IN_BF16>
inline float load_scalar(const void* x, size_t i) {
  return IN_BF16 ? fp8k_bf16_to_f32(static_cast<const uint16_t*>(x)[i]) : static_cast<const float*>(x)[i];
}

template <bool IN_BF16, bool OUT_BF16>
void convert_scalar(const void* x, void* y, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const float v = load_scalar<IN_BF16>(x, i);
    if (OUT_BF16)
      static_cast<uint16_t*>(y)[i] = fp8k_bf16_from_f32(v);
    else
      static_cast<float*>(y)[i] = v;
  }
}

// ---- AVX2: 16 elements per step. ----

FP8K_TARGET_AVX2 inline __m256i bf16_round_avx2(__m256i b) {
  const __m256i hi = _mm256_srli_epi32(b, 16);
  const __m256i rounded = _mm256_srli_epi32(
      _mm256_add_epi32(_mm256_add_epi32(b, _mm256_set1_epi32(0x7FFF)), _mm256_and_si256(hi, _mm256_set1_epi32(1))), 16);
  const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(b, _mm256_set1_epi32(0x7FFFFFFF)), _mm256_set1_epi32(0x7F800000));
  return _mm256_blendv_epi8(rounded, _mm256_or_si256(hi, _mm256_set1_epi32(0x40)), nan);
}

template <bool IN_BF16>
FP8K_TARGET_AVX2 inline __m256i load8_avx2(const void* x, size_t i) {
  if (IN_BF16)
    return _mm256_slli_epi32(
        _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)(static_cast<const uint16_t*>(x) + i))), 16);
  return _mm256_loadu_si256((const __m256i*)(static_cast<const float*>(x) + i));
}

template <bool IN_BF16, bool OUT_BF16>
FP8K_TARGET_AVX2 void convert_avx2(const void* x, void* y, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i v0 = load8_avx2<IN_BF16>(x, i), v1 = load8_avx2<IN_BF16>(x, i + 8);
    if (OUT_BF16) {
      const __m256i h = _mm256_permute4x64_epi64(_mm256_packus_epi32(bf16_round_avx2(v0), bf16_round_avx2(v1)), 0xD8);
      _mm256_storeu_si256((__m256i*)(static_cast<uint16_t*>(y) + i), h);
    } else {
      _mm256_storeu_si256((__m256i*)(static_cast<float*>(y) + i), v0);
      _mm256_storeu_si256((__m256i*)(static_cast<float*>(y) + i + 8), v1);
    }
  }
  convert_scalar<IN_BF16, OUT_BF16>(static_cast<const char*>(x) + i * (IN_BF16 ? 2 : 4),
                                    static_cast<char*>(y) + i * (OUT_BF16 ? 2 : 4), n - i);
}

// ---- AVX-512: 16 elements per step, masked tail. ----


template <bool IN_BF16, bool OUT_BF16>
FP8K_TARGET_AVX512 inline void step_avx512(const void* x, void* y, size_t i, __mmask16 k) {
  const __m512i v = IN_BF16 ? _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(k, static_cast<const uint16_t*>(x) + i)), 16)
                            : _mm512_maskz_loadu_epi32(k, static_cast<const float*>(x) + i);
  if (OUT_BF16)
    _mm256_mask_storeu_epi16(static_cast<uint16_t*>(y) + i, k, _mm512_cvtepi32_epi16(bf16_round_avx512(v)));  // vpmovdw
  else
    _mm512_mask_storeu_epi32(static_cast<float*>(y) + i, k, v);
}

template <bool IN_BF16, bool OUT_BF16>
FP8K_TARGET_AVX512 void convert_avx512(const void* x, void* y, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) step_avx512<IN_BF16, OUT_BF16>(x, y, i, 0xFFFF);
  if (i < n) step_avx512<IN_BF16, OUT_BF16>(x, y, i, (__mmask16)((1u << (n - i)) - 1));
}

template <bool IN_BF16, bool OUT_BF16>
Kernel kernel_for(int level) {
  switch (level) {
    case FP8K_SIMD_AVX512_VBMI:
    case FP8K_SIMD_AVX512: return convert_avx512<IN_BF16, OUT_BF16>;
    case FP8K_SIMD_AVX2: return convert_avx2<IN_BF16, OUT_BF16>;
    default: return convert_scalar<IN_BF16, OUT_BF16>;
  }
}

}  // namespace

int convert(const void* x, int x_dtype, void* y, int y_dtype, size_t n, fp8k_call* call) {
  if ((x_dtype != FP8K_F32 && x_dtype != FP8K_BF16) || (y_dtype != FP8K_F32 && y_dtype != FP8K_BF16))
    return fp8k_fail(call, FP8K_ERR_DTYPE, "convert: f32 and bf16 only (got dtypes %d -> %d)", x_dtype, y_dtype);
  if (n && (!x || !y)) return fp8k_fail(call, FP8K_ERR_ARGUMENT, "convert: null buffer");
  const int level = fp8k_cpu_vector_level();
  const bool in_bf16 = x_dtype == FP8K_BF16, out_bf16 = y_dtype == FP8K_BF16;
  const Kernel k = in_bf16 ? (out_bf16 ? kernel_for<true, true>(level) : kernel_for<true, false>(level))
                           : (out_bf16 ? kernel_for<false, true>(level) : kernel_for<false, false>(level));
  const size_t in = in_bf16 ? 2 : 4, out = out_bf16 ? 2 : 4;
  fp8k_parallel_for(n, kGrain, [=](size_t b, size_t e) {
    k(static_cast<const char*>(x) + b * in, static_cast<char*>(y) + b * out, e - b);
  });
  return FP8K_OK;
}

}  // namespace fp8k::cpu
