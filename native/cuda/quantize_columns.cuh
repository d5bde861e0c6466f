// SPEC §2 with G x 1 column tiles (per column, G rows: operands a GEMM reads transposed) on the GPU.
//
// Work unit: a strip of G rows (one tile row) by 16 bytes of input per thread across the block (4
// columns of f32 or 8 of bf16 a thread, 1024 or 2048 columns a 256-thread block), so a warp reads a
// 512-byte run of each row (16 whole sectors) and writes a 128- or 256-byte run of FP8 codes. Each
// thread keeps its columns' maxima in registers over the G rows (the |x| bits' integer max, as the
// row kernels: the float order, and a NaN or ±inf shows as a max >= 0x7F800000), turns them into
// scales by native/common/scale.h, and converts the same G rows in a second pass (from L2: the
// strip is at most G x 2048 x 4 bytes). Columns past the matrix, and rows past it in the last tile,
// are skipped, as ref's tiles are clipped.
#pragma once
#include "quantize.cuh"

namespace fp8k::cuda {

// N = 16 / sizeof(In) values of a row from p: one 16-byte load (vec), else those of the n that exist.
template <typename In, int N>
__device__ __forceinline__ void gx1_load(const In* p, bool vec, size_t n, float (&v)[N]) {
  if (vec) {
    const Pack<In> w = load16(p);
    FP8K_UNROLL
    for (int e = 0; e < N; e++) v[e] = to_f32(w.v[e]);
  } else {
    FP8K_UNROLL
    for (int e = 0; e < N; e++) v[e] = (size_t)e < n ? to_f32(p[e]) : 0.0f;
  }
}

// 3 blocks an SM (up to 85 registers): left alone ptxas aimed at 5 and spilled the bf16 forms at 48, and
// at 4 the sm_90a f32 forms at 64.
template <typename In, int G>
__global__ void __launch_bounds__(kQuantBlock, 3) quantize_gx1_kernel(const In* __restrict__ x, uint8_t* __restrict__ q, float* __restrict__ scales,
                                                                   fp8k_quant p, unsigned long long* flag) {
  constexpr int N = 16 / sizeof(In);  // columns a thread
  const size_t rows = p.rows, cols = p.cols, trc = (rows + G - 1) / G;
  const size_t strips = (cols + (size_t)N * kQuantBlock - 1) / ((size_t)N * kQuantBlock), units = p.batch * trc * strips;
  const bool vec = cols % N == 0 && aligned16(x);  // every thread's run of N columns is one aligned load
  const bool vec_store = vec && aligned16(q);         // and N bytes at an N-aligned offset: one 4- or 8-byte store
  for (size_t u = blockIdx.x; u < units; u += gridDim.x) {
    const size_t bt = udiv(u, strips), b = udiv(bt, trc), tr = bt - b * trc;
    const size_t c0 = (u - bt * strips) * N * kQuantBlock + (size_t)threadIdx.x * N;
    if (c0 >= cols) continue;
    const size_t r0 = tr * G, r1 = r0 + G < rows ? r0 + G : rows;
    const In* xb = x + b * rows * cols;
    unsigned m[N] = {};
    for (size_t r = r0; r < r1; r++) {
      float v[N];
      gx1_load(xb + r * cols + c0, vec, cols - c0, v);
      FP8K_UNROLL
      for (int e = 0; e < N; e++) m[e] = umax(m[e], abs_bits(v[e]));
    }
    float inv[N] = {};
    FP8K_UNROLL
    for (int e = 0; e < N; e++) {
      if (c0 + e >= cols) continue;
      const float scale = scale_from_bits(m[e], p);
      inv[e] = fp8k_inv_scale(scale);
      const size_t tile = bt * cols + c0 + e;  // row-major [batch, tile rows, cols]
      scales[tile] = scale;
      if (m[e] >= kNonFiniteBits && flag) atomicMin(flag, (unsigned long long)tile);
    }
    for (size_t r = r0; r < r1; r++) {
      float v[N];
      gx1_load(xb + r * cols + c0, vec, cols - c0, v);
      uint8_t o[N];
      FP8K_UNROLL
      for (int e = 0; e < N; e++) o[e] = m[e] < kNonFiniteBits ? fp8k_quantize_value(v[e], inv[e], p.format) : (uint8_t)0x7F;
      uint8_t* qr = q + (b * rows + r) * cols + c0;
      if (vec_store) {
        if constexpr (N == 4) {
          *reinterpret_cast<uint32_t*>(qr) = (uint32_t)o[0] | (uint32_t)o[1] << 8 | (uint32_t)o[2] << 16 | (uint32_t)o[3] << 24;
        } else {
          uint32_t lo = 0, hi = 0;
          FP8K_UNROLL
          for (int e = 0; e < 4; e++) lo |= (uint32_t)o[e] << 8 * e, hi |= (uint32_t)o[4 + e] << 8 * e;
          *reinterpret_cast<uint2*>(qr) = make_uint2(lo, hi);
        }
      } else {
        FP8K_UNROLL
        for (int e = 0; e < N; e++)
          if (c0 + e < cols) qr[e] = o[e];
      }
    }
  }
}

template <typename In>
inline void launch_quantize_columns(const In* x, const fp8k_quant& p, uint8_t* q, float* scales, unsigned long long* flag, cudaStream_t stream) {
  constexpr size_t N = 16 / sizeof(In);
  dispatch_g(p.tile_rows, [&](auto gc) {
    constexpr int G = decltype(gc)::value;
    const size_t units = p.batch * fp8k_cdiv(p.rows, G) * fp8k_cdiv(p.cols, N * kQuantBlock);
    auto kernel = quantize_gx1_kernel<In, G>;
    FP8K_LAUNCH(kernel, (fill_blocks<quantize_gx1_kernel<In, G>>(units, kQuantBlock)), kQuantBlock, 0, stream, x, q, scales, p, flag);
  });
}

}  // namespace fp8k::cuda
