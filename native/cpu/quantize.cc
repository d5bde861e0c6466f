// SPEC §2 quantize on the cpu: tile amax with vector abs + max, one scalar scale step per tile
// (common/scale.h), then the vector form of fp8k_quantize_value on every element.
//
// The vector conversion, for the values quantize produces (x finite, inv = 1/scale with scale a
// normal f32, so |y| = |x * inv| < 2 * fmax): y = x * inv in f32 (a plain multiply, no FMA),
// then, with e = the exponent of |y| clamped below at the format's smallest normal exponent,
//   M = 2^(e + 23 - mant_bits),  T = |y| + M  (one f32 add, round to nearest even):
// T lies in M's binade, whose ulp is the fp8 step at |y|'s exponent (the subnormal step below
// the smallest normal), so T - M is |y| rounded to nearest even in units of that step: the fp8
// significand k (8..16 for normal targets, 0..8 for subnormal ones). The code is then
// k + 2^mant_bits * (e - e_min), which also carries a round-up into the next binade; codes above
// the largest finite one saturate (min), and the sign is ORed in. This is fp8k_from_f32(y, fmt, 1)
// on that range; tiles outside it (non-finite: 0x7F bytes; a subnormal scale from a tiny eps)
// are handled per tile by the callers. AVX-512 pins the add's rounding with {rn-sae}; the AVX2
// tier needs MXCSR at round-to-nearest and falls back to scalar otherwise.
// The AVX-512 bf16 kernels add M' = M + 2^mant_bits * (e - e_min) instead (one table lookup),
// which leaves the code itself in T's low bits (code_t_avx512), and widen bf16 pairs without
// shuffles. 1 x G rows of bf16 go in one pass (rows_bf16: amax, scale and conversion per tile);
// the two-pass kernels prefetch the next work unit into L2 while they convert from cache.
// GCC 12 warns falsely about the _mm512_undefined_* inside inlined intrinsics (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#include <string.h>

#include <vector>

#include "quant_simd.h"
#include "simd.h"

namespace fp8k::cpu {
namespace {

template <int FMT>
struct Fmt {
  static constexpr int mant = FMT == FP8K_FORMAT_E5M2 ? 2 : 3;
  static constexpr int shift = 23 - mant;
  static constexpr int min_normal = FMT == FP8K_FORMAT_E5M2 ? 0x38800000 : 0x3C800000;
  static constexpr int max_code = FMT == FP8K_FORMAT_E5M2 ? 0x7B : 0x7E;
};

// ---- scalar ----

template <bool BF16>
void amax_scalar(const void* x, size_t n, size_t g, uint32_t* tilemax, void* colmax) {
  uint32_t acc = 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t a;
    if (BF16) {
      const uint16_t h = static_cast<const uint16_t*>(x)[i] & 0x7FFF;
      if (colmax && h > static_cast<uint16_t*>(colmax)[i]) static_cast<uint16_t*>(colmax)[i] = h;
      a = (uint32_t)h << 16;
    } else {
      a = fp8k_f32_bits(static_cast<const float*>(x)[i]) & 0x7FFFFFFFu;
      if (colmax && a > static_cast<uint32_t*>(colmax)[i]) static_cast<uint32_t*>(colmax)[i] = a;
    }
    if (a > acc) acc = a;
    if (tilemax && ((i + 1) % g == 0 || i + 1 == n)) {
      tilemax[i / g] = acc;
      acc = 0;
    }
  }
}

// Elements [i0, n): q1 with the tile inverses, q2 (when non-NULL) with the per-element ones.
template <int FMT, bool BF16>
void quant_range_scalar(const void* x, uint8_t* q1, const float* invt, size_t g, uint8_t* q2, const float* invl, size_t i0, size_t n) {
  for (size_t i = i0; i < n; i++) {
    const float v = load_elem(x, BF16, i);
    q1[i] = fp8k_quantize_value(v, invt[i / g], FMT);
    if (q2) q2[i] = fp8k_quantize_value(v, invl[i], FMT);
  }
}

template <int FMT, bool BF16>
void quant_scalar(const void* x, uint8_t* q, size_t n, const float* invt, size_t g, bool, const void*) {
  quant_range_scalar<FMT, BF16>(x, q, invt, g, nullptr, nullptr, 0, n);
}

template <int FMT, bool BF16>
void quantl_scalar(const void* x, uint8_t* q, const float* invl, const float*, size_t n) {
  for (size_t i = 0; i < n; i++) q[i] = fp8k_quantize_value(load_elem(x, BF16, i), invl[i], FMT);
}

template <int FMT, bool BF16>
void quant2_scalar(const void* x, uint8_t* q1, const float* invt, size_t g, uint8_t* q2, const float* invl, const float*, size_t n, bool,
                   const void*) {
  quant_range_scalar<FMT, BF16>(x, q1, invt, g, q2, invl, 0, n);
}

// ---- AVX2: 8 lanes ----

template <int FMT>
FP8K_TARGET_AVX2 inline __m256i q8_avx2(__m256 x, __m256 inv) {
  using F = Fmt<FMT>;
  const __m256i bits = _mm256_castps_si256(_mm256_mul_ps(x, inv));
  const __m256i a = _mm256_and_si256(bits, _mm256_set1_epi32(0x7FFFFFFF));
  const __m256i ec = _mm256_max_epu32(_mm256_and_si256(a, _mm256_set1_epi32(0x7F800000)), _mm256_set1_epi32(F::min_normal));
  const __m256i m = _mm256_add_epi32(ec, _mm256_set1_epi32(F::shift << 23));
  const __m256i t = _mm256_castps_si256(_mm256_add_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(m)));
  __m256i code = _mm256_add_epi32(_mm256_sub_epi32(t, m),
                                  _mm256_srli_epi32(_mm256_sub_epi32(ec, _mm256_set1_epi32(F::min_normal)), F::shift));
  code = _mm256_min_epu32(code, _mm256_set1_epi32(F::max_code));
  return _mm256_or_si256(code, _mm256_and_si256(_mm256_srli_epi32(bits, 24), _mm256_set1_epi32(0x80)));
}

template <bool BF16>
FP8K_TARGET_AVX2 inline __m256 ld8_avx2(const void* x, size_t i) {
  if (BF16)
    return _mm256_castsi256_ps(_mm256_slli_epi32(
        _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)(static_cast<const uint16_t*>(x) + i))), 16));
  return _mm256_loadu_ps(static_cast<const float*>(x) + i);
}

FP8K_TARGET_AVX2 inline __m256i pack32_avx2(__m256i c0, __m256i c1, __m256i c2, __m256i c3) {
  const __m256i p = _mm256_packus_epi16(_mm256_packus_epi32(c0, c1), _mm256_packus_epi32(c2, c3));
  return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

template <bool BF16>
FP8K_TARGET_AVX2 void amax_avx2(const void* x, size_t n, size_t g, uint32_t* tilemax, void* colmax) {
  if (!tilemax) g = n;
  for (size_t t0 = 0; t0 < n; t0 += g) {
    const size_t t1 = t0 + g < n ? t0 + g : n;
    __m256i acc = _mm256_setzero_si256();
    size_t i = t0;
    uint32_t tail = 0;
    if (BF16) {
      const uint16_t* h = static_cast<const uint16_t*>(x);
      uint16_t* cm = static_cast<uint16_t*>(colmax);
      for (; i + 16 <= t1; i += 16) {
        const __m256i a = _mm256_and_si256(_mm256_loadu_si256((const __m256i*)(h + i)), _mm256_set1_epi16(0x7FFF));
        acc = _mm256_max_epu16(acc, a);
        if (cm) _mm256_storeu_si256((__m256i*)(cm + i), _mm256_max_epu16(a, _mm256_loadu_si256((const __m256i*)(cm + i))));
      }
      acc = _mm256_max_epu32(_mm256_and_si256(acc, _mm256_set1_epi32(0xFFFF)), _mm256_srli_epi32(acc, 16));
      for (; i < t1; i++) {
        const uint16_t a = h[i] & 0x7FFF;
        if (a > tail) tail = a;
        if (cm && a > cm[i]) cm[i] = a;
      }
    } else {
      const uint32_t* f = static_cast<const uint32_t*>(x);
      uint32_t* cm = static_cast<uint32_t*>(colmax);
      for (; i + 8 <= t1; i += 8) {
        const __m256i a = _mm256_and_si256(_mm256_loadu_si256((const __m256i*)(f + i)), _mm256_set1_epi32(0x7FFFFFFF));
        acc = _mm256_max_epu32(acc, a);
        if (cm) _mm256_storeu_si256((__m256i*)(cm + i), _mm256_max_epu32(a, _mm256_loadu_si256((const __m256i*)(cm + i))));
      }
      for (; i < t1; i++) {
        const uint32_t a = f[i] & 0x7FFFFFFFu;
        if (a > tail) tail = a;
        if (cm && a > cm[i]) cm[i] = a;
      }
    }
    if (tilemax) {
      __m128i m = _mm_max_epu32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
      m = _mm_max_epu32(m, _mm_shuffle_epi32(m, 0x4E));
      m = _mm_max_epu32(m, _mm_shuffle_epi32(m, 0xB1));
      uint32_t r = (uint32_t)_mm_cvtsi128_si32(m);
      if (tail > r) r = tail;
      tilemax[t0 / g] = BF16 ? r << 16 : r;
    }
  }
}

template <int FMT, bool BF16, bool TWO>
FP8K_TARGET_AVX2 void quant_avx2_impl(const void* x, uint8_t* q1, const float* invt, size_t g, uint8_t* q2, const float* invl, size_t n) {
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256 v[4];
    for (int j = 0; j < 4; j++) v[j] = ld8_avx2<BF16>(x, i + 8 * j);
    const __m256 ia = _mm256_broadcast_ss(invt + i / g), ib = _mm256_broadcast_ss(invt + (i + 16) / g);
    _mm256_storeu_si256((__m256i*)(q1 + i), pack32_avx2(q8_avx2<FMT>(v[0], ia), q8_avx2<FMT>(v[1], ia),
                                                         q8_avx2<FMT>(v[2], ib), q8_avx2<FMT>(v[3], ib)));
    if (TWO)
      _mm256_storeu_si256((__m256i*)(q2 + i),
                          pack32_avx2(q8_avx2<FMT>(v[0], _mm256_loadu_ps(invl + i)), q8_avx2<FMT>(v[1], _mm256_loadu_ps(invl + i + 8)),
                                      q8_avx2<FMT>(v[2], _mm256_loadu_ps(invl + i + 16)),
                                      q8_avx2<FMT>(v[3], _mm256_loadu_ps(invl + i + 24))));
  }
  // The tail: the scalar form (the same values).
  quant_range_scalar<FMT, BF16>(x, q1, invt, g, TWO ? q2 : nullptr, invl, i, n);
}

template <int FMT, bool BF16>
FP8K_TARGET_AVX2 void quant_avx2(const void* x, uint8_t* q, size_t n, const float* invt, size_t g, bool, const void*) {
  quant_avx2_impl<FMT, BF16, false>(x, q, invt, g, nullptr, nullptr, n);
}
template <int FMT, bool BF16>
FP8K_TARGET_AVX2 void quant2_avx2(const void* x, uint8_t* q1, const float* invt, size_t g, uint8_t* q2, const float* invl, const float*,
                                  size_t n, bool, const void*) {
  quant_avx2_impl<FMT, BF16, true>(x, q1, invt, g, q2, invl, n);
}

// ---- AVX-512: 16 lanes, masks for tails ----

template <int FMT>
FP8K_TARGET_AVX512 inline __m512i q16_avx512(__m512 x, __m512 inv) {
  using F = Fmt<FMT>;
  const __m512i bits = _mm512_castps_si512(_mm512_mul_ps(x, inv));
  const __m512i a = _mm512_and_si512(bits, _mm512_set1_epi32(0x7FFFFFFF));
  const __m512i ec = _mm512_max_epu32(_mm512_and_si512(a, _mm512_set1_epi32(0x7F800000)), _mm512_set1_epi32(F::min_normal));
  const __m512i m = _mm512_add_epi32(ec, _mm512_set1_epi32(F::shift << 23));
  const __m512i t = _mm512_castps_si512(_mm512_add_round_ps(_mm512_castsi512_ps(a), _mm512_castsi512_ps(m),
                                                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  __m512i code = _mm512_add_epi32(_mm512_sub_epi32(t, m),
                                  _mm512_srli_epi32(_mm512_sub_epi32(ec, _mm512_set1_epi32(F::min_normal)), F::shift));
  code = _mm512_min_epu32(code, _mm512_set1_epi32(F::max_code));
  // code | ((bits >> 24) & 0x80)
  return _mm512_ternarylogic_epi32(code, _mm512_srli_epi32(bits, 24), _mm512_set1_epi32(0x80), 0xF8);
}

template <bool BF16>
FP8K_TARGET_AVX512 inline __m512 ld16_avx512(const void* x, size_t i) {
  if (BF16)
    return _mm512_castsi512_ps(_mm512_slli_epi32(
        _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i*)(static_cast<const uint16_t*>(x) + i))), 16));
  return _mm512_loadu_ps(static_cast<const float*>(x) + i);
}

template <bool BF16>
FP8K_TARGET_AVX512 inline __m512 ld16_avx512(const void* x, size_t i, __mmask16 k) {
  if (BF16)
    return _mm512_castsi512_ps(
        _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(k, static_cast<const uint16_t*>(x) + i)), 16));
  return _mm512_maskz_loadu_ps(k, static_cast<const float*>(x) + i);
}

FP8K_TARGET_AVX512 inline __m512i pack64_avx512(__m512i c0, __m512i c1, __m512i c2, __m512i c3) {
  const __m512i p = _mm512_packus_epi16(_mm512_packus_epi32(c0, c1), _mm512_packus_epi32(c2, c3));
  return _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), p);
}

template <bool BF16>
FP8K_TARGET_AVX512 void amax_avx512(const void* x, size_t n, size_t g, uint32_t* tilemax, void* colmax) {
  if (!tilemax) g = n;
  for (size_t t0 = 0; t0 < n; t0 += g) {
    const size_t t1 = t0 + g < n ? t0 + g : n;
    __m512i acc = _mm512_setzero_si512();
    if (BF16) {
      const uint16_t* h = static_cast<const uint16_t*>(x);
      uint16_t* cm = static_cast<uint16_t*>(colmax);
      const __m512i absm = _mm512_set1_epi16(0x7FFF);
      size_t i = t0;
      for (; i + 32 <= t1; i += 32) {
        const __m512i a = _mm512_and_si512(_mm512_loadu_si512(h + i), absm);
        acc = _mm512_max_epu16(acc, a);
        if (cm) _mm512_storeu_si512(cm + i, _mm512_max_epu16(a, _mm512_loadu_si512(cm + i)));
      }
      if (i < t1) {
        const __mmask32 k = (__mmask32)((1ull << (t1 - i)) - 1);
        const __m512i a = _mm512_and_si512(_mm512_maskz_loadu_epi16(k, h + i), absm);
        acc = _mm512_max_epu16(acc, a);
        if (cm) _mm512_mask_storeu_epi16(cm + i, k, _mm512_max_epu16(a, _mm512_maskz_loadu_epi16(k, cm + i)));
      }
      if (tilemax) {
        acc = _mm512_max_epu32(_mm512_and_si512(acc, _mm512_set1_epi32(0xFFFF)), _mm512_srli_epi32(acc, 16));
        tilemax[t0 / g] = (uint32_t)_mm512_reduce_max_epu32(acc) << 16;
      }
    } else {
      const uint32_t* f = static_cast<const uint32_t*>(x);
      uint32_t* cm = static_cast<uint32_t*>(colmax);
      const __m512i absm = _mm512_set1_epi32(0x7FFFFFFF);
      size_t i = t0;
      for (; i + 16 <= t1; i += 16) {
        const __m512i a = _mm512_and_si512(_mm512_loadu_si512(f + i), absm);
        acc = _mm512_max_epu32(acc, a);
        if (cm) _mm512_storeu_si512(cm + i, _mm512_max_epu32(a, _mm512_loadu_si512(cm + i)));
      }
      if (i < t1) {
        const __mmask16 k = (__mmask16)((1u << (t1 - i)) - 1);
        const __m512i a = _mm512_and_si512(_mm512_maskz_loadu_epi32(k, f + i), absm);
        acc = _mm512_max_epu32(acc, a);
        if (cm) _mm512_mask_storeu_epi32(cm + i, k, _mm512_max_epu32(a, _mm512_maskz_loadu_epi32(k, cm + i)));
      }
      if (tilemax) tilemax[t0 / g] = (uint32_t)_mm512_reduce_max_epu32(acc);
    }
  }
}

// The code of |y| (y >= 0, below 2^(e_max + 1)) in a 32-bit lane, before saturation and sign:
// T - X with T = |y| + M as above; M and X = M - 2^mant_bits * (e - e_min) come from a table
// indexed by the low bits of the clamped biased exponent (15 values for e4m3, 30 for e5m2).
template <int FMT>
struct CodeTables {
  alignas(64) int32_t m[32];
  alignas(64) int32_t x[32];
  alignas(64) int32_t mj[32];  // M + 2^mant_bits * (e - e_min): T's low bits are then the code itself
  CodeTables() {
    using F = Fmt<FMT>;
    const int emin = F::min_normal >> 23;
    for (int e = emin; e < emin + 32; e++) {
      const int i = FMT == FP8K_FORMAT_E5M2 ? e & 31 : e & 15;
      if (FMT != FP8K_FORMAT_E5M2 && e >= emin + 16) break;
      m[i] = (e + F::shift) << 23;
      x[i] = m[i] - ((e - emin) << F::mant);
      mj[i] = m[i] + ((e - emin) << F::mant);
    }
  }
};

// pack64_bf16's byte permute: byte 2i is the low byte of lane i of the first table (the even
// elements), byte 2i + 1 that of the second (the odd ones).
struct EvenOdd {
  alignas(64) uint8_t b[64];
};
constexpr EvenOdd even_odd() {
  EvenOdd e{};
  for (int i = 0; i < 64; i++) e.b[i] = (uint8_t)((i & 1) * 64 + (i / 2 % 16) * 4);
  return e;
}
constexpr EvenOdd kEvenOdd = even_odd();

template <int FMT>
struct CodeVecs {
  __m512i m0, m1, x0, x1, j0, j1, even_odd;
};

template <int FMT>
FP8K_TARGET_AVX512 inline CodeVecs<FMT> code_vecs() {
  static const CodeTables<FMT> t;
  return {_mm512_load_si512(t.m),  _mm512_load_si512(t.m + 16),  _mm512_load_si512(t.x),
          _mm512_load_si512(t.x + 16), _mm512_load_si512(t.mj), _mm512_load_si512(t.mj + 16), _mm512_load_si512(kEvenOdd.b)};
}

template <int FMT>
FP8K_TARGET_AVX512 inline __m512i code_abs_avx512(__m512 y, const CodeVecs<FMT>& cv) {
  using F = Fmt<FMT>;
  const __m512i a = _mm512_castps_si512(y);
  const __m512i idx = _mm512_srli_epi32(_mm512_max_epu32(a, _mm512_set1_epi32(F::min_normal)), 23);
  __m512i m, x;
  if (FMT == FP8K_FORMAT_E5M2) {
    m = _mm512_permutex2var_epi32(cv.m0, idx, cv.m1);
    x = _mm512_permutex2var_epi32(cv.x0, idx, cv.x1);
  } else {
    m = _mm512_permutexvar_epi32(idx, cv.m0);
    x = _mm512_permutexvar_epi32(idx, cv.x0);
  }
  const __m512i t = _mm512_castps_si512(_mm512_add_round_ps(y, _mm512_castsi512_ps(m), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  return _mm512_sub_epi32(t, x);
}

// 64 packed codes given the signs in `neg` (bit i: element i negative). No saturation: on fast
// tiles |y| <= fmax * (1 + 3 * 2^-24) (scale and inv each rounded once, amax >= |x|), below the
// midpoint to the next binade, so the codes are at most max_code (< 0x80: adding 0x80 is the OR
// of the sign). Other tiles' bytes are rewritten by the callers.
FP8K_TARGET_AVX512 inline __m512i finish64(__m512i b, __mmask64 neg) {
  return _mm512_mask_add_epi8(b, neg, b, _mm512_set1_epi8((char)0x80));
}

// q1's store: non-temporal when asked for and the line is aligned (q1 is written once, not re-read).
template <bool STREAM>
FP8K_TARGET_AVX512 inline void store64(uint8_t* q, __m512i v) {
  if (STREAM && ((uintptr_t)q & 63) == 0)
    _mm512_stream_si512((__m512i*)q, v);
  else
    _mm512_storeu_si512(q, v);
}

// T = |y| + M' (round to nearest even) with M' = M + 2^mant_bits * (e - e_min) from the table:
// M' lies in M's binade and adds a multiple of 8 (4) units of its ulp, so the rounding (ties
// to even) is the same as for M, T stays in the binade, and T's low 23 bits are the code itself
// (< 256 on the range above: bits 8-22 zero).
template <int FMT>
FP8K_TARGET_AVX512 inline __m512i code_t_avx512(__m512 y, const CodeVecs<FMT>& cv) {
  using F = Fmt<FMT>;
  const __m512i idx = _mm512_srli_epi32(_mm512_max_epu32(_mm512_castps_si512(y), _mm512_set1_epi32(F::min_normal)), 23);
  const __m512i mj = FMT == FP8K_FORMAT_E5M2 ? _mm512_permutex2var_epi32(cv.j0, idx, cv.j1) : _mm512_permutexvar_epi32(idx, cv.j0);
  return _mm512_castps_si512(_mm512_add_round_ps(y, _mm512_castsi512_ps(mj), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

// Two lanes' codes as one 16-bit word in element order: (even | odd << 8) & 0xFFFF.
FP8K_TARGET_AVX512 inline __m512i word_avx512(__m512i te, __m512i to) {
  return _mm512_ternarylogic_epi32(te, _mm512_slli_epi16(to, 8), _mm512_set1_epi32(0xFFFF), 0xA8);
}

// The 64 codes of a block in element order, from code registers holding the even (te) and odd
// (to) elements of its two halves in their lanes' low bytes. avx512: words, packus and a qword
// permute (six ops); avx512vbmi: two byte permutes and an insert. vpermt2b is written as inline
// assembly so that the file needs no VBMI target attribute; it runs only at that level.
template <bool VBMI, int FMT>
FP8K_TARGET_AVX512 inline __m512i pack64_bf16(__m512i te0, __m512i to0, __m512i te1, __m512i to1, const CodeVecs<FMT>& cv) {
  if (VBMI) {
    asm("vpermt2b %[b], %[i], %[a]" : [a] "+v"(te0) : [i] "v"(cv.even_odd), [b] "v"(to0));
    asm("vpermt2b %[b], %[i], %[a]" : [a] "+v"(te1) : [i] "v"(cv.even_odd), [b] "v"(to1));
    return _mm512_inserti64x4(te0, _mm512_castsi512_si256(te1), 1);
  }
  return _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 2, 4, 6, 1, 3, 5, 7), _mm512_packus_epi32(word_avx512(te0, to0), word_avx512(te1, to1)));
}

// bf16 input, 64 elements from a full block: each 32-bit lane of a load holds two bf16 values,
// widened without shuffles (even element: << 16; odd: the high half masked), so lanes 0-7 hold
// elements 0-15 (group 2h) and lanes 8-15 elements 16-31 (group 2h + 1); pack64_bf16 puts the
// codes back in order.
template <int FMT, bool TWO, bool STREAM, bool VBMI, bool ONE = true>
FP8K_TARGET_AVX512 inline void block64_bf16_v(const uint16_t* x, uint8_t* q1, __m512 i0, __m512 i1, uint8_t* q2, const float* invp,
                                             const CodeVecs<FMT>& cv);

template <int FMT, bool TWO, bool STREAM, bool VBMI>
FP8K_TARGET_AVX512 inline void block64_bf16(const uint16_t* x, uint8_t* q1, const float* inv, uint8_t* q2, const float* invp,
                                           const CodeVecs<FMT>& cv) {
  const __m512 i0 = _mm512_mask_mov_ps(_mm512_set1_ps(inv[0]), 0xFF00, _mm512_set1_ps(inv[1]));
  const __m512 i1 = _mm512_mask_mov_ps(_mm512_set1_ps(inv[2]), 0xFF00, _mm512_set1_ps(inv[3]));
  block64_bf16_v<FMT, TWO, STREAM, VBMI>(x, q1, i0, i1, q2, invp, cv);
}

template <int FMT, bool TWO, bool STREAM, bool VBMI, bool ONE>
FP8K_TARGET_AVX512 inline void block64_bf16_v(const uint16_t* x, uint8_t* q1, __m512 i0, __m512 i1, uint8_t* q2, const float* invp,
                                             const CodeVecs<FMT>& cv) {
  const __m512i v0 = _mm512_loadu_si512(x), v1 = _mm512_loadu_si512(x + 32);
  const __mmask64 neg = _mm512_kunpackd(_mm512_movepi16_mask(v1), _mm512_movepi16_mask(v0));
  const __m512i absm = _mm512_set1_epi16(0x7FFF), him = _mm512_set1_epi32((int)0xFFFF0000u);
  const __m512i a0 = _mm512_and_si512(v0, absm), a1 = _mm512_and_si512(v1, absm);
  const __m512 e0 = _mm512_castsi512_ps(_mm512_slli_epi32(a0, 16)), o0 = _mm512_castsi512_ps(_mm512_and_si512(a0, him));
  const __m512 e1 = _mm512_castsi512_ps(_mm512_slli_epi32(a1, 16)), o1 = _mm512_castsi512_ps(_mm512_and_si512(a1, him));
  if (ONE)
    store64<STREAM>(q1, finish64(pack64_bf16<VBMI>(code_t_avx512<FMT>(_mm512_mul_ps(e0, i0), cv), code_t_avx512<FMT>(_mm512_mul_ps(o0, i0), cv),
                                                   code_t_avx512<FMT>(_mm512_mul_ps(e1, i1), cv), code_t_avx512<FMT>(_mm512_mul_ps(o1, i1), cv), cv),
                                  neg));
  if (TWO)
    _mm512_storeu_si512(q2, finish64(pack64_bf16<VBMI>(code_t_avx512<FMT>(_mm512_mul_ps(e0, _mm512_loadu_ps(invp)), cv),
                                                       code_t_avx512<FMT>(_mm512_mul_ps(o0, _mm512_loadu_ps(invp + 16)), cv),
                                                       code_t_avx512<FMT>(_mm512_mul_ps(e1, _mm512_loadu_ps(invp + 32)), cv),
                                                       code_t_avx512<FMT>(_mm512_mul_ps(o1, _mm512_loadu_ps(invp + 48)), cv), cv),
                                     neg));
}

// f32 input, 64 elements in order.
template <int FMT, bool TWO, bool STREAM, bool ONE = true>
FP8K_TARGET_AVX512 inline void block64_f32(const float* x, uint8_t* q1, const float* inv, uint8_t* q2, const float* invl,
                                          const CodeVecs<FMT>& cv) {
  __m512 f[4];
  __mmask16 n[4];
  for (int j = 0; j < 4; j++) {
    const __m512i v = _mm512_loadu_si512(x + 16 * j);
    n[j] = _mm512_cmplt_epi32_mask(v, _mm512_setzero_si512());
    f[j] = _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32(0x7FFFFFFF)));
  }
  const __mmask64 neg = _mm512_kunpackd((__mmask64)_mm512_kunpackw(n[3], n[2]), (__mmask64)_mm512_kunpackw(n[1], n[0]));
  __m512i c[4], d[4];
  for (int j = 0; j < 4; j++) {
    if (ONE) c[j] = code_abs_avx512<FMT>(_mm512_mul_ps(f[j], _mm512_set1_ps(inv[j])), cv);
    if (TWO) d[j] = code_abs_avx512<FMT>(_mm512_mul_ps(f[j], _mm512_loadu_ps(invl + 16 * j)), cv);
  }
  if (ONE) store64<STREAM>(q1, finish64(pack64_avx512(c[0], c[1], c[2], c[3]), neg));
  if (TWO) _mm512_storeu_si512(q2, finish64(pack64_avx512(d[0], d[1], d[2], d[3]), neg));
}

// ONE false: q1 and invt are not used (quantl: the per-element inverses only).
template <int FMT, bool BF16, bool TWO, bool STREAM, bool VBMI, bool ONE = true>
FP8K_TARGET_AVX512 inline void quant_avx512_impl(const void* x, uint8_t* q1, const float* invt, size_t g, uint8_t* q2, const float* invl,
                                                 const float* invp, size_t n, const void* pf) {
  const CodeVecs<FMT> cv = code_vecs<FMT>();
  const int sh = __builtin_ctzll(g);  // g is a power of two
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    if (pf)
      for (size_t o = 0; o < 64 * (BF16 ? 2 : 4); o += 64) _mm_prefetch(static_cast<const char*>(pf) + i * (BF16 ? 2 : 4) + o, _MM_HINT_T1);
    // Whole 64s of one tile (g >= 64) take one broadcast; smaller tiles four.
    if (BF16 && (g >= 64 || !ONE)) {
      const __m512 iv = ONE ? _mm512_set1_ps(invt[i >> sh]) : _mm512_setzero_ps();
      block64_bf16_v<FMT, TWO, STREAM, VBMI, ONE>(static_cast<const uint16_t*>(x) + i, q1 + i, iv, iv, q2 + i, invp + i, cv);
      continue;
    }
    if (!ONE) {
      const float none[4] = {0, 0, 0, 0};
      block64_f32<FMT, TWO, STREAM, false>(static_cast<const float*>(x) + i, q1 + i, none, q2 + i, invl + i, cv);
      continue;
    }
    const float inv[4] = {invt[i >> sh], invt[(i + 16) >> sh], invt[(i + 32) >> sh], invt[(i + 48) >> sh]};
    if (BF16)
      block64_bf16<FMT, TWO, STREAM, VBMI>(static_cast<const uint16_t*>(x) + i, q1 + i, inv, q2 + i, invp + i, cv);
    else
      block64_f32<FMT, TWO, STREAM>(static_cast<const float*>(x) + i, q1 + i, inv, q2 + i, invl + i, cv);
  }
  for (; i < n; i += 16) {
    const size_t c = n - i < 16 ? n - i : 16;
    const __mmask16 k = (__mmask16)((1u << c) - 1);
    const __m512 v = ld16_avx512<BF16>(x, i, k);
    if (ONE) _mm_mask_storeu_epi8(q1 + i, k, _mm512_cvtepi32_epi8(q16_avx512<FMT>(v, _mm512_set1_ps(invt[i >> sh]))));
    if (TWO) _mm_mask_storeu_epi8(q2 + i, k, _mm512_cvtepi32_epi8(q16_avx512<FMT>(v, _mm512_maskz_loadu_ps(k, invl + i))));
  }
}

template <int FMT, bool BF16, bool VBMI>
FP8K_TARGET_AVX512 void quant_avx512(const void* x, uint8_t* q, size_t n, const float* invt, size_t g, bool stream, const void* pf) {
  if (stream)
    quant_avx512_impl<FMT, BF16, false, true, VBMI>(x, q, invt, g, nullptr, nullptr, nullptr, n, pf);
  else
    quant_avx512_impl<FMT, BF16, false, false, VBMI>(x, q, invt, g, nullptr, nullptr, nullptr, n, pf);
}
template <int FMT, bool BF16, bool VBMI>
FP8K_TARGET_AVX512 void quant2_avx512(const void* x, uint8_t* q1, const float* invt, size_t g, uint8_t* q2, const float* invl,
                                      const float* invp, size_t n, bool stream, const void* pf) {
  if (stream)
    quant_avx512_impl<FMT, BF16, true, true, VBMI>(x, q1, invt, g, q2, invl, invp, n, pf);
  else
    quant_avx512_impl<FMT, BF16, true, false, VBMI>(x, q1, invt, g, q2, invl, invp, n, pf);
}

template <int FMT, bool BF16, bool VBMI>
FP8K_TARGET_AVX512 void quantl_avx512(const void* x, uint8_t* q, const float* invl, const float* invp, size_t n) {
  quant_avx512_impl<FMT, BF16, true, false, VBMI, false>(x, nullptr, nullptr, 1, q, invl, invp, n, nullptr);
}

// 1 x G rows of bf16 (G a multiple of 64, n a multiple of G), 16 tiles at a time: their amax,
// scales (tile_scales), then their conversion from the same (L1-resident) lines. Returns the
// first non-finite tile when strict (SIZE_MAX when none).
template <int FMT, bool STREAM, bool VBMI>
FP8K_TARGET_AVX512 size_t rows_bf16_impl(const void* xv, uint8_t* q, size_t n, size_t g, const fp8k_quant* p, float* s, size_t ss) {
  const CodeVecs<FMT> cv = code_vecs<FMT>();
  const uint16_t* x = static_cast<const uint16_t*>(xv);
  const __m512i absm = _mm512_set1_epi16(0x7FFF);
  alignas(64) uint16_t rv[16 * 32];
  alignas(64) uint32_t amax[16];
  alignas(64) float sc[16], inv[16];
  alignas(64) uint8_t kind[16];
  const size_t tiles = n / g;
  // 16 tiles at a time (in L1): their lane maxima, one reduction and one vector scale step for all
  // of them, then their codes.
  for (size_t b = 0; b < tiles; b += 16) {
    const size_t nt = tiles - b < 16 ? tiles - b : 16;
    for (size_t t = 0; t < 16; t++) {
      __m512i acc = _mm512_setzero_si512();
      if (t < nt)
        for (size_t i = (b + t) * g; i < (b + t + 1) * g; i += 32) acc = _mm512_max_epu16(acc, _mm512_and_si512(_mm512_loadu_si512(x + i), absm));
      _mm512_store_si512(rv + 32 * t, acc);
    }
    tile_max16_bf16(rv, amax, 1, nt);
    const uint8_t any = tile_scales(FP8K_SIMD_AVX512, amax, false, nt, p, sc, inv, kind);
    if ((any & kTileNonFinite) && p->strict)
      for (size_t t = 0; t < nt; t++)
        if (kind[t] == kTileNonFinite) return b + t;
    for (size_t t = 0; t < nt; t++) {
      const size_t t0 = (b + t) * g;
      s[(b + t) * ss] = sc[t];
      if (kind[t] == kTileFast) {
        const __m512 iv = _mm512_set1_ps(inv[t]);
        for (size_t i = t0; i < t0 + g; i += 64) block64_bf16_v<FMT, false, STREAM, VBMI>(x + i, q + i, iv, iv, nullptr, nullptr, cv);
      } else if (kind[t] == kTileNonFinite) {
        memset(q + t0, 0x7F, g);
      } else {
        for (size_t i = t0; i < t0 + g; i++) q[i] = fp8k_quantize_value(fp8k_bf16_to_f32(x[i]), inv[t], FMT);
      }
    }
  }
  return SIZE_MAX;
}

template <int FMT, bool VBMI>
FP8K_TARGET_AVX512 size_t rows_bf16(const void* x, uint8_t* q, size_t n, size_t g, const fp8k_quant* p, float* s, size_t ss, bool stream) {
  return stream ? rows_bf16_impl<FMT, true, VBMI>(x, q, n, g, p, s, ss) : rows_bf16_impl<FMT, false, VBMI>(x, q, n, g, p, s, ss);
}

template <int FMT, bool BF16>
const QuantKernels& kernels(int level) {
  static const QuantKernels scalar = {amax_scalar<BF16>, quant_scalar<FMT, BF16>, quant2_scalar<FMT, BF16>, nullptr, quantl_scalar<FMT, BF16>};
  static const QuantKernels avx2 = {amax_avx2<BF16>, quant_avx2<FMT, BF16>, quant2_avx2<FMT, BF16>, nullptr, quantl_scalar<FMT, BF16>};
  static const QuantKernels avx512 = {amax_avx512<BF16>, quant_avx512<FMT, BF16, false>, quant2_avx512<FMT, BF16, false>,
                                      BF16 ? rows_bf16<FMT, false> : nullptr, quantl_avx512<FMT, BF16, false>};
  // Only the bf16 kernels pack bytes with vpermt2b; f32 keeps the avx512 set.
  static const QuantKernels avx512vbmi = {amax_avx512<BF16>, quant_avx512<FMT, BF16, BF16>, quant2_avx512<FMT, BF16, BF16>,
                                          BF16 ? rows_bf16<FMT, true> : nullptr, quantl_avx512<FMT, BF16, BF16>};
  if (level == FP8K_SIMD_AVX512_VBMI) return avx512vbmi;
  if (level == FP8K_SIMD_AVX512) return avx512;
  // The AVX2 add has no embedded rounding: it needs MXCSR at round to nearest (always so under Node).
  if (level == FP8K_SIMD_AVX2 && (_mm_getcsr() & 0x6000) == 0) return avx2;
  return scalar;
}

}  // namespace

namespace {
FP8K_TARGET_AVX512 uint8_t tile_scales_avx512(const void* a, bool a16, size_t n, const fp8k_quant* p, float* scale, float* inv,
                                           uint8_t* kind) {
  const __m512 eps = _mm512_set1_ps(p->eps), fmax = _mm512_set1_ps(fp8k_fmax(p->format)), one = _mm512_set1_ps(1.0f);
  const bool ue8m0 = p->scale_format == FP8K_SCALE_UE8M0;
  __mmask16 any_nonfinite = 0, any_slow = 0;
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
    const __m512i bits = a16 ? _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(k, static_cast<const uint16_t*>(a) + i)), 16)
                             : _mm512_maskz_loadu_epi32(k, static_cast<const uint32_t*>(a) + i);
    const __mmask16 nonfinite = _mm512_cmpge_epu32_mask(bits, _mm512_set1_epi32(0x7F800000));
    const __m512 am = _mm512_castsi512_ps(bits);
    __m512 sc = _mm512_div_ps(_mm512_mask_blend_ps(_mm512_cmp_ps_mask(am, eps, _CMP_GT_OQ), eps, am), fmax);
    if (ue8m0) {
      const __m512i b = _mm512_castps_si512(sc);
      __m512i e = _mm512_srli_epi32(_mm512_and_si512(b, _mm512_set1_epi32(0x7F800000)), 23);
      e = _mm512_mask_add_epi32(e, _mm512_test_epi32_mask(b, _mm512_set1_epi32(0x7FFFFF)), e, _mm512_set1_epi32(1));
      e = _mm512_min_epi32(_mm512_max_epi32(e, _mm512_set1_epi32(1)), _mm512_set1_epi32(254));
      sc = _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
    }
    sc = _mm512_mask_mov_ps(sc, nonfinite, _mm512_castsi512_ps(_mm512_set1_epi32(0x7FC00000)));
    const __m512 iv = _mm512_div_ps(one, sc);
    const __mmask16 slow = _mm512_cmplt_epu32_mask(_mm512_castps_si512(sc), _mm512_set1_epi32(0x00800000));
    __m512i kd = _mm512_mask_mov_epi32(_mm512_setzero_si512(), slow, _mm512_set1_epi32(kTileSlow));
    kd = _mm512_mask_mov_epi32(kd, nonfinite, _mm512_set1_epi32(kTileNonFinite));
    any_nonfinite |= nonfinite & k;
    any_slow |= slow & ~nonfinite & k;
    if (k == 0xFFFF) {  // plain stores: loads of single entries right after forward from them, masked ones stall
      _mm512_storeu_ps(scale + i, sc);
      _mm512_storeu_ps(inv + i, iv);
      _mm_storeu_si128((__m128i*)(kind + i), _mm512_cvtepi32_epi8(kd));
    } else {
      _mm512_mask_storeu_ps(scale + i, k, sc);
      _mm512_mask_storeu_ps(inv + i, k, iv);
      _mm_mask_storeu_epi8(kind + i, k, _mm512_cvtepi32_epi8(kd));
    }
  }
  return (any_nonfinite ? kTileNonFinite : 0) | (any_slow ? kTileSlow : 0);
}
}  // namespace

uint8_t tile_scales(int level, const void* a, bool a16, size_t n, const fp8k_quant* p, float* scale, float* inv, uint8_t* kind) {
  if (level >= FP8K_SIMD_AVX512) return tile_scales_avx512(a, a16, n, p, scale, inv, kind);
  uint8_t any = 0;
  for (size_t i = 0; i < n; i++)
    any |= kind[i] = tile_scale(a16 ? (uint32_t) static_cast<const uint16_t*>(a)[i] << 16 : static_cast<const uint32_t*>(a)[i], p, &scale[i], &inv[i]);
  return any;
}

const QuantKernels& quant_kernels(int level, int format, bool bf16) {
  if (format == FP8K_FORMAT_E5M2) return bf16 ? kernels<FP8K_FORMAT_E5M2, true>(level) : kernels<FP8K_FORMAT_E5M2, false>(level);
  return bf16 ? kernels<FP8K_FORMAT_E4M3, true>(level) : kernels<FP8K_FORMAT_E4M3, false>(level);
}

namespace {

// Per-row fix-ups after the vector conversion: non-finite tiles become 0x7F, slow tiles are
// converted by the scalar definition. [c0, c1) is the tile's column range within the row.
inline void fix_tile(uint8_t kind, const void* xrow, bool bf16, uint8_t* qrow, size_t c0, size_t c1, float inv, int format) {
  if (kind == kTileNonFinite)
    memset(qrow + c0, 0x7F, c1 - c0);
  else if (kind == kTileSlow)
    for (size_t c = c0; c < c1; c++) qrow[c] = fp8k_quantize_value(load_elem(xrow, bf16, c), inv, format);
}

// 1 x G: one unit per row (of all batch matrices).
void quantize_rows(const void* x, bool bf16, const fp8k_quant* p, uint8_t* q, float* scales, const QuantKernels& k, FirstBad& bad) {
  const size_t g = (size_t)p->tile_cols, cols = p->cols, tc = fp8k_tile_cols_count(p), rows = p->rows;
  const size_t elem = bf16 ? 2 : 4;
  const bool stream = p->batch * rows * cols >= kStreamBytes;
  parallel_units(p->batch * rows, p->batch * rows * cols, [&](size_t u0, size_t u1) {
    std::vector<uint32_t> amax(tc);
    std::vector<float> inv(tc);
    std::vector<uint8_t> kind(tc);
    const bool fused = k.rows && g % 64 == 0 && cols % g == 0;
    for (size_t u = u0; u < u1; u++) {
      const size_t b = u / rows, r = u % rows;
      const void* xr = static_cast<const char*>(x) + u * cols * elem;
      uint8_t* qr = q + u * cols;
      if (fused) {
        const size_t s0 = fp8k_scale_index(p, b, r, 0), ss = tc > 1 ? fp8k_scale_index(p, b, r, 1) - s0 : 0;
        const size_t t = k.rows(xr, qr, cols, g, p, scales + s0, ss, stream);
        if (t != SIZE_MAX) {
          bad.note(u * tc + t);
          break;  // every later tile of this thread has a larger index
        }
        continue;
      }
      k.amax(xr, cols, g, amax.data(), nullptr);
      bool special = false;
      for (size_t t = 0; t < tc; t++) {
        float s;
        kind[t] = tile_scale(amax[t], p, &s, &inv[t]);
        if (kind[t] == kTileNonFinite && p->strict) {
          bad.note(u * tc + t);
          if (stream) _mm_sfence();
          return;  // every later tile of this thread has a larger index
        }
        special |= kind[t] != kTileFast;
        scales[fp8k_scale_index(p, b, r, t)] = s;
      }
      k.quant(xr, qr, cols, inv.data(), g, stream, nullptr);
      if (special) {
        if (stream) _mm_sfence();  // the fix-ups below overwrite streamed bytes
        for (size_t t = 0; t < tc; t++) fix_tile(kind[t], xr, bf16, qr, t * g, (t + 1) * g < cols ? (t + 1) * g : cols, inv[t], p->format);
      }
    }
    if (stream) _mm_sfence();
  });
}

}  // namespace

// G x G on one band of G rows and a chunk of columns (whole blocks): amax of each block from the
// row tiles' maxima, its scale, then the rows converted while the chunk is in L2. Shared with
// cast_transpose.cc.
bool quantize_block_chunk(const void* x, bool bf16, const fp8k_quant* p, size_t b, size_t tr, size_t c0, size_t c1, uint8_t* out,
                          size_t os, float* scales, const QuantKernels& k, BlockScratch& sc, bool stream, FirstBad& bad,
                          const Prefetch& pf) {
  const size_t g = (size_t)p->tile_cols, cols = p->cols, tcn = fp8k_tile_cols_count(p), trn = fp8k_tile_rows_count(p);
  const size_t elem = bf16 ? 2 : 4;
  const size_t r0 = tr * g, r1 = r0 + g < p->rows ? r0 + g : p->rows, w = c1 - c0;
  const size_t nb = fp8k_cdiv(w, g);
  sc.blockmax.assign(nb, 0);
  sc.colmax.assign(w * elem, 0);
  sc.inv.resize(nb);
  sc.kind.resize(nb);
  const char* xb = static_cast<const char*>(x) + (b * p->rows) * cols * elem;
  // A block's amax is the max of its columns' maxima over the band's rows.
  amax_rows(k, xb + (r0 * cols + c0) * elem, bf16, cols, r1 - r0, w, g, nullptr, 0, sc.colmax.data(), sc.amax);
  for (size_t c = 0; c < w; c++) {
    const uint32_t a = colmax_bits(sc.colmax.data(), c, bf16);
    if (a > sc.blockmax[c / g]) sc.blockmax[c / g] = a;
  }
  bool special = false;
  for (size_t j = 0; j < nb; j++) {
    float s;
    sc.kind[j] = tile_scale(sc.blockmax[j], p, &s, &sc.inv[j]);
    const size_t tc = c0 / g + j;
    if (sc.kind[j] == kTileNonFinite && p->strict) {
      bad.note((b * trn + tr) * tcn + tc);
      return false;
    }
    special |= sc.kind[j] != kTileFast;
    scales[fp8k_scale_index(p, b, tr, tc)] = s;
  }
  for (size_t r = r0; r < r1; r++) {
    const char* xr = xb + (r * cols + c0) * elem;
    uint8_t* qr = out + (r - r0) * os;
    k.quant(xr, qr, w, sc.inv.data(), g, stream, pf.row(r - r0));
    if (special && stream) _mm_sfence();  // the fix-ups overwrite streamed bytes
    if (special)
      for (size_t j = 0; j < nb; j++) fix_tile(sc.kind[j], xr, bf16, qr, j * g, (j + 1) * g < w ? (j + 1) * g : w, sc.inv[j], p->format);
  }
  return true;
}

size_t block_chunk_cols(size_t g, size_t elem) {
  const size_t unit = g < 64 ? 64 : g;
  const size_t cw = (256u << 10) / (g * elem) / unit * unit;  // G rows x cw columns: about 256 KiB
  return cw < unit ? unit : cw;
}

int quantize(const void* x, int x_dtype, const fp8k_quant* p, uint8_t* q, float* scales, fp8k_call* call) {
  if (int s = fp8k_check_quant(p, call)) return s;
  if (x_dtype != FP8K_F32 && x_dtype != FP8K_BF16)
    return fp8k_fail(call, FP8K_ERR_DTYPE, "quantize: input must be f32 or bf16 (got dtype %d)", x_dtype);
  const bool bf16 = x_dtype == FP8K_BF16;
  if (p->tile_cols == 1) return quantize_columns(x, bf16, p, q, scales, call);
  const QuantKernels& k = quant_kernels(fp8k_cpu_vector_level(), p->format, bf16);
  FirstBad bad;
  if (p->scale_layout == FP8K_LAYOUT_MN_MAJOR) {
    const size_t a4 = fp8k_align4(p->rows);
    for (size_t t = 0; t < fp8k_tile_cols_count(p); t++)
      for (size_t r = p->rows; r < a4; r++) scales[t * a4 + r] = 0.0f;
  }
  if (p->tile_rows == 1) {
    quantize_rows(x, bf16, p, q, scales, k, bad);
  } else {
    const size_t g = (size_t)p->tile_cols, trn = fp8k_tile_rows_count(p), cw = block_chunk_cols(g, bf16 ? 2 : 4);
    const size_t chunks = fp8k_cdiv(p->cols, cw);
    const bool stream = p->batch * p->rows * p->cols >= kStreamBytes;
    const size_t elem = bf16 ? 2 : 4;
    parallel_units(p->batch * trn * chunks, p->batch * p->rows * p->cols, [&](size_t u0, size_t u1) {
      BlockScratch sc;
      for (size_t u = u0; u < u1; u++) {
        const size_t bt = u / chunks, ch = u % chunks;
        const size_t c0 = ch * cw, c1 = c0 + cw < p->cols ? c0 + cw : p->cols;
        Prefetch pf;
        if (u + 1 < u1) {
          const size_t bt1 = (u + 1) / chunks, ch1 = (u + 1) % chunks, r1 = (bt1 % trn) * p->tile_rows;
          const size_t n0 = ch1 * cw;
          pf.x = static_cast<const char*>(x) + (((bt1 / trn) * p->rows + r1) * p->cols + n0) * elem;
          pf.stride = p->cols * elem;
          pf.rows = r1 + p->tile_rows < p->rows ? p->tile_rows : p->rows - r1;
        }
        uint8_t* out = q + ((bt / trn) * p->rows + (bt % trn) * p->tile_rows) * p->cols + c0;
        if (!quantize_block_chunk(x, bf16, p, bt / trn, bt % trn, c0, c1, out, p->cols, scales, k, sc, stream, bad, pf)) break;
      }
      if (stream) _mm_sfence();
    });
  }
  if (bad.get() != SIZE_MAX) return fp8k_fail_nonfinite(p, bad.get(), call);
  return FP8K_OK;
}

}  // namespace fp8k::cpu
