// cvt.rn.satfinite.{e4m3x2,e5m2x2}.f32 (sm_89+): two f32 -> two packed fp8,
// `hi` in the upper byte, `lo` in the lower, as the PTX operand order has it.
// Emulated with fp8kit's own conversion (saturating), which test/oracle pins to
// NVIDIA's __nv_cvt_float_to_fp8.
#pragma once
#include "ptx_common.cuh"
#include "../../common/fp8.h"

namespace fp8k {
namespace ptx {

FP8K_PTX_DEV uint16_t cvt_e4m3x2(float hi, float lo) {
  uint16_t r = 0;
#if defined(__CUDA_ARCH__)
  asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(r) : "f"(hi), "f"(lo));
#elif !defined(__CUDACC__)
  r = (uint16_t)(fp8k_from_f32(hi, FP8K_FORMAT_E4M3, 1) << 8 | fp8k_from_f32(lo, FP8K_FORMAT_E4M3, 1));
#endif
  return r;
}

FP8K_PTX_DEV uint16_t cvt_e5m2x2(float hi, float lo) {
  uint16_t r = 0;
#if defined(__CUDA_ARCH__)
  asm("cvt.rn.satfinite.e5m2x2.f32 %0, %1, %2;" : "=h"(r) : "f"(hi), "f"(lo));
#elif !defined(__CUDACC__)
  r = (uint16_t)(fp8k_from_f32(hi, FP8K_FORMAT_E5M2, 1) << 8 | fp8k_from_f32(lo, FP8K_FORMAT_E5M2, 1));
#endif
  return r;
}

}  // namespace ptx
}  // namespace fp8k
