// SPEC §2 dequantize: x' = f32(q) * scale of the element's tile.
#include "../common/quant_check.h"
#include "ref.h"

namespace fp8k::ref {

int dequantize(const uint8_t* q, const float* scales, const fp8k_quant* p, void* y, int y_dtype, fp8k_call* call) {
  if (int s = fp8k_check_quant(p, call)) return s;
  for (size_t b = 0; b < p->batch; b++)
    for (size_t r = 0; r < p->rows; r++)
      for (size_t c = 0; c < p->cols; c++) {
        const size_t i = (b * p->rows + r) * p->cols + c;
        const float scale = scales[fp8k_scale_index(p, b, r / p->tile_rows, c / p->tile_cols)];
        store_f32(y, y_dtype, i, fp8k_to_f32(q[i], p->format) * scale);
      }
  return FP8K_OK;
}

}  // namespace fp8k::ref
