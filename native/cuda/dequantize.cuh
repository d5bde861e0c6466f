// SPEC §2 dequantize on the GPU: y = f32(q) * scale of the element's tile, as f32 or bf16.
// Elementwise: a thread takes a 16-element chunk of one row (one tile, so one scale lookup), reads
// the 16 bytes with one 16-byte load and writes 4 (f32) or 2 (bf16) 16-byte stores, falling back to
// single elements for a chunk that is cut by the row end or not 16-byte aligned.
#pragma once
#include "../common/scale.h"
#include "../common/tiles.h"
#include "grid.cuh"
#include "vec.cuh"
#include "quantize.cuh"

namespace fp8k::cuda {

template <typename Out>
__global__ void __launch_bounds__(kElementwiseBlock) dequantize_kernel(const uint8_t* __restrict__ q, const float* __restrict__ scales,
                                                                      fp8k_quant p, Out* __restrict__ y, int lg) {
  const size_t cols = p.cols, cpr = (cols + 15) / 16, total = p.batch * p.rows * cpr;
  const size_t stride = (size_t)gridDim.x * blockDim.x;
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
    const size_t row = udiv(i, cpr), col = (i - row * cpr) * 16, b = udiv(row, p.rows), r = row - b * p.rows;
    const size_t tr = p.tile_rows == 1 ? r : r >> lg;
    const float scale = scales[fp8k_scale_index(&p, b, tr, col >> lg)];
    const size_t off = row * cols + col, n = chunk_len(col, cols);
    Pack<uint8_t> in;
    if (n == 16 && aligned16(q + off)) {
      in = load16(q + off);
    } else {
      FP8K_UNROLL
      for (int e = 0; e < 16; e++) in.v[e] = (size_t)e < n ? q[off + e] : (uint8_t)0;
    }
    constexpr int per = Pack<Out>::N;
    Pack<Out> out[16 / per];
    FP8K_UNROLL
    for (int e = 0; e < 16; e++) {
      float v = fp8k_to_f32(in.v[e], p.format) * scale;
      // A NaN product is the GPU's canonical 0x7FFFFFFF; the emulated build says so explicitly, since
      // x86 passes a NaN operand's payload through (and which operand is the compiler's choice).
      if (!(v == v)) v = fp8k_bits_f32(0x7FFFFFFFu);
      out[e / per].v[e % per] = from_f32<Out>(v);
    }
    if (n == 16 && aligned16(y + off)) {
      FP8K_UNROLL
      for (int c = 0; c < 16 / per; c++) store16(y + off + c * per, out[c]);
    } else {
      FP8K_UNROLL
      for (int e = 0; e < 16; e++)
        if ((size_t)e < n) y[off + e] = out[e / per].v[e % per];
    }
  }
}

template <typename Out>
inline void launch_dequantize(const uint8_t* q, const float* scales, const fp8k_quant& p, Out* y, cudaStream_t stream) {
  int lg = 0;
  while ((1 << lg) < p.tile_cols) lg++;
  const size_t chunks = p.batch * p.rows * fp8k_cdiv(p.cols, 16);
  auto kernel = dequantize_kernel<Out>;
  FP8K_LAUNCH(kernel, (fill_blocks<dequantize_kernel<Out>>(fp8k_cdiv(chunks, kElementwiseBlock), kElementwiseBlock)), kElementwiseBlock, 0, stream, q, scales, p, y, lg);
}

}  // namespace fp8k::cuda
