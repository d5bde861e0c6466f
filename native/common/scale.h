// SPEC §2 steps 2-5: from a tile's amax to its scale, and from a value to its FP8 code.
// Every backend calls these; the order of operations is the contract (no FMA anywhere).
#pragma once
#include "fp8.h"

enum { FP8K_SCALE_F32 = 0, FP8K_SCALE_UE8M0 = 1 };
enum { FP8K_LAYOUT_ROW = 0, FP8K_LAYOUT_MN_MAJOR = 1 };

// amax: max |x| over the tile's elements inside the tensor (finite tiles only).
FP8K_HD float fp8k_tile_scale(float amax, float eps, int format, int scale_format) {
  const float a = amax > eps ? amax : eps;
  float scale = a / fp8k_fmax(format);
  if (scale_format == FP8K_SCALE_UE8M0) {
    // Round up to a power of two: the exponent, plus one when any mantissa bit is set.
    const uint32_t bits = fp8k_f32_bits(scale);
    int32_t e = (int32_t)((bits >> 23) & 0xFF) + ((bits & 0x7FFFFF) != 0);
    e = e < 1 ? 1 : e > 254 ? 254 : e;
    scale = fp8k_bits_f32((uint32_t)e << 23);
  }
  return scale;
}

// The scale of a tile holding NaN or ±inf: NaN, and every byte of the tile 0x7F.
FP8K_HD float fp8k_nonfinite_scale(void) { return fp8k_bits_f32(0x7FC00000u); }

FP8K_HD bool fp8k_is_finite(float x) { return (fp8k_f32_bits(x) & 0x7F800000u) != 0x7F800000u; }

// inv = 1/scale rounded to f32; q = cast(x * inv) with the product rounded to f32 first.
FP8K_HD float fp8k_inv_scale(float scale) { return 1.0f / scale; }
FP8K_HD uint8_t fp8k_quantize_value(float x, float inv, int format) { return fp8k_from_f32(x * inv, format, 1); }
