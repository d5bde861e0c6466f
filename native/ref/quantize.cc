// SPEC §2, tile by tile, element by element.
#include "../common/quant_check.h"
#include "ref.h"

namespace fp8k::ref {

// amax over the tile's elements inside the matrix; false when one of them is NaN or ±inf.
static bool tile_amax(const void* x, int dtype, const fp8k_quant* p, size_t b, size_t tr, size_t tc, float* amax) {
  *amax = 0.0f;
  bool finite = true;
  for (size_t r = tr * p->tile_rows; r < (tr + 1) * p->tile_rows && r < p->rows; r++)
    for (size_t c = tc * p->tile_cols; c < (tc + 1) * p->tile_cols && c < p->cols; c++) {
      const float v = load_f32(x, dtype, (b * p->rows + r) * p->cols + c);
      if (!fp8k_is_finite(v)) finite = false;
      const float a = v < 0 ? -v : v;
      if (a > *amax) *amax = a;
    }
  return finite;
}

int quantize(const void* x, int x_dtype, const fp8k_quant* p, uint8_t* q, float* scales, fp8k_call* call) {
  if (int s = fp8k_check_quant(p, call)) return s;
  const size_t tiles_r = fp8k_tile_rows_count(p), tiles_c = fp8k_tile_cols_count(p);
  for (size_t i = 0; i < fp8k_scale_count(p); i++) scales[i] = 0.0f;  // the mn-major padding
  for (size_t b = 0; b < p->batch; b++)
    for (size_t tr = 0; tr < tiles_r; tr++)
      for (size_t tc = 0; tc < tiles_c; tc++) {
        float amax;
        const bool finite = tile_amax(x, x_dtype, p, b, tr, tc, &amax);
        if (!finite && p->strict) return fp8k_fail_nonfinite(p, (b * tiles_r + tr) * tiles_c + tc, call);
        const float scale = finite ? fp8k_tile_scale(amax, p->eps, p->format, p->scale_format) : fp8k_nonfinite_scale();
        const float inv = fp8k_inv_scale(scale);
        scales[fp8k_scale_index(p, b, tr, tc)] = scale;
        for (size_t r = tr * p->tile_rows; r < (tr + 1) * p->tile_rows && r < p->rows; r++)
          for (size_t c = tc * p->tile_cols; c < (tc + 1) * p->tile_cols && c < p->cols; c++) {
            const size_t i = (b * p->rows + r) * p->cols + c;
            q[i] = finite ? fp8k_quantize_value(load_f32(x, x_dtype, i), inv, p->format) : 0x7F;
          }
      }
  return FP8K_OK;
}

}  // namespace fp8k::ref
