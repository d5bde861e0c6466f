// SPEC §1 f32/bf16 -> fp8 on the GPU. Each thread converts 16 elements: 16-byte loads of the
// input (four for f32, two for bf16) and one 16-byte store of the result.
#pragma once
#include "../common/fp8.h"
#include "grid.cuh"
#include "launch.cuh"
#include "vec.cuh"

namespace fp8k::cuda {

// The 16 input values at x + i, read as 16-byte packs.
template <typename In>
__device__ __forceinline__ void load16_f32(const In* x, size_t i, float (&v)[16]) {
  constexpr int per = Pack<In>::N;
  for (int c = 0; c < 16 / per; c++) {
    const Pack<In> p = load16(x + i + c * per);
    for (int k = 0; k < per; k++) v[c * per + k] = to_f32(p.v[k]);
  }
}

template <typename In, bool Vec>
__global__ void cast_to_fp8_kernel(const In* __restrict__ x, uint8_t* __restrict__ q, size_t n, int format, int saturate) {
  const size_t stride = (size_t)gridDim.x * blockDim.x * 16;
  for (size_t i = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) * 16; i < n; i += stride) {
    if (Vec && i + 16 <= n) {
      float v[16];
      load16_f32(x, i, v);
      Pack<uint8_t> out;
      for (int k = 0; k < 16; k++) out.v[k] = fp8k_from_f32(v[k], format, saturate);
      store16(q + i, out);
    } else {
      for (size_t j = i; j < i + 16 && j < n; j++) q[j] = fp8k_from_f32(to_f32(x[j]), format, saturate);
    }
  }
}

template <typename In>
inline void launch_cast_to_fp8(const In* x, uint8_t* q, size_t n, int format, int saturate, cudaStream_t stream) {
  if (aligned16(x) && aligned16(q)) {
    auto kernel = cast_to_fp8_kernel<In, true>;
    FP8K_LAUNCH(kernel, (elementwise_blocks<cast_to_fp8_kernel<In, true>>(n, 16)), kElementwiseBlock, 0, stream, x, q, n, format, saturate);
  } else {
    auto kernel = cast_to_fp8_kernel<In, false>;
    FP8K_LAUNCH(kernel, (elementwise_blocks<cast_to_fp8_kernel<In, false>>(n, 16)), kElementwiseBlock, 0, stream, x, q, n, format, saturate);
  }
}

}  // namespace fp8k::cuda
