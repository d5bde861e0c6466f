// SPEC §1, one element at a time: the oracle the other backends are checked against.
#include "ref.h"

namespace fp8k::ref {

float load_f32(const void* x, int dtype, size_t i) {
  return dtype == FP8K_BF16 ? fp8k_bf16_to_f32(static_cast<const uint16_t*>(x)[i])
                            : static_cast<const float*>(x)[i];
}

void store_f32(void* y, int dtype, size_t i, float v) {
  if (dtype == FP8K_BF16)
    static_cast<uint16_t*>(y)[i] = fp8k_bf16_from_f32(v);
  else
    static_cast<float*>(y)[i] = v;
}

int cast_to_fp8(const void* x, int x_dtype, uint8_t* q, size_t n, int format, int saturate, fp8k_call*) {
  for (size_t i = 0; i < n; i++) q[i] = fp8k_from_f32(load_f32(x, x_dtype, i), format, saturate);
  return FP8K_OK;
}

int cast_from_fp8(const uint8_t* q, int format, void* y, int y_dtype, size_t n, fp8k_call*) {
  for (size_t i = 0; i < n; i++) store_f32(y, y_dtype, i, fp8k_to_f32(q[i], format));
  return FP8K_OK;
}

int convert(const void* x, int x_dtype, void* y, int y_dtype, size_t n, fp8k_call*) {
  for (size_t i = 0; i < n; i++) store_f32(y, y_dtype, i, load_f32(x, x_dtype, i));
  return FP8K_OK;
}

}  // namespace fp8k::ref
