// SPEC §2 tile-wise quantization on the GPU: 1 x G tiles (activations) and G x G tiles (weights).
//
// Every element goes through the shared contract of native/common/scale.h (fp8k_tile_scale,
// fp8k_inv_scale, fp8k_quantize_value), so the kernels equal native/ref bit for bit.
//
// The tile maximum is reduced as the unsigned integer max of |x|'s f32 bits: for non-negative
// floats the integer order is the float order, so the max is exactly the ref's float amax, and a
// NaN or ±inf anywhere in the tile shows as a max >= 0x7F800000. One reduction gives both the
// amax and the non-finite flag.
//
// Work unit: a "chunk" of 16 consecutive elements of one row (G >= 16 and G is a power of two, so a
// chunk never straddles a tile). A thread loads its chunk with 16-byte loads (two for bf16, four
// for f32) when the chunk is whole and 16-byte aligned, otherwise element by element with zeros
// past the end of the row; it writes the 16 FP8 bytes with one 16-byte store under the same rule.
#pragma once
#include <type_traits>

#include "../common/scale.h"
#include "../common/tiles.h"
#include "grid.cuh"
#include "launch.cuh"
#include "vec.cuh"

// Full unrolling of the short constant loops over a chunk's elements and packs (they index register
// arrays); nothing under g++.
#if defined(__CUDACC__)
#define FP8K_UNROLL _Pragma("unroll")
#define FP8K_NO_UNROLL _Pragma("unroll 1")
#else
#define FP8K_UNROLL
#define FP8K_NO_UNROLL
#endif

namespace fp8k::cuda {

constexpr unsigned kFullMask = 0xFFFFFFFFu;
constexpr unsigned kNonFiniteBits = 0x7F800000u;  // |x| bits >= this: NaN or ±inf
constexpr unsigned long long kNoTile = ~0ull;      // the strict flag when every tile was finite
constexpr int kQuantBlock = 256;

__device__ __forceinline__ unsigned umax(unsigned a, unsigned b) { return a > b ? a : b; }
__device__ __forceinline__ unsigned abs_bits(float v) { return fp8k_f32_bits(v) & 0x7FFFFFFFu; }

// 16 consecutive input elements held as 16-byte packs.
template <typename In>
struct Chunk16 {
  static constexpr int N = Pack<In>::N;  // elements per 16 bytes: 4 (f32) or 8 (bf16)
  static constexpr int NU = 16 / N;      // packs per chunk: 4 (f32) or 2 (bf16)
  Pack<In> u[NU];
  __device__ __forceinline__ float f(int e) const { return to_f32(u[e / N].v[e % N]); }
};

// Loads the n (0..) valid elements at p; past n, zeros (SPEC §2: partial tiles act zero-padded).
template <typename In>
__device__ __forceinline__ void load_chunk(const In* p, size_t n, Chunk16<In>& c) {
  constexpr int N = Chunk16<In>::N;
  if (n >= 16 && aligned16(p)) {
    FP8K_UNROLL
    for (int s = 0; s < Chunk16<In>::NU; s++) c.u[s] = load16(p + s * N);
  } else {
    FP8K_UNROLL
    for (int e = 0; e < 16; e++) c.u[e / N].v[e % N] = (size_t)e < n ? p[e] : In(0);
  }
}

template <typename In>
__device__ __forceinline__ unsigned chunk_amax_bits(const Chunk16<In>& c) {
  unsigned m = 0;
  FP8K_UNROLL
  for (int e = 0; e < 16; e++) m = umax(m, abs_bits(c.f(e)));
  return m;
}

// The tile's scale from its reduced |x| bits (NaN for a non-finite tile).
__device__ __forceinline__ float scale_from_bits(unsigned m, const fp8k_quant& p) {
  return m < kNonFiniteBits ? fp8k_tile_scale(fp8k_bits_f32(m), p.eps, p.format, p.scale_format) : fp8k_nonfinite_scale();
}

template <typename In>
__device__ __forceinline__ Pack<uint8_t> quant_chunk(const Chunk16<In>& c, bool finite, float inv, int format) {
  Pack<uint8_t> o;
  FP8K_UNROLL
  for (int e = 0; e < 16; e++) o.v[e] = finite ? fp8k_quantize_value(c.f(e), inv, format) : (uint8_t)0x7F;
  return o;
}

__device__ __forceinline__ void store_chunk(uint8_t* p, size_t n, const Pack<uint8_t>& o) {
  if (n >= 16 && aligned16(p)) {
    store16(p, o);
  } else {
    FP8K_UNROLL
    for (int e = 0; e < 16; e++)
      if ((size_t)e < n) p[e] = o.v[e];
  }
}

// Elements of a chunk starting at column col of a row of `cols` (0 when it starts past the end).
__device__ __forceinline__ size_t chunk_len(size_t col, size_t cols) {
  return col < cols ? (cols - col < 16 ? cols - col : 16) : 0;
}

// ---- 1 x G -------------------------------------------------------------------------------------
// A tile is CH = G/16 chunks, held by L = min(CH, 32) consecutive lanes (P = CH/L chunks per lane,
// 2 for G = 1024); a warp holds TW = 32/L tiles at a time (G = 128: 8 lanes a tile, 4 tiles a warp;
// G >= 512: the whole warp on one tile). The tile max is a butterfly of __shfl_xor_sync over the L
// lanes, the data stay in registers between the max and the conversion: x is read once. Tiles are
// numbered row-major over (batch * rows, ceil(cols/G)), which is the strict-mode order and the
// row-major scale index; warps stride over them.
template <typename In, int G>
__global__ void __launch_bounds__(kQuantBlock) quantize_1xg_kernel(const In* __restrict__ x, uint8_t* __restrict__ q,
                                                                   float* __restrict__ scales, fp8k_quant p,
                                                                   unsigned long long* flag) {
  constexpr int CH = G / 16, L = CH < 32 ? CH : 32, P = CH / L, TW = 32 / L;
  const size_t rows = p.batch * p.rows, cols = p.cols, tcount = (cols + G - 1) / G, T = rows * tcount;
  const int lane = threadIdx.x & 31, sub = lane % L;
  const size_t warp = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
  const size_t nwarps = ((size_t)gridDim.x * blockDim.x) >> 5;
  const bool mn = p.scale_layout == FP8K_LAYOUT_MN_MAJOR;
  const size_t a4 = fp8k_align4(p.rows);
  for (size_t t0 = warp * TW; t0 < T; t0 += nwarps * TW) {  // uniform across the warp
    const size_t tile = t0 + lane / L;
    const bool valid = tile < T;
    const size_t r = valid ? udiv(tile, tcount) : 0, tc = valid ? umod(tile, tcount) : 0;
    const In* xr = x + r * cols;
    uint8_t* qr = q + r * cols;
    Chunk16<In> c[P];
    unsigned m = 0;
    FP8K_UNROLL
    for (int j = 0; j < P; j++) {
      const size_t col = tc * G + (size_t)(sub + j * L) * 16;
      load_chunk(xr + col, valid ? chunk_len(col, cols) : 0, c[j]);
      m = umax(m, chunk_amax_bits(c[j]));
    }
    FP8K_UNROLL
    for (int off = L / 2; off > 0; off >>= 1) m = umax(m, __shfl_xor_sync(kFullMask, m, off));
    const bool finite = m < kNonFiniteBits;
    const float scale = scale_from_bits(m, p);
    const float inv = fp8k_inv_scale(scale);
    FP8K_UNROLL
    for (int j = 0; j < P; j++) {
      const size_t col = tc * G + (size_t)(sub + j * L) * 16;
      const size_t n = valid ? chunk_len(col, cols) : 0;
      if (n) store_chunk(qr + col, n, quant_chunk(c[j], finite, inv, p.format));
    }
    if (valid && sub == 0) {
      scales[mn ? tc * a4 + r : tile] = scale;
      if (mn && r + 1 == p.rows)  // DeepGEMM's TMA-aligned layout: the rows up to align4 hold zeros
        for (size_t pr = p.rows; pr < a4; pr++) scales[tc * a4 + pr] = 0.0f;
      if (!finite && flag) atomicMin(flag, (unsigned long long)tile);
    }
  }
}

// ---- G x G -------------------------------------------------------------------------------------
// G <= 128: GT = G*G/64 threads per tile, 4 chunks (64 elements) each, kept in registers between
// the max and the conversion (x read once); 256/GT tiles per 256-thread block (G = 128: one tile a
// block; G = 16: 64). The max: butterfly shuffles within the warp, then, when a tile spans warps
// (G >= 64), one word per warp in shared memory. Consecutive threads take consecutive chunks of a
// tile row, so a warp reads whole 256-byte (bf16) row segments.
// G >= 256: one tile per block, two passes over it (the max, then the conversion re-reading x, from
// L2 as long as the tile stays resident): a 256 x 256 tile is 64 values per thread.
template <typename In, int G>
__global__ void __launch_bounds__(kQuantBlock) quantize_gxg_kernel(const In* __restrict__ x, uint8_t* __restrict__ q,
                                                                   float* __restrict__ scales, fp8k_quant p,
                                                                   unsigned long long* flag) {
  constexpr int CH = G / 16, NC = G * CH, PER = 4;
  constexpr bool kReg = NC <= kQuantBlock * PER;
  constexpr int GT = kReg ? NC / PER : kQuantBlock;  // threads per tile
  constexpr int TB = kQuantBlock / GT;                // tiles per block
  constexpr int ITER = kReg ? PER : NC / kQuantBlock;
  constexpr int WL = GT < 32 ? GT : 32;               // lanes of a tile within one warp
  __shared__ unsigned red[kQuantBlock / 32];
  const int tid = threadIdx.x, g = tid / GT, t = tid % GT, lane = tid & 31, w = tid >> 5;
  const size_t rows = p.rows, cols = p.cols;
  const size_t trc = (rows + G - 1) / G, tcc = (cols + G - 1) / G, T = p.batch * trc * tcc;
  for (size_t t0 = (size_t)blockIdx.x * TB; t0 < T; t0 += (size_t)gridDim.x * TB) {  // uniform across the block
    const size_t tile = t0 + g;
    const bool valid = tile < T;
    const size_t b = valid ? udiv(tile, trc * tcc) : 0, tr = valid ? umod(udiv(tile, tcc), trc) : 0, tc = valid ? umod(tile, tcc) : 0;
    const In* xb = x + b * rows * cols;
    uint8_t* qb = q + b * rows * cols;
    // Chunk k of the tile: row k / CH, columns (k % CH) * 16 ...
    auto where = [&](int k, size_t& off, size_t& n) {
      const size_t r = tr * G + k / CH, col = tc * G + (size_t)(k % CH) * 16;
      off = r * cols + col;
      n = valid && r < rows ? chunk_len(col, cols) : 0;
    };
    Chunk16<In> c[kReg ? PER : 1];
    unsigned m = 0;
    if constexpr (kReg) {
      FP8K_UNROLL
      for (int j = 0; j < PER; j++) {
        size_t off, n;
        where(t + j * GT, off, n);
        load_chunk(xb + off, n, c[j]);
        m = umax(m, chunk_amax_bits(c[j]));
      }
    } else {
      for (int j = 0; j < ITER; j++) {  // not unrolled: 16..256 chunks a thread
        size_t off, n;
        where(t + j * GT, off, n);
        load_chunk(xb + off, n, c[0]);
        m = umax(m, chunk_amax_bits(c[0]));
      }
    }
    FP8K_UNROLL
    for (int o = WL / 2; o > 0; o >>= 1) m = umax(m, __shfl_xor_sync(kFullMask, m, o));
    if constexpr (GT > 32) {
      if (lane == 0) red[w] = m;
      __syncthreads();
      m = 0;
      FP8K_UNROLL
      for (int k = 0; k < GT / 32; k++) m = umax(m, red[g * (GT / 32) + k]);
      __syncthreads();  // red is rewritten by the next tile
    }
    const bool finite = m < kNonFiniteBits;
    const float scale = scale_from_bits(m, p);
    const float inv = fp8k_inv_scale(scale);
    if constexpr (kReg) {
      FP8K_UNROLL
      for (int j = 0; j < PER; j++) {
        size_t off, n;
        where(t + j * GT, off, n);
        if (n) store_chunk(qb + off, n, quant_chunk(c[j], finite, inv, p.format));
      }
    } else {
      for (int j = 0; j < ITER; j++) {
        size_t off, n;
        where(t + j * GT, off, n);
        if (!n) continue;
        load_chunk(xb + off, n, c[0]);
        store_chunk(qb + off, n, quant_chunk(c[0], finite, inv, p.format));
      }
    }
    if (valid && t == 0) {
      scales[tile] = scale;  // row-major [batch, tile rows, tile cols]
      if (!finite && flag) atomicMin(flag, (unsigned long long)tile);
    }
  }
}

template <typename F>
inline void dispatch_g(int g, F&& f) {
  switch (g) {
    case 16: f(std::integral_constant<int, 16>()); break;
    case 32: f(std::integral_constant<int, 32>()); break;
    case 64: f(std::integral_constant<int, 64>()); break;
    case 128: f(std::integral_constant<int, 128>()); break;
    case 256: f(std::integral_constant<int, 256>()); break;
    case 512: f(std::integral_constant<int, 512>()); break;
    default: f(std::integral_constant<int, 1024>()); break;
  }
}

// A grid-stride launch of the MoE kernels: n blocks, at most `cap` (the quantization kernels size theirs
// from the device: fill_blocks).
inline unsigned capped_blocks(size_t n, size_t cap = 4096) { return (unsigned)(n < 1 ? 1 : n > cap ? cap : n); }

template <typename In>
inline void launch_quantize(const In* x, const fp8k_quant& p, uint8_t* q, float* scales, unsigned long long* flag,
                            cudaStream_t stream) {
  dispatch_g(p.tile_cols, [&](auto gc) {
    constexpr int G = decltype(gc)::value;
    if (p.tile_rows == 1) {
      constexpr int TW = 32 / (G / 16 < 32 ? G / 16 : 32);
      const size_t tiles = p.batch * p.rows * fp8k_cdiv(p.cols, G);
      const size_t warps = fp8k_cdiv(tiles, TW);
      auto kernel = quantize_1xg_kernel<In, G>;
      FP8K_LAUNCH(kernel, (fill_blocks<quantize_1xg_kernel<In, G>>(fp8k_cdiv(warps, kQuantBlock / 32), kQuantBlock)), kQuantBlock, 0, stream, x, q, scales, p, flag);
    } else {
      constexpr int NC = G * G / 16;
      constexpr int TB = NC <= kQuantBlock * 4 ? kQuantBlock / (NC / 4) : 1;
      const size_t tiles = p.batch * fp8k_cdiv(p.rows, G) * fp8k_cdiv(p.cols, G);
      auto kernel = quantize_gxg_kernel<In, G>;
      FP8K_LAUNCH(kernel, (fill_blocks<quantize_gxg_kernel<In, G>>(fp8k_cdiv(tiles, TB), kQuantBlock)), kQuantBlock, 0, stream, x, q, scales, p, flag);
    }
  });
}

// The strict flag: all ones until a non-finite tile lowers it to its index.
__global__ void strict_flag_init_kernel(unsigned long long* flag) { *flag = kNoTile; }

}  // namespace fp8k::cuda
