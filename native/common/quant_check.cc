#include "quant_check.h"

#include <stdio.h>

extern "C" int fp8k_check_quant(const fp8k_quant* p, fp8k_call* call) {
  const int g = p->tile_cols > p->tile_rows ? p->tile_cols : p->tile_rows;
  if (g < 16 || g > 1024 || (g & (g - 1)))
    return fp8k_fail(call, FP8K_ERR_ARGUMENT, "tile size %d is not a power of two from 16 to 1024", g);
  if (!(p->tile_rows == 1 || p->tile_cols == 1 || p->tile_rows == p->tile_cols))
    return fp8k_fail(call, FP8K_ERR_ARGUMENT, "tiles are 1 x G, G x 1 or G x G; got %d x %d", p->tile_rows, p->tile_cols);
  if (p->format != FP8K_FORMAT_E4M3 && p->format != FP8K_FORMAT_E5M2) return fp8k_fail(call, FP8K_ERR_ARGUMENT, "unknown format %d", p->format);
  if (p->scale_format != FP8K_SCALE_F32 && p->scale_format != FP8K_SCALE_UE8M0)
    return fp8k_fail(call, FP8K_ERR_ARGUMENT, "unknown scale format %d", p->scale_format);
  if (p->scale_layout == FP8K_LAYOUT_MN_MAJOR && (p->tile_rows != 1 || p->batch != 1))
    return fp8k_fail(call, FP8K_ERR_ARGUMENT, "the mn-major scale layout is for 1 x G tiles of one matrix");
  if (p->scale_layout != FP8K_LAYOUT_ROW && p->scale_layout != FP8K_LAYOUT_MN_MAJOR)
    return fp8k_fail(call, FP8K_ERR_ARGUMENT, "unknown scale layout %d", p->scale_layout);
  if (!(p->eps > 0.0f) || !fp8k_is_finite(p->eps)) return fp8k_fail(call, FP8K_ERR_ARGUMENT, "eps must be a positive finite number");
  return FP8K_OK;
}

extern "C" int fp8k_check_quant_no_columns(const fp8k_quant* p, const char* what, fp8k_call* call) {
  if (int s = fp8k_check_quant(p, call)) return s;
  if (p->tile_cols == 1)
    return fp8k_fail(call, FP8K_ERR_BACKEND_UNAVAILABLE, "%s does not implement %d x 1 column tiles", what, p->tile_rows);
  return FP8K_OK;
}

extern "C" int fp8k_fail_nonfinite(const fp8k_quant* p, size_t index, fp8k_call* call) {
  const size_t tc = fp8k_tile_cols_count(p), tr = fp8k_tile_rows_count(p);
  const size_t b = index / (tr * tc), r = index / tc % tr, c = index % tc;
  const size_t r0 = r * p->tile_rows, c0 = c * p->tile_cols;
  const size_t r1 = r0 + p->tile_rows < p->rows ? r0 + p->tile_rows : p->rows;
  const size_t c1 = c0 + p->tile_cols < p->cols ? c0 + p->tile_cols : p->cols;
  char where[64] = "";
  if (p->batch > 1) snprintf(where, sizeof where, " of matrix %zu", b);
  return fp8k_fail(call, FP8K_ERR_NON_FINITE, "tile [%zu, %zu]%s (rows %zu..%zu, columns %zu..%zu) holds a NaN or an infinity", r, c, where,
                   r0, r1 - 1, c0, c1 - 1);
}
