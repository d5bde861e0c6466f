// SPEC.md §1: the scalar conversions every backend calls. Pinned bit for bit to
// NVIDIA's cuda_fp8.h host path by test/oracle (all 2^32 f32 inputs).
#pragma once
#include <stdint.h>
#include <string.h>
#include "hd.h"

enum { FP8K_FORMAT_E4M3 = 0, FP8K_FORMAT_E5M2 = 1 };

FP8K_HD uint32_t fp8k_f32_bits(float x) { uint32_t b; memcpy(&b, &x, 4); return b; }
FP8K_HD float fp8k_bits_f32(uint32_t b) { float x; memcpy(&x, &b, 4); return x; }

// Round to nearest even, on the exact value. Formats differ only in these constants.
struct fp8k_fmt {
  uint32_t mant_bits;   // 3 (e4m3) or 2 (e5m2)
  uint32_t rebias;      // (127 - bias) << 23: moves the f32 exponent onto the fp8 one
  uint32_t min_normal;  // f32 bits of the smallest fp8 normal
  uint32_t max_code;    // largest finite code
  uint32_t overflow;    // code for overflow / inf without saturation
};

FP8K_HD struct fp8k_fmt fp8k_format(int format) {
  struct fp8k_fmt e4m3 = {3, 120u << 23, 0x3C800000u /* 2^-6 */, 0x7E, 0x7F};
  struct fp8k_fmt e5m2 = {2, 112u << 23, 0x38800000u /* 2^-14 */, 0x7B, 0x7C};
  return format == FP8K_FORMAT_E5M2 ? e5m2 : e4m3;
}

FP8K_HD uint8_t fp8k_from_f32(float x, int format, int saturate) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
  // The hardware conversion, as cuda_fp8.h's own __nv_cvt_float_to_fp8 uses on the device for SATFINITE;
  // its host path, which test/oracle pins this function to, is the same function's other branch.
  if (saturate) {
    unsigned short r;
    if (format == FP8K_FORMAT_E5M2)
      asm("cvt.rn.satfinite.e5m2x2.f32 %0, %2, %1;" : "=h"(r) : "f"(x), "f"(0.0f));
    else
      asm("cvt.rn.satfinite.e4m3x2.f32 %0, %2, %1;" : "=h"(r) : "f"(x), "f"(0.0f));
    return (uint8_t)r;
  }
#endif
  const struct fp8k_fmt f = fp8k_format(format);
  const uint32_t bits = fp8k_f32_bits(x);
  const uint32_t sign = (bits >> 24) & 0x80u;
  const uint32_t a = bits & 0x7FFFFFFFu;
  if (a > 0x7F800000u) return 0x7F;  // NaN, whatever its sign
  const uint32_t shift = 23 - f.mant_bits;
  uint32_t code;
  if (a >= f.min_normal) {
    const uint32_t r = a - f.rebias;
    code = (r + ((1u << (shift - 1)) - 1) + ((r >> shift) & 1u)) >> shift;
    if (code > f.max_code)  // also catches ±inf
      return (uint8_t)(sign | (saturate ? f.max_code : f.overflow));
  } else {
    // Subnormal target: value / 2^(min_exp - mant_bits), rounded to an integer.
    const int32_t e = (int32_t)(a >> 23);  // biased f32 exponent, 0 for f32 subnormals
    const uint32_t m = e ? ((a & 0x7FFFFFu) | 0x800000u) : (a & 0x7FFFFFu);
    const int32_t min_exp = (int32_t)(f.min_normal >> 23);  // biased exponent of the smallest normal
    const int32_t s = (int32_t)shift + min_exp - (e ? e : 1);  // right shift taking m to units of the subnormal step
    if (s > 24) {
      code = 0;
    } else {
      const uint32_t q = m >> s, rem = m & ((1u << s) - 1), half = 1u << (s - 1);
      code = q + (rem > half || (rem == half && (q & 1u)));
    }
  }
  return (uint8_t)(sign | code);
}

// fp8 -> f32 is exact. NaN becomes 0x7FFFFFFF, the canonical NaN of CUDA's half -> float.
FP8K_HD float fp8k_to_f32(uint8_t q, int format) {
  const uint32_t sign = (uint32_t)(q & 0x80) << 24;
  const uint32_t a = q & 0x7Fu;
  if (format == FP8K_FORMAT_E5M2) {
    if (a > 0x7C) return fp8k_bits_f32(0x7FFFFFFFu);
    if (a == 0x7C) return fp8k_bits_f32(sign | 0x7F800000u);
    if (a < 4) return fp8k_bits_f32(sign | fp8k_f32_bits((float)a * 0x1p-16f));
    return fp8k_bits_f32(sign | ((a + (112u << 2)) << 21));
  }
  if (a == 0x7F) return fp8k_bits_f32(0x7FFFFFFFu);
  if (a < 8) return fp8k_bits_f32(sign | fp8k_f32_bits((float)a * 0x1p-9f));
  return fp8k_bits_f32(sign | ((a + (120u << 3)) << 20));
}

// f32 -> bf16: round to nearest even; a NaN keeps its sign and payload top bits and is made quiet.
FP8K_HD uint16_t fp8k_bf16_from_f32(float x) {
  const uint32_t b = fp8k_f32_bits(x);
  if ((b & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((b >> 16) | 0x40u);
  return (uint16_t)((b + 0x7FFFu + ((b >> 16) & 1u)) >> 16);
}

FP8K_HD float fp8k_bf16_to_f32(uint16_t h) { return fp8k_bits_f32((uint32_t)h << 16); }

FP8K_HD float fp8k_fmax(int format) { return format == FP8K_FORMAT_E5M2 ? 57344.0f : 448.0f; }
