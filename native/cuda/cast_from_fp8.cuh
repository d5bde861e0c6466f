// SPEC §1 fp8 -> f32/bf16 on the GPU. Each thread decodes 16 bytes (one 16-byte load) and writes
// them as 16-byte chunks (four for f32, two for bf16).
#pragma once
#include "../common/fp8.h"
#include "grid.cuh"
#include "launch.cuh"
#include "vec.cuh"

namespace fp8k::cuda {

template <typename Out, bool Vec>
__global__ void cast_from_fp8_kernel(const uint8_t* __restrict__ q, int format, Out* __restrict__ y, size_t n) {
  const size_t stride = (size_t)gridDim.x * blockDim.x * 16;
  for (size_t i = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) * 16; i < n; i += stride) {
    if (Vec && i + 16 <= n) {
      const Pack<uint8_t> in = load16(q + i);
      constexpr int per = Pack<Out>::N;
      for (int c = 0; c < 16 / per; c++) {
        Pack<Out> out;
        for (int k = 0; k < per; k++) out.v[k] = from_f32<Out>(fp8k_to_f32(in.v[c * per + k], format));
        store16(y + i + c * per, out);
      }
    } else {
      for (size_t j = i; j < i + 16 && j < n; j++) y[j] = from_f32<Out>(fp8k_to_f32(q[j], format));
    }
  }
}

template <typename Out>
inline void launch_cast_from_fp8(const uint8_t* q, int format, Out* y, size_t n, cudaStream_t stream) {
  if (aligned16(q) && aligned16(y)) {
    auto kernel = cast_from_fp8_kernel<Out, true>;
    FP8K_LAUNCH(kernel, (elementwise_blocks<cast_from_fp8_kernel<Out, true>>(n, 16)), kElementwiseBlock, 0, stream, q, format, y, n);
  } else {
    auto kernel = cast_from_fp8_kernel<Out, false>;
    FP8K_LAUNCH(kernel, (elementwise_blocks<cast_from_fp8_kernel<Out, false>>(n, 16)), kElementwiseBlock, 0, stream, q, format, y, n);
  }
}

}  // namespace fp8k::cuda
