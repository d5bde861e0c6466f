// SPEC §3 as its definition: quantize x, and quantize x^T, from the same high-precision values.
#include <vector>

#include "../common/quant_check.h"
#include "ref.h"

namespace fp8k::ref {

int cast_transpose(const void* x, int x_dtype, const fp8k_quant* p, uint8_t* q_row, float* s_row, uint8_t* q_col, float* s_col,
                   fp8k_call* call) {
  if (p->batch != 1 || p->scale_layout != FP8K_LAYOUT_ROW)
    return fp8k_fail(call, FP8K_ERR_ARGUMENT, "castTranspose takes one matrix and row-major scales");
  if (int s = fp8k_check_quant_no_columns(p, "castTranspose", call)) return s;
  if (int s = quantize(x, x_dtype, p, q_row, s_row, call)) return s;
  // x^T in f32 holds the same values exactly (bf16 widens without rounding).
  std::vector<float> xt(p->rows * p->cols);
  for (size_t r = 0; r < p->rows; r++)
    for (size_t c = 0; c < p->cols; c++) xt[c * p->rows + r] = load_f32(x, x_dtype, r * p->cols + c);
  const fp8k_quant t = fp8k_transposed(p);
  return quantize(xt.data(), FP8K_F32, &t, q_col, s_col, call);
}

}  // namespace fp8k::ref
