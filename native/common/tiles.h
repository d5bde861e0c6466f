// SPEC §2 tile geometry: how many tiles, and where each tile's scale lives.
#pragma once
#include <stddef.h>

#include "../backend.h"
#include "hd.h"

FP8K_HD size_t fp8k_cdiv(size_t a, size_t b) { return (a + b - 1) / b; }
FP8K_HD size_t fp8k_align4(size_t a) { return (a + 3) & ~(size_t)3; }

FP8K_HD size_t fp8k_tile_rows_count(const fp8k_quant* p) { return fp8k_cdiv(p->rows, (size_t)p->tile_rows); }
FP8K_HD size_t fp8k_tile_cols_count(const fp8k_quant* p) { return fp8k_cdiv(p->cols, (size_t)p->tile_cols); }

// Scales in the array: row-major [batch, tile rows, tile cols], or mn-major [tile cols, align4(rows)] (zero padded).
FP8K_HD size_t fp8k_scale_count(const fp8k_quant* p) {
  if (p->scale_layout == FP8K_LAYOUT_MN_MAJOR) return fp8k_tile_cols_count(p) * fp8k_align4(p->rows);
  return p->batch * fp8k_tile_rows_count(p) * fp8k_tile_cols_count(p);
}

FP8K_HD size_t fp8k_scale_index(const fp8k_quant* p, size_t b, size_t tr, size_t tc) {
  if (p->scale_layout == FP8K_LAYOUT_MN_MAJOR) return tc * fp8k_align4(p->rows) + tr;
  return (b * fp8k_tile_rows_count(p) + tr) * fp8k_tile_cols_count(p) + tc;
}

// The same tiling applied to x^T (SPEC §3's column-wise output): rows and columns swap.
FP8K_HD fp8k_quant fp8k_transposed(const fp8k_quant* p) {
  fp8k_quant t = *p;
  t.rows = p->cols;
  t.cols = p->rows;
  t.scale_layout = FP8K_LAYOUT_ROW;
  return t;
}
