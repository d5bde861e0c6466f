// SPEC §1 e4m3/e5m2 -> f32/bf16, vectorized. Exact, and equal to fp8k_to_f32
// (common/fp8.h) for all 256 codes:
//   normal codes:    (a + rebias >> shift) << shift, the inverse of the rebias in fp8k_from_f32;
//   subnormal codes: an 8-entry table (magnitudes from fp8k_to_f32), ORed with the sign;
//   codes above max_code (inf, NaN): an 8-entry table of fp8k_to_f32 of 0x7C..0x7F, 0xFC..0xFF.
// bf16 output is the top half of the f32: every fp8 value (and the NaN 0x7FFFFFFF) is
// exact in bf16, so fp8k_bf16_from_f32 reduces to a shift there.
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

using Kernel = void (*)(const uint8_t* q, void* y, size_t n, bool stream);

struct Tables {
  alignas(32) uint32_t sub[8];      // |value| of code j, j < 2^mant_bits
  alignas(32) uint32_t special[8];  // value of code ((j & 4) << 5) | 0x7C | (j & 3)
};

Tables make_tables(int format) {
  const fp8k_fmt f = fp8k_format(format);
  Tables t;
  for (uint32_t j = 0; j < 8; j++) {
    t.sub[j] = j < (1u << f.mant_bits) ? fp8k_f32_bits(fp8k_to_f32((uint8_t)j, format)) : 0;
    t.special[j] = fp8k_f32_bits(fp8k_to_f32((uint8_t)(((j & 4) << 5) | 0x7C | (j & 3)), format));
  }
  return t;
}

template <int FMT>
const Tables& tables() {
  static const Tables t = make_tables(FMT);
  return t;
}

template <int FMT, bool BF16>
void from_scalar(const uint8_t* q, void* y, size_t n, bool) {
  for (size_t i = 0; i < n; i++) {
    const float v = fp8k_to_f32(q[i], FMT);
    if (BF16)
      static_cast<uint16_t*>(y)[i] = fp8k_bf16_from_f32(v);
    else
      static_cast<float*>(y)[i] = v;
  }
}

// ---- AVX2: 16 codes per step (two 8-lane vectors). ----

template <int FMT>
FP8K_TARGET_AVX2 inline __m256i to_f32_avx2(__m256i q, __m256i sub_tab, __m256i spec_tab) {
  const fp8k_fmt f = fp8k_format(FMT);
  const int shift = 23 - (int)f.mant_bits;
  const __m256i a = _mm256_and_si256(q, _mm256_set1_epi32(0x7F));
  const __m256i sign = _mm256_slli_epi32(_mm256_and_si256(q, _mm256_set1_epi32(0x80)), 24);
  const __m256i norm = _mm256_slli_epi32(_mm256_add_epi32(a, _mm256_set1_epi32((int)(f.rebias >> shift))), shift);
  const __m256i is_sub = _mm256_cmpgt_epi32(_mm256_set1_epi32(1 << f.mant_bits), a);
  const __m256i mag = _mm256_blendv_epi8(norm, _mm256_permutevar8x32_epi32(sub_tab, a), is_sub);
  const __m256i spec_idx = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(q, 5), _mm256_set1_epi32(4)),
                                           _mm256_and_si256(q, _mm256_set1_epi32(3)));
  const __m256i is_spec = _mm256_cmpgt_epi32(a, _mm256_set1_epi32((int)f.max_code));
  return _mm256_blendv_epi8(_mm256_or_si256(mag, sign), _mm256_permutevar8x32_epi32(spec_tab, spec_idx), is_spec);
}

template <int FMT, bool BF16>
FP8K_TARGET_AVX2 void from_avx2(const uint8_t* q, void* y, size_t n, bool stream) {
  const __m256i sub_tab = _mm256_load_si256((const __m256i*)tables<FMT>().sub);
  const __m256i spec_tab = _mm256_load_si256((const __m256i*)tables<FMT>().special);
  const size_t out = BF16 ? 2 : 4;
  size_t i = 0;
  // Non-temporal stores need 32-byte aligned output: peel up to it when the
  // output is element-aligned, else store normally.
  if (stream && ((uintptr_t)y % out) == 0) {
    size_t head = ((size_t)(-(uintptr_t)y) & 31) / out;
    if (head > n) head = n;
    from_scalar<FMT, BF16>(q, y, head, false);
    i = head;
  } else {
    stream = false;
  }
  for (; i + 16 <= n; i += 16) {
    const __m256i v0 = to_f32_avx2<FMT>(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)(q + i))), sub_tab, spec_tab);
    const __m256i v1 = to_f32_avx2<FMT>(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)(q + i + 8))), sub_tab, spec_tab);
    if (BF16) {
      const __m256i h = _mm256_permute4x64_epi64(
          _mm256_packus_epi32(_mm256_srli_epi32(v0, 16), _mm256_srli_epi32(v1, 16)), 0xD8);
      __m256i* p = (__m256i*)(static_cast<uint16_t*>(y) + i);
      stream ? _mm256_stream_si256(p, h) : _mm256_storeu_si256(p, h);
    } else {
      __m256i* p = (__m256i*)(static_cast<float*>(y) + i);
      if (stream) {
        _mm256_stream_si256(p, v0);
        _mm256_stream_si256(p + 1, v1);
      } else {
        _mm256_storeu_si256(p, v0);
        _mm256_storeu_si256(p + 1, v1);
      }
    }
  }
  if (stream) _mm_sfence();
  from_scalar<FMT, BF16>(q + i, static_cast<char*>(y) + i * out, n - i, false);
}

// ---- AVX-512: 16 codes per step, masked tail. ----

template <int FMT>
FP8K_TARGET_AVX512 inline __m512i to_f32_avx512(__m512i q, __m512i sub_tab, __m512i spec_tab) {
  const fp8k_fmt f = fp8k_format(FMT);
  const int shift = 23 - (int)f.mant_bits;
  const __m512i a = _mm512_and_si512(q, _mm512_set1_epi32(0x7F));
  const __m512i sign = _mm512_slli_epi32(_mm512_and_si512(q, _mm512_set1_epi32(0x80)), 24);
  __m512i mag = _mm512_slli_epi32(_mm512_add_epi32(a, _mm512_set1_epi32((int)(f.rebias >> shift))), shift);
  const __mmask16 is_sub = _mm512_cmplt_epu32_mask(a, _mm512_set1_epi32(1 << f.mant_bits));
  mag = _mm512_mask_permutexvar_epi32(mag, is_sub, a, sub_tab);  // index bits 0..2 (table doubled to 16)
  const __m512i spec_idx = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(q, 5), _mm512_set1_epi32(4)),
                                           _mm512_and_si512(q, _mm512_set1_epi32(3)));
  const __mmask16 is_spec = _mm512_cmpgt_epu32_mask(a, _mm512_set1_epi32((int)f.max_code));
  return _mm512_mask_permutexvar_epi32(_mm512_or_si512(mag, sign), is_spec, spec_idx, spec_tab);
}

template <int FMT, bool BF16>
FP8K_TARGET_AVX512 inline void store16_avx512(void* y, size_t i, __m512i v, __mmask16 k, bool stream) {
  if (BF16) {
    const __m256i h = _mm512_cvtepi32_epi16(_mm512_srli_epi32(v, 16));  // vpmovdw
    uint16_t* p = static_cast<uint16_t*>(y) + i;
    if (stream) _mm256_stream_si256((__m256i*)p, h);
    else _mm256_mask_storeu_epi16(p, k, h);
  } else {
    float* p = static_cast<float*>(y) + i;
    if (stream) _mm512_stream_si512((__m512i*)p, v);
    else _mm512_mask_storeu_epi32(p, k, v);
  }
}

template <int FMT, bool BF16>
FP8K_TARGET_AVX512 void from_avx512(const uint8_t* q, void* y, size_t n, bool stream) {
  // A 256-bit table broadcast to both halves, so any 4-bit index with bit 3 set still hits it.
  const __m512i sub_tab = _mm512_broadcast_i64x4(_mm256_load_si256((const __m256i*)tables<FMT>().sub));
  const __m512i spec_tab = _mm512_broadcast_i64x4(_mm256_load_si256((const __m256i*)tables<FMT>().special));
  const size_t out = BF16 ? 2 : 4;
  size_t i = 0;
  if (stream && ((uintptr_t)y % out) == 0) {
    // Masked steps up to a 64-byte aligned output, then full-width streaming stores.
    size_t head = ((size_t)(-(uintptr_t)y) & 63) / out;
    if (head > n) head = n;
    for (; i < head; i += 16) {
      const size_t c = head - i < 16 ? head - i : 16;
      const __mmask16 k = (__mmask16)((1u << c) - 1);
      store16_avx512<FMT, BF16>(y, i, to_f32_avx512<FMT>(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(k, q + i)), sub_tab, spec_tab), k, false);
    }
    for (i = head; i + 16 <= n; i += 16)
      store16_avx512<FMT, BF16>(y, i, to_f32_avx512<FMT>(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i*)(q + i))), sub_tab, spec_tab), 0xFFFF, true);
    _mm_sfence();
  }
  for (; i + 16 <= n; i += 16)
    store16_avx512<FMT, BF16>(y, i, to_f32_avx512<FMT>(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i*)(q + i))), sub_tab, spec_tab), 0xFFFF, false);
  if (i < n) {
    const __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
    store16_avx512<FMT, BF16>(y, i, to_f32_avx512<FMT>(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(k, q + i)), sub_tab, spec_tab), k, false);
  }
}

// ---- AVX-512 VBMI: a byte table lookup per byte of the result, 64 codes per step. ----
// Byte j of the result for code c is planes[j][c]; vpermt2b looks up 128 entries of a plane with the
// code's low 7 bits, and the code's sign picks the positive or the negative half. The lookups run over
// the 64 codes in a permuted order that the byte interleaves (vpunpck*, which work per 128-bit lane)
// then put back in order: one shuffle for 64 codes where the 32-bit path spends about ten per 16.

struct BytePlanes {
  alignas(64) uint8_t plane[4][256];  // byte j of the f32 (or, for j < 2, the bf16) bits of code c
};

template <int FMT, bool BF16>
const BytePlanes& byte_planes() {
  static const BytePlanes t = [] {
    BytePlanes p{};
    for (int c = 0; c < 256; c++) {
      const float v = fp8k_to_f32((uint8_t)c, FMT);
      const uint32_t bits = BF16 ? fp8k_bf16_from_f32(v) : fp8k_f32_bits(v);
      for (int j = 0; j < 4; j++) p.plane[j][c] = (uint8_t)(bits >> (8 * j));
    }
    return p;
  }();
  return t;
}

struct Plane {
  __m512i pos_lo, pos_hi, neg_lo, neg_hi;  // codes 0-63, 64-127, 128-191, 192-255
};

FP8K_TARGET_AVX512_VBMI inline Plane load_plane(const uint8_t* t) {
  return {_mm512_load_si512(t), _mm512_load_si512(t + 64), _mm512_load_si512(t + 128), _mm512_load_si512(t + 192)};
}

FP8K_TARGET_AVX512_VBMI inline __m512i look_up(const Plane& p, __m512i q, __mmask64 negative) {
  return _mm512_mask_blend_epi8(negative, _mm512_permutex2var_epi8(p.pos_lo, q, p.pos_hi),
                                _mm512_permutex2var_epi8(p.neg_lo, q, p.neg_hi));
}

template <bool BF16>
struct DecodeVbmi {
  static constexpr int kPlanes = BF16 ? 2 : 4;
  static constexpr size_t kOut = BF16 ? 2 : 4;
  Plane planes[kPlanes];

  // Up to 64 codes at q (count of them) to y; non-temporal stores when `stream` (full steps only).
  FP8K_TARGET_AVX512_VBMI void step(const uint8_t* q, void* y, size_t count, bool stream) const {
    const __mmask64 k = count >= 64 ? ~0ull : (1ull << count) - 1;
    const __m512i raw = _mm512_maskz_loadu_epi8(k, q);
    __m512i v[4];
    if constexpr (BF16) {
      // Lane L's low 8 bytes must hold codes 8L..8L+7 and its high 8 bytes codes 32+8L..32+8L+7.
      const __m512i c = _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 4, 1, 5, 2, 6, 3, 7), raw);
      const __mmask64 neg = _mm512_movepi8_mask(c);
      const __m512i b0 = look_up(planes[0], c, neg), b1 = look_up(planes[1], c, neg);
      v[0] = _mm512_unpacklo_epi8(b0, b1);
      v[1] = _mm512_unpackhi_epi8(b0, b1);
    } else {
      // Dword 4L + k of the permuted codes must hold codes 16k + 4L..+3: a 4 x 4 transpose of dwords.
      const __m512i c = _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), raw);
      const __mmask64 neg = _mm512_movepi8_mask(c);
      __m512i b[4];
      for (int j = 0; j < 4; j++) b[j] = look_up(planes[j], c, neg);
      const __m512i w01lo = _mm512_unpacklo_epi8(b[0], b[1]), w01hi = _mm512_unpackhi_epi8(b[0], b[1]);
      const __m512i w23lo = _mm512_unpacklo_epi8(b[2], b[3]), w23hi = _mm512_unpackhi_epi8(b[2], b[3]);
      v[0] = _mm512_unpacklo_epi16(w01lo, w23lo);
      v[1] = _mm512_unpackhi_epi16(w01lo, w23lo);
      v[2] = _mm512_unpacklo_epi16(w01hi, w23hi);
      v[3] = _mm512_unpackhi_epi16(w01hi, w23hi);
    }
    char* out = static_cast<char*>(y);
    constexpr size_t per = 64 / kOut;  // elements per vector
    for (size_t j = 0; j < 64 / per; j++) {
      __m512i* p = (__m512i*)(out + j * 64);
      if (stream) _mm512_stream_si512(p, v[j]);
      else if (count >= (j + 1) * per) _mm512_storeu_si512(p, v[j]);
      else if (count > j * per) {
        const size_t c = count - j * per;
        if constexpr (BF16) _mm512_mask_storeu_epi16(p, (__mmask32)((1ull << c) - 1), v[j]);
        else _mm512_mask_storeu_epi32(p, (__mmask16)((1u << c) - 1), v[j]);
      }
    }
  }
};

template <int FMT, bool BF16>
FP8K_TARGET_AVX512_VBMI void from_vbmi(const uint8_t* q, void* y, size_t n, bool stream) {
  DecodeVbmi<BF16> d;
  for (int j = 0; j < DecodeVbmi<BF16>::kPlanes; j++) d.planes[j] = load_plane(byte_planes<FMT, BF16>().plane[j]);
  const size_t out = DecodeVbmi<BF16>::kOut;
  char* yb = static_cast<char*>(y);
  size_t i = 0;
  if (stream && ((uintptr_t)y % out) == 0) {
    // One masked step up to a 64-byte aligned output, then full lines, streamed.
    size_t head = ((size_t)(-(uintptr_t)y) & 63) / out;
    if (head > n) head = n;
    if (head) d.step(q, yb, head, false);
    for (i = head; i + 64 <= n; i += 64) d.step(q + i, yb + i * out, 64, true);
    _mm_sfence();
  }
  for (; i < n; i += 64) d.step(q + i, yb + i * out, n - i < 64 ? n - i : 64, false);
}

template <int FMT, bool BF16>
Kernel kernel_for(int level) {
  switch (level) {
    case FP8K_SIMD_AVX512_VBMI: return from_vbmi<FMT, BF16>;
    case FP8K_SIMD_AVX512: return from_avx512<FMT, BF16>;
    case FP8K_SIMD_AVX2: return from_avx2<FMT, BF16>;
    default: return from_scalar<FMT, BF16>;
  }
}

}  // namespace

int cast_from_fp8(const uint8_t* q, int format, void* y, int y_dtype, size_t n, fp8k_call* call) {
  if (y_dtype != FP8K_F32 && y_dtype != FP8K_BF16)
    return fp8k_fail(call, FP8K_ERR_DTYPE, "cast_from_fp8: output must be f32 or bf16 (got dtype %d)", y_dtype);
  if (format != FP8K_FORMAT_E4M3 && format != FP8K_FORMAT_E5M2)
    return fp8k_fail(call, FP8K_ERR_ARGUMENT, "cast_from_fp8: unknown fp8 format %d", format);
  if (n && (!q || !y)) return fp8k_fail(call, FP8K_ERR_ARGUMENT, "cast_from_fp8: null buffer");
  const int level = fp8k_cpu_vector_level();
  const bool bf16 = y_dtype == FP8K_BF16;
  const Kernel k = format == FP8K_FORMAT_E5M2
                       ? (bf16 ? kernel_for<FP8K_FORMAT_E5M2, true>(level) : kernel_for<FP8K_FORMAT_E5M2, false>(level))
                       : (bf16 ? kernel_for<FP8K_FORMAT_E4M3, true>(level) : kernel_for<FP8K_FORMAT_E4M3, false>(level));
  const size_t out = bf16 ? 2 : 4;
  const bool stream = n * out >= kStreamBytes;
  fp8k_parallel_for(n, kGrain, [=](size_t b, size_t e) { k(q + b, static_cast<char*>(y) + b * out, e - b, stream); });
  return FP8K_OK;
}

}  // namespace fp8k::cpu
