// SPEC §8, combine's reductions on the GPU: y[i] = bf16(sum over j in [offsets[i], offsets[i+1]) of
// w_j * x_j), what native/ref/rows.cc reduce_rows computes bit for bit.
//
// One block per output row (blocks stride over the rows), kReduceBlock threads; a thread owns 8
// consecutive columns (a chunk) at a time and loops j from offsets[i] upwards, so each column is summed
// in f32 from left to right as ref sums it, starting from +0 (0 + x, so a lone -0 term gives +0 as in
// ref). w_j * x is rounded to f32 before the add (FP8K_FMUL / FP8K_FADD: __fmul_rn / __fadd_rn under
// nvcc, never contracted to an FMA). A chunk of x is one 16-byte load of 8 bf16 when it is whole and
// 16-byte aligned (h a multiple of 8 and aligned sources), else 8 scalar loads; y the same with one
// 16-byte store. Consecutive threads take consecutive chunks: a warp reads 512 contiguous bytes of a
// row per term. The metadata of a term (source, row, weight) is the same for every thread of the
// block: broadcast loads through L1.
#pragma once
#include <stdint.h>

#include "../common/expf.h"
#include "../common/fp8.h"
#include "launch.cuh"
#include "quantize.cuh"
#include "vec.cuh"

namespace fp8k::cuda {

constexpr int kReduceBlock = 128;

__global__ void __launch_bounds__(kReduceBlock) reduce_rows_kernel(const uint16_t* const* __restrict__ srcs, size_t h,
                                                                   const int32_t* __restrict__ offsets, const int32_t* __restrict__ src_of,
                                                                   const int32_t* __restrict__ row_of, const float* __restrict__ weights,
                                                                   size_t n, uint16_t* __restrict__ y) {
  const size_t chunks = (h + 7) / 8;
  for (size_t i = blockIdx.x; i < n; i += gridDim.x) {
    const int32_t j0 = offsets[i], j1 = offsets[i + 1];
    uint16_t* const yr = y + i * h;
    for (size_t c = threadIdx.x; c < chunks; c += blockDim.x) {
      const size_t col = c * 8, m = h - col < 8 ? h - col : 8;
      float acc[8];
      FP8K_UNROLL
      for (int e = 0; e < 8; e++) acc[e] = 0.0f;
      for (int32_t j = j0; j < j1; j++) {
        const uint16_t* x = srcs[src_of[j]] + (size_t)row_of[j] * h + col;
        Pack<uint16_t> v;
        if (m == 8 && aligned16(x)) {
          v = load16(x);
        } else {
          FP8K_UNROLL
          for (int e = 0; e < 8; e++) v.v[e] = (size_t)e < m ? x[e] : (uint16_t)0;
        }
        if (weights) {
          const float w = weights[j];
          FP8K_UNROLL
          for (int e = 0; e < 8; e++) acc[e] = FP8K_FADD(acc[e], FP8K_FMUL(w, fp8k_bf16_to_f32(v.v[e])));
        } else {
          FP8K_UNROLL
          for (int e = 0; e < 8; e++) acc[e] = FP8K_FADD(acc[e], fp8k_bf16_to_f32(v.v[e]));
        }
      }
      Pack<uint16_t> o;
      FP8K_UNROLL
      for (int e = 0; e < 8; e++) o.v[e] = fp8k_bf16_from_f32(acc[e]);
      if (m == 8 && aligned16(yr + col)) {
        store16(yr + col, o);
      } else {
        FP8K_UNROLL
        for (int e = 0; e < 8; e++)
          if ((size_t)e < m) yr[col + e] = o.v[e];
      }
    }
  }
}

inline void launch_reduce_rows(const uint16_t* const* srcs, size_t h, const int32_t* offsets, const int32_t* src_of, const int32_t* row_of,
                               const float* weights, size_t n, uint16_t* y, cudaStream_t stream) {
  if (n == 0 || h == 0) return;
  FP8K_LAUNCH(reduce_rows_kernel, capped_blocks(n), kReduceBlock, 0, stream, srcs, h, offsets, src_of, row_of, weights, n, y);
}

}  // namespace fp8k::cuda
