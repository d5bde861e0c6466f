// f32 <-> bf16 on the GPU: 8 elements a thread, so the bf16 side is one 16-byte access
// and the f32 side two.
#pragma once
#include "../common/fp8.h"
#include "grid.cuh"
#include "launch.cuh"
#include "vec.cuh"

namespace fp8k::cuda {

template <typename In, typename Out, bool Vec>
__global__ void convert_kernel(const In* __restrict__ x, Out* __restrict__ y, size_t n) {
  const size_t stride = (size_t)gridDim.x * blockDim.x * 8;
  for (size_t i = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) * 8; i < n; i += stride) {
    if (Vec && i + 8 <= n) {
      float v[8];
      constexpr int in_per = Pack<In>::N, out_per = Pack<Out>::N;
      for (int c = 0; c < 8 / in_per; c++) {
        const Pack<In> p = load16(x + i + c * in_per);
        for (int k = 0; k < in_per; k++) v[c * in_per + k] = to_f32(p.v[k]);
      }
      for (int c = 0; c < 8 / out_per; c++) {
        Pack<Out> p;
        for (int k = 0; k < out_per; k++) p.v[k] = from_f32<Out>(v[c * out_per + k]);
        store16(y + i + c * out_per, p);
      }
    } else {
      for (size_t j = i; j < i + 8 && j < n; j++) y[j] = from_f32<Out>(to_f32(x[j]));
    }
  }
}

template <typename In, typename Out>
inline void launch_convert(const In* x, Out* y, size_t n, cudaStream_t stream) {
  if (aligned16(x) && aligned16(y)) {
    auto kernel = convert_kernel<In, Out, true>;
    FP8K_LAUNCH(kernel, (elementwise_blocks<convert_kernel<In, Out, true>>(n, 8)), kElementwiseBlock, 0, stream, x, y, n);
  } else {
    auto kernel = convert_kernel<In, Out, false>;
    FP8K_LAUNCH(kernel, (elementwise_blocks<convert_kernel<In, Out, false>>(n, 8)), kElementwiseBlock, 0, stream, x, y, n);
  }
}

}  // namespace fp8k::cuda
