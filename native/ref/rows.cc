// SPEC §8: the rows a rank copies and the sums combine makes, the plain way.
#include <string.h>

#include "ref.h"

namespace fp8k::ref {

int copy_rows(const void* const* srcs, size_t /* nsrc: the caller checked the indices */, size_t row_bytes, const int32_t* src_of, const int32_t* row_of, size_t n, void* dst, fp8k_call*) {
  for (size_t i = 0; i < n; i++) {
    uint8_t* to = static_cast<uint8_t*>(dst) + i * row_bytes;
    if (src_of[i] < 0)
      memset(to, 0, row_bytes);
    else
      memcpy(to, static_cast<const uint8_t*>(srcs[src_of[i]]) + (size_t)row_of[i] * row_bytes, row_bytes);
  }
  return FP8K_OK;
}

int reduce_rows(const uint16_t* const* srcs, size_t /* nsrc */, size_t h, const int32_t* offsets, const int32_t* src_of, const int32_t* row_of, const float* weights,
                size_t n, uint16_t* y, fp8k_call*) {
  for (size_t i = 0; i < n; i++)
    for (size_t col = 0; col < h; col++) {
      float sum = 0;
      for (int32_t j = offsets[i]; j < offsets[i + 1]; j++) {
        const float x = fp8k_bf16_to_f32(srcs[src_of[j]][(size_t)row_of[j] * h + col]);
        sum += weights ? weights[j] * x : x;
      }
      y[i * h + col] = fp8k_bf16_from_f32(sum);
    }
  return FP8K_OK;
}

}  // namespace fp8k::ref
