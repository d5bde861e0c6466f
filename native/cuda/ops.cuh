// The backend operations on top of the typed launchers: shared by the CUDA plugin (nvcc) and
// the cuda-emu backend (g++), so both run exactly the same kernels with the same geometry.
#pragma once
#include "../backend.h"
#include "cast_from_fp8.cuh"
#include "cast_to_fp8.cuh"
#include "convert.cuh"

namespace fp8k::cuda {

inline void cast_to_fp8(const void* x, int x_dtype, uint8_t* q, size_t n, int format, int saturate, cudaStream_t s) {
  if (x_dtype == FP8K_BF16)
    launch_cast_to_fp8(static_cast<const uint16_t*>(x), q, n, format, saturate, s);
  else
    launch_cast_to_fp8(static_cast<const float*>(x), q, n, format, saturate, s);
}

inline void cast_from_fp8(const uint8_t* q, int format, void* y, int y_dtype, size_t n, cudaStream_t s) {
  if (y_dtype == FP8K_BF16)
    launch_cast_from_fp8(q, format, static_cast<uint16_t*>(y), n, s);
  else
    launch_cast_from_fp8(q, format, static_cast<float*>(y), n, s);
}

inline void convert(const void* x, int x_dtype, void* y, int y_dtype, size_t n, cudaStream_t s) {
  const bool in_bf16 = x_dtype == FP8K_BF16, out_bf16 = y_dtype == FP8K_BF16;
  if (in_bf16 && out_bf16)
    launch_convert(static_cast<const uint16_t*>(x), static_cast<uint16_t*>(y), n, s);
  else if (in_bf16)
    launch_convert(static_cast<const uint16_t*>(x), static_cast<float*>(y), n, s);
  else if (out_bf16)
    launch_convert(static_cast<const float*>(x), static_cast<uint16_t*>(y), n, s);
  else
    launch_convert(static_cast<const float*>(x), static_cast<float*>(y), n, s);
}

}  // namespace fp8k::cuda
