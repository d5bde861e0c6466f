// SPEC §1 f32/bf16 -> e4m3/e5m2, vectorized. Every tier runs the algorithm of
// fp8k_from_f32 (common/fp8.h) lane by lane, so results match it bit for bit:
//   normal target:    r = |x| - rebias, round-to-nearest-even shift by (23 - mant_bits),
//                     then overflow -> max_code (saturate) or the overflow code;
//   subnormal target: the f32 significand shifted right by s = shift + min_exp - e, RNE
//                     (the SIMD tiers get the same bits from one float add, see to_fp8_avx512);
//   NaN -> 0x7F. Both paths are computed for every lane and blended (no branch on data).
// GCC 12 warns falsely about the _mm512_undefined_* inside inlined intrinsics (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include "../common/fp8.h"
#include "ops.h"
#include "parallel.h"
#include "simd.h"

namespace fp8k::cpu {
namespace {

using Kernel = void (*)(const void* x, uint8_t* q, size_t n, bool stream);

template <bool BF16>
inline float load_scalar(const void* x, size_t i) {
  return BF16 ? fp8k_bf16_to_f32(static_cast<const uint16_t*>(x)[i]) : static_cast<const float*>(x)[i];
}

template <int FMT, bool SAT, bool BF16>
void cast_scalar(const void* x, uint8_t* q, size_t n, bool) {
  for (size_t i = 0; i < n; i++) q[i] = fp8k_from_f32(load_scalar<BF16>(x, i), FMT, SAT);
}

// ---- AVX2: 8 lanes; 32 elements per step, packed to 32 bytes. ----

template <int FMT, bool SAT, bool FP_SUB>
FP8K_TARGET_AVX2 inline __m256i to_fp8_avx2(__m256i bits) {
  const fp8k_fmt f = fp8k_format(FMT);
  const int shift = 23 - (int)f.mant_bits;
  const int min_exp = (int)(f.min_normal >> 23);
  const __m256i one = _mm256_set1_epi32(1);
  const __m256i a = _mm256_and_si256(bits, _mm256_set1_epi32(0x7FFFFFFF));
  const __m256i sign = _mm256_and_si256(_mm256_srli_epi32(bits, 24), _mm256_set1_epi32(0x80));
  // Normal target. |x| is non-negative as int32, so signed compares are fine.
  const __m256i r = _mm256_sub_epi32(a, _mm256_set1_epi32((int)f.rebias));
  const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(r, shift), one);
  __m256i code = _mm256_srli_epi32(
      _mm256_add_epi32(_mm256_add_epi32(r, _mm256_set1_epi32((1 << (shift - 1)) - 1)), odd), shift);
  const __m256i ovf = _mm256_cmpgt_epi32(code, _mm256_set1_epi32((int)f.max_code));
  code = _mm256_blendv_epi8(code, _mm256_set1_epi32((int)(SAT ? f.max_code : f.overflow)), ovf);
  const __m256i sub = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)f.min_normal), a);
  __m256i cs;
  if (FP_SUB) {
    // Subnormal target in floating point, as in to_fp8_avx512 (the caller checked that
    // MXCSR rounds to nearest even; AVX2 has no embedded rounding).
    const __m256i magic = _mm256_set1_epi32((min_exp - (int)f.mant_bits + 23) << 23);
    cs = _mm256_sub_epi32(
        _mm256_castps_si256(_mm256_add_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(magic))), magic);
  } else {
    // fp8k_from_f32's integer path: s >= shift + 1 on these lanes; clamping at 31 keeps the
    // variable shifts defined (a shift of 25..31 already yields 0, as in fp8.h).
    const __m256i e = _mm256_srli_epi32(a, 23);
    const __m256i implicit = _mm256_andnot_si256(_mm256_cmpeq_epi32(e, _mm256_setzero_si256()),
                                                 _mm256_set1_epi32(0x800000));
    const __m256i m = _mm256_or_si256(_mm256_and_si256(a, _mm256_set1_epi32(0x7FFFFF)), implicit);
    const __m256i s = _mm256_min_epu32(
        _mm256_sub_epi32(_mm256_set1_epi32(shift + min_exp), _mm256_max_epu32(e, one)), _mm256_set1_epi32(31));
    const __m256i sodd = _mm256_and_si256(_mm256_srlv_epi32(m, s), one);
    const __m256i half_m1 = _mm256_sub_epi32(_mm256_sllv_epi32(one, _mm256_sub_epi32(s, one)), one);
    cs = _mm256_srlv_epi32(_mm256_add_epi32(_mm256_add_epi32(m, half_m1), sodd), s);
  }
  code = _mm256_or_si256(_mm256_blendv_epi8(code, cs, sub), sign);
  const __m256i nan = _mm256_cmpgt_epi32(a, _mm256_set1_epi32(0x7F800000));
  return _mm256_blendv_epi8(code, _mm256_set1_epi32(0x7F), nan);
}

template <bool BF16>
FP8K_TARGET_AVX2 inline __m256i load8_avx2(const void* x, size_t i) {
  if (BF16)
    return _mm256_slli_epi32(
        _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)(static_cast<const uint16_t*>(x) + i))), 16);
  return _mm256_loadu_si256((const __m256i*)(static_cast<const float*>(x) + i));
}

// 32 codes (each < 256 in a 32-bit lane) -> 32 bytes in order.
template <int FMT, bool SAT, bool BF16, bool FP_SUB>
FP8K_TARGET_AVX2 inline __m256i cast32_avx2(const void* x, size_t i) {
  const __m256i c0 = to_fp8_avx2<FMT, SAT, FP_SUB>(load8_avx2<BF16>(x, i));
  const __m256i c1 = to_fp8_avx2<FMT, SAT, FP_SUB>(load8_avx2<BF16>(x, i + 8));
  const __m256i c2 = to_fp8_avx2<FMT, SAT, FP_SUB>(load8_avx2<BF16>(x, i + 16));
  const __m256i c3 = to_fp8_avx2<FMT, SAT, FP_SUB>(load8_avx2<BF16>(x, i + 24));
  // packs work per 128-bit lane: dwords come out as c0lo c1lo c2lo c3lo c0hi c1hi c2hi c3hi.
  const __m256i p = _mm256_packus_epi16(_mm256_packus_epi32(c0, c1), _mm256_packus_epi32(c2, c3));
  return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

template <int FMT, bool SAT, bool BF16, bool FP_SUB>
FP8K_TARGET_AVX2 void cast_avx2_impl(const void* x, uint8_t* q, size_t n, bool stream) {
  size_t i = 0;
  if (stream) {
    size_t head = (size_t)(-(uintptr_t)q) & 31;
    if (head > n) head = n;
    cast_scalar<FMT, SAT, BF16>(x, q, head, false);
    for (i = head; i + 32 <= n; i += 32)
      _mm256_stream_si256((__m256i*)(q + i), cast32_avx2<FMT, SAT, BF16, FP_SUB>(x, i));
    _mm_sfence();
  }
  for (; i + 32 <= n; i += 32) _mm256_storeu_si256((__m256i*)(q + i), cast32_avx2<FMT, SAT, BF16, FP_SUB>(x, i));
  const size_t elem = BF16 ? 2 : 4;
  cast_scalar<FMT, SAT, BF16>(static_cast<const char*>(x) + i * elem, q + i, n - i, false);
}

template <int FMT, bool SAT, bool BF16>
FP8K_TARGET_AVX2 void cast_avx2(const void* x, uint8_t* q, size_t n, bool stream) {
  // The floating-point subnormal path needs MXCSR's rounding control at nearest (RC = 00):
  // always so under Node, but a caller may have changed it.
  if ((_mm_getcsr() & 0x6000) == 0)
    cast_avx2_impl<FMT, SAT, BF16, true>(x, q, n, stream);
  else
    cast_avx2_impl<FMT, SAT, BF16, false>(x, q, n, stream);
}

// ---- AVX-512: 16 lanes with mask registers; masked loads/stores for tails. ----

// The subnormal code of |x| < min_normal (f32 bits `a`); `magic` is 2^23 times the subnormal step.
template <int FMT>
FP8K_TARGET_AVX512 inline __m512i subnormal_code(__m512i a) {
  const fp8k_fmt f = fp8k_format(FMT);
  const __m512i magic = _mm512_set1_epi32(((int)(f.min_normal >> 23) - (int)f.mant_bits + 23) << 23);
  return _mm512_sub_epi32(_mm512_castps_si512(_mm512_add_round_ps(_mm512_castsi512_ps(a), _mm512_castsi512_ps(magic),
                                                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)),
                          magic);
}

template <int FMT, bool SAT>
FP8K_TARGET_AVX512 inline __m512i to_fp8_avx512(__m512i bits) {
  const fp8k_fmt f = fp8k_format(FMT);
  const int shift = 23 - (int)f.mant_bits;
  const __m512i one = _mm512_set1_epi32(1);
  const __m512i a = _mm512_and_si512(bits, _mm512_set1_epi32(0x7FFFFFFF));
  const __m512i sign = _mm512_and_si512(_mm512_srli_epi32(bits, 24), _mm512_set1_epi32(0x80));
  const __m512i r = _mm512_sub_epi32(a, _mm512_set1_epi32((int)f.rebias));
  const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(r, shift), one);
  __m512i code = _mm512_srli_epi32(
      _mm512_add_epi32(_mm512_add_epi32(r, _mm512_set1_epi32((1 << (shift - 1)) - 1)), odd), shift);
  const __mmask16 ovf = _mm512_cmpgt_epu32_mask(code, _mm512_set1_epi32((int)f.max_code));
  code = _mm512_mask_mov_epi32(code, ovf, _mm512_set1_epi32((int)(SAT ? f.max_code : f.overflow)));
  const __mmask16 sub = _mm512_cmplt_epu32_mask(a, _mm512_set1_epi32((int)f.min_normal));
  // Subnormal target, in floating point: adding 2^23 times the subnormal step lands every
  // |x| < min_normal in one binade whose ulp is that step, so the hardware's round to nearest
  // even yields the code in the low mantissa bits (8 = min normal is right too). Embedded
  // rounding pins RNE whatever MXCSR says; DAZ only zeroes f32 subnormals, whose code is 0 anyway.
  // The oracle pins this to fp8k_from_f32's integer path over all 2^32 inputs.
  const __m512i cs = subnormal_code<FMT>(a);
  code = _mm512_or_si512(_mm512_mask_mov_epi32(code, sub, cs), sign);
  const __mmask16 nan = _mm512_cmpgt_epu32_mask(a, _mm512_set1_epi32(0x7F800000));
  return _mm512_mask_mov_epi32(code, nan, _mm512_set1_epi32(0x7F));
}

FP8K_TARGET_AVX512 inline __m512i load16_avx512(const void* x, size_t i, __mmask16 k) {
  return _mm512_maskz_loadu_epi32(k, static_cast<const float*>(x) + i);
}

template <int FMT, bool SAT>
FP8K_TARGET_AVX512 inline __m128i cast16_avx512(const void* x, size_t i, __mmask16 k = 0xFFFF) {
  return _mm512_cvtepi32_epi8(to_fp8_avx512<FMT, SAT>(load16_avx512(x, i, k)));  // vpmovdb
}

// 64 elements -> 64 bytes: two saturating packs (codes are < 256) and one permute to
// undo their per-128-bit-lane interleave; cheaper than four vpmovdb.
template <int FMT, bool SAT>
FP8K_TARGET_AVX512 inline __m512i cast64_avx512(const void* x, size_t i) {
  const __m512i c0 = to_fp8_avx512<FMT, SAT>(load16_avx512(x, i, 0xFFFF));
  const __m512i c1 = to_fp8_avx512<FMT, SAT>(load16_avx512(x, i + 16, 0xFFFF));
  const __m512i c2 = to_fp8_avx512<FMT, SAT>(load16_avx512(x, i + 32, 0xFFFF));
  const __m512i c3 = to_fp8_avx512<FMT, SAT>(load16_avx512(x, i + 48, 0xFFFF));
  const __m512i p = _mm512_packus_epi16(_mm512_packus_epi32(c0, c1), _mm512_packus_epi32(c2, c3));
  return _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), p);
}

// Up to 16 elements at i, masked.
template <int FMT, bool SAT>
FP8K_TARGET_AVX512 inline void tail_avx512(const void* x, uint8_t* q, size_t i, size_t count) {
  const __mmask16 k = (__mmask16)((1u << count) - 1);
  _mm_mask_storeu_epi8(q + i, k, cast16_avx512<FMT, SAT>(x, i, k));
}

template <int FMT, bool SAT>
FP8K_TARGET_AVX512 void cast_avx512(const void* x, uint8_t* q, size_t n, bool stream) {
  size_t i = 0;
  if (stream) {
    // Reach a 64-byte aligned q, then one full-line non-temporal store per 64 elements.
    size_t head = (size_t)(-(uintptr_t)q) & 63;
    if (head > n) head = n;
    for (; i < head; i += 16) tail_avx512<FMT, SAT>(x, q, i, head - i < 16 ? head - i : 16);
    i = head;
    for (; i + 64 <= n; i += 64) _mm512_stream_si512((__m512i*)(q + i), cast64_avx512<FMT, SAT>(x, i));
    _mm_sfence();
  }
  for (; i + 64 <= n; i += 64) _mm512_storeu_si512((__m512i*)(q + i), cast64_avx512<FMT, SAT>(x, i));
  for (; i + 16 <= n; i += 16) _mm_storeu_si128((__m128i*)(q + i), cast16_avx512<FMT, SAT>(x, i));
  if (i < n) tail_avx512<FMT, SAT>(x, q, i, n - i);
}

// ---- AVX-512 for bf16 input: 32 lanes of 16 bits, the same algorithm on bf16's bits. ----
// bf16 is the top half of an f32 whose low half is zero, and rebias, min_normal and the rounding
// increment of the normal path all lie in that top half, so the normal path is the f32 one shifted
// right by 16. The subnormal path is the f32 one itself, on the two halves widened to f32 and packed
// back (unpack and pack both work per 128-bit lane, so the order comes back as it was). About 50
// instructions per 64 elements, against about 80 when every bf16 is widened to a 32-bit lane.

template <int FMT, bool SAT>
FP8K_TARGET_AVX512 inline __m512i to_fp8_bf16x32(__m512i bits) {
  const fp8k_fmt f = fp8k_format(FMT);
  const int shift = 7 - (int)f.mant_bits;
  const __m512i a = _mm512_and_si512(bits, _mm512_set1_epi16(0x7FFF));
  // Normal target; lanes where |x| - rebias wraps are subnormal targets, replaced below.
  const __m512i r = _mm512_sub_epi16(a, _mm512_set1_epi16((short)(f.rebias >> 16)));
  const __m512i odd = _mm512_and_si512(_mm512_srli_epi16(r, shift), _mm512_set1_epi16(1));
  __m512i code = _mm512_srli_epi16(_mm512_add_epi16(_mm512_add_epi16(r, _mm512_set1_epi16((short)((1 << (shift - 1)) - 1))), odd), shift);
  const __mmask32 ovf = _mm512_cmpgt_epu16_mask(code, _mm512_set1_epi16((short)f.max_code));
  code = _mm512_mask_mov_epi16(code, ovf, _mm512_set1_epi16((short)(SAT ? f.max_code : f.overflow)));
  // Subnormal target: to_fp8_avx512's float add, on the f32 values of the two halves.
  const __m512i zero = _mm512_setzero_si512();
  const __m512i cs = _mm512_packus_epi32(subnormal_code<FMT>(_mm512_unpacklo_epi16(zero, a)),
                                         subnormal_code<FMT>(_mm512_unpackhi_epi16(zero, a)));
  const __mmask32 sub = _mm512_cmplt_epu16_mask(a, _mm512_set1_epi16((short)(f.min_normal >> 16)));
  code = _mm512_mask_mov_epi16(code, sub, cs);
  // code | (bits >> 8 & 0x80): the sign.
  code = _mm512_ternarylogic_epi32(code, _mm512_srli_epi16(bits, 8), _mm512_set1_epi16(0x80), 0xF8);
  const __mmask32 nan = _mm512_cmpgt_epu16_mask(a, _mm512_set1_epi16(0x7F80));
  return _mm512_mask_mov_epi16(code, nan, _mm512_set1_epi16(0x7F));
}

// Up to 64 bf16 at x (count of them) -> 64 codes in order.
template <int FMT, bool SAT>
FP8K_TARGET_AVX512 inline __m512i cast64_bf16(const uint16_t* x, size_t count) {
  const __mmask32 k0 = count >= 32 ? ~0u : (__mmask32)((1ull << count) - 1);
  const __mmask32 k1 = count >= 64 ? ~0u : count <= 32 ? 0 : (__mmask32)((1ull << (count - 32)) - 1);
  const __m512i c0 = to_fp8_bf16x32<FMT, SAT>(_mm512_maskz_loadu_epi16(k0, x));
  const __m512i c1 = to_fp8_bf16x32<FMT, SAT>(_mm512_maskz_loadu_epi16(k1, x + 32));
  // packus works per 128-bit lane: qwords come out as c0 lane 0, c1 lane 0, c0 lane 1, ...
  return _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 2, 4, 6, 1, 3, 5, 7), _mm512_packus_epi16(c0, c1));
}

template <int FMT, bool SAT>
FP8K_TARGET_AVX512 void cast_bf16_avx512(const void* xv, uint8_t* q, size_t n, bool stream) {
  const uint16_t* x = static_cast<const uint16_t*>(xv);
  size_t i = 0;
  if (stream) {
    size_t head = (size_t)(-(uintptr_t)q) & 63;
    if (head > n) head = n;
    if (head) _mm512_mask_storeu_epi8(q, (1ull << head) - 1, cast64_bf16<FMT, SAT>(x, head));
    for (i = head; i + 64 <= n; i += 64) _mm512_stream_si512((__m512i*)(q + i), cast64_bf16<FMT, SAT>(x + i, 64));
    _mm_sfence();
  }
  for (; i + 64 <= n; i += 64) _mm512_storeu_si512((__m512i*)(q + i), cast64_bf16<FMT, SAT>(x + i, 64));
  if (i < n) _mm512_mask_storeu_epi8(q + i, (1ull << (n - i)) - 1, cast64_bf16<FMT, SAT>(x + i, n - i));
}

template <int FMT, bool SAT, bool BF16>
Kernel kernel_for(int level) {
  switch (level) {
    case FP8K_SIMD_AVX512_VBMI:
    case FP8K_SIMD_AVX512:
      if constexpr (BF16) return cast_bf16_avx512<FMT, SAT>;
      else return cast_avx512<FMT, SAT>;
    case FP8K_SIMD_AVX2: return cast_avx2<FMT, SAT, BF16>;
    default: return cast_scalar<FMT, SAT, BF16>;
  }
}

template <bool BF16>
Kernel kernel_for(int level, int format, bool saturate) {
  if (format == FP8K_FORMAT_E5M2)
    return saturate ? kernel_for<FP8K_FORMAT_E5M2, true, BF16>(level) : kernel_for<FP8K_FORMAT_E5M2, false, BF16>(level);
  return saturate ? kernel_for<FP8K_FORMAT_E4M3, true, BF16>(level) : kernel_for<FP8K_FORMAT_E4M3, false, BF16>(level);
}

}  // namespace

int cast_to_fp8(const void* x, int x_dtype, uint8_t* q, size_t n, int format, int saturate, fp8k_call* call) {
  if (x_dtype != FP8K_F32 && x_dtype != FP8K_BF16)
    return fp8k_fail(call, FP8K_ERR_DTYPE, "cast_to_fp8: input must be f32 or bf16 (got dtype %d)", x_dtype);
  if (format != FP8K_FORMAT_E4M3 && format != FP8K_FORMAT_E5M2)
    return fp8k_fail(call, FP8K_ERR_ARGUMENT, "cast_to_fp8: unknown fp8 format %d", format);
  if (n && (!x || !q)) return fp8k_fail(call, FP8K_ERR_ARGUMENT, "cast_to_fp8: null buffer");
  const bool bf16 = x_dtype == FP8K_BF16;
  const Kernel k = bf16 ? kernel_for<true>(fp8k_cpu_vector_level(), format, saturate != 0)
                        : kernel_for<false>(fp8k_cpu_vector_level(), format, saturate != 0);
  const bool stream = n >= kStreamBytes;
  const size_t elem = bf16 ? 2 : 4;
  fp8k_parallel_for(n, kGrain, [=](size_t b, size_t e) {
    k(static_cast<const char*>(x) + b * elem, q + b, e - b, stream);
  });
  return FP8K_OK;
}

}  // namespace fp8k::cpu
