// The backend operations on top of the typed launchers: shared by the CUDA plugin (nvcc) and
// the cuda-emu backend (g++), so both run exactly the same kernels with the same geometry.
#pragma once
#include "../backend.h"
#include "cast_from_fp8.cuh"
#include "cast_to_fp8.cuh"
#include "cast_transpose.cuh"
#include "convert.cuh"
#include "dequantize.cuh"
#include "quantize.cuh"

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

// SPEC §2/§3. p has passed fp8k_check_quant; flag: NULL, or a device word that the caller set to
// kNoTile (strict_flag_init_kernel) and that ends as the smallest non-finite tile index.
inline void quantize(const void* x, int x_dtype, const fp8k_quant& p, uint8_t* q, float* scales, unsigned long long* flag,
                     cudaStream_t s) {
  if (p.batch * p.rows * p.cols == 0) return;
  if (x_dtype == FP8K_BF16)
    launch_quantize(static_cast<const uint16_t*>(x), p, q, scales, flag, s);
  else
    launch_quantize(static_cast<const float*>(x), p, q, scales, flag, s);
}

inline void dequantize(const uint8_t* q, const float* scales, const fp8k_quant& p, void* y, int y_dtype, cudaStream_t s) {
  if (p.batch * p.rows * p.cols == 0) return;
  if (y_dtype == FP8K_BF16)
    launch_dequantize(q, scales, p, static_cast<uint16_t*>(y), s);
  else
    launch_dequantize(q, scales, p, static_cast<float*>(y), s);
}

inline void cast_transpose(const void* x, int x_dtype, const fp8k_quant& p, uint8_t* q_row, float* s_row, uint8_t* q_col,
                           float* s_col, unsigned long long* flag, cudaStream_t s) {
  if (p.rows * p.cols == 0) return;
  if (x_dtype == FP8K_BF16)
    launch_cast_transpose(static_cast<const uint16_t*>(x), p, q_row, s_row, q_col, s_col, flag, s);
  else
    launch_cast_transpose(static_cast<const float*>(x), p, q_row, s_row, q_col, s_col, flag, s);
}

inline void strict_flag_init(unsigned long long* flag, cudaStream_t s) { FP8K_LAUNCH(strict_flag_init_kernel, 1, 1, 0, s, flag); }

// castTranspose takes one matrix with row-major scales (as native/ref says).
inline bool cast_transpose_args_ok(const fp8k_quant* p) { return p->batch == 1 && p->scale_layout == FP8K_LAYOUT_ROW; }

}  // namespace fp8k::cuda
