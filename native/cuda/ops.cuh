// The backend operations on top of the typed launchers: shared by the CUDA plugin (nvcc) and
// the cuda-emu backend (g++), so both run exactly the same kernels with the same geometry.
#pragma once
#include "../backend.h"
#include "../common/moe_check.h"
#include "cast_from_fp8.cuh"
#include "cast_to_fp8.cuh"
#include "cast_transpose.cuh"
#include "convert.cuh"
#include "copy_rows.cuh"
#include "dequantize.cuh"
#include "dispatch_layout.cuh"
#include "quantize.cuh"
#include "quantize_columns.cuh"
#include "reduce_rows.cuh"
#include "route.cuh"

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
  if (p.tile_cols == 1) {  // G x 1 column tiles
    if (x_dtype == FP8K_BF16)
      launch_quantize_columns(static_cast<const uint16_t*>(x), p, q, scales, flag, s);
    else
      launch_quantize_columns(static_cast<const float*>(x), p, q, scales, flag, s);
    return;
  }
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

// ---- MoE (SPEC §5, §7, §8) ------------------------------------------------------------------------

// SPEC §5. p has passed fp8k_check_route and route_fits; flag: a device word set to kNoError (see
// route.cuh for its encoding), read back by route_status.
inline void route(const void* logits, int dtype, const float* bias, const fp8k_route& p, int32_t* topk_idx, float* topk_weights,
                  unsigned long long* flag, cudaStream_t s) {
  if (dtype == FP8K_BF16)
    launch_route(static_cast<const uint16_t*>(logits), p.has_bias ? bias : nullptr, p, topk_idx, topk_weights, flag, s);
  else
    launch_route(static_cast<const float*>(logits), p.has_bias ? bias : nullptr, p, topk_idx, topk_weights, flag, s);
}

// The kernel's limits: a warp's experts fit one 32-bit mask per lane, the kept groups one 64-bit mask.
inline bool route_fits(const fp8k_route& p) { return p.experts <= kRouteMaxExperts && p.groups <= kRouteMaxGroups; }
inline int route_refuse(const fp8k_route& p, fp8k_call* c) {
  return fp8k_fail(c, FP8K_ERR_ARGUMENT, "route: the CUDA kernels take at most %d experts and %d groups (got %d experts in %d groups)",
                   kRouteMaxExperts, kRouteMaxGroups, p.experts, p.groups);
}
// The call's status from the flag: ref's message for the first non-finite bias or logit.
inline int route_status(unsigned long long flag, const fp8k_route& p, fp8k_call* c) {
  if (flag == kNoError) return FP8K_OK;
  const unsigned long long E = (unsigned long long)p.experts;
  if (flag < E) return fp8k_fail_nonfinite_bias((int)flag, c);
  const unsigned long long i = flag - E;
  return fp8k_fail_nonfinite_logit((size_t)(i / E), (int)(i % E), c);
}

// SPEC §7. p has passed fp8k_check_layout; flag as for route: ends as the first bad entry's flat index.
inline void dispatch_layout(const int32_t* topk_idx, const fp8k_layout& p, int32_t* per_rank, int32_t* per_node, int32_t* per_expert,
                            uint8_t* in_rank, unsigned long long* flag, cudaStream_t s) {
  launch_dispatch_layout(topk_idx, p, per_rank, per_node, per_expert, in_rank, flag, s);
}

// SPEC §8. srcs: a device-readable table of the source pointers.
inline void copy_rows(const void* const* srcs, size_t row_bytes, const int32_t* src_of, const int32_t* row_of, size_t n, void* dst,
                      cudaStream_t s) {
  launch_copy_rows(srcs, row_bytes, src_of, row_of, n, dst, s);
}
inline void reduce_rows(const uint16_t* const* srcs, size_t h, const int32_t* offsets, const int32_t* src_of, const int32_t* row_of,
                        const float* weights, size_t n, uint16_t* y, cudaStream_t s) {
  launch_reduce_rows(srcs, h, offsets, src_of, row_of, weights, n, y, s);
}

}  // namespace fp8k::cuda
