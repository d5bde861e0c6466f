// SPEC §3 fused cast-transpose on the GPU: rowwise = quantize(x), colwise = quantize(x^T) (1 x G),
// or, for G x G, the shared block scales with the colwise data the transpose of the rowwise data.
//
// G <= 128 (cast_transpose_kernel): one 256-thread block per 128 x 128 region of x, which holds
// whole tiles of both outputs for every such G. x is read ONCE from global memory:
//   1. each thread loads 4 chunks (16 elements of a row; 8 lanes cover a 128-column row, a warp 4
//      rows) with 16-byte loads and copies them into shared memory (the input type: 32 KiB for
//      bf16, 64 KiB for f32); the row-tile max is a butterfly over the G/16 lanes of the tile
//      (1 x G: one lane stores it; G x G: the warp's 4 rows are folded too and one lane per tile
//      folds it into the tile's shared word with atomicMax);
//   2. (1 x G) column-tile maxima: a thread owns one column and 64 rows of the region (a warp: 32
//      consecutive columns) and folds them into shared words (atomicMax: G = 128 column tiles span
//      both row halves);
//   3. one pass over the tile tables computes each scale once (the only divisions), writes the
//      scales and the strict flag, and leaves 1/scale in the table;
//   4. rowwise bytes: each thread re-reads its phase-1 chunks from shared memory and writes 16-byte
//      stores; 5. colwise bytes: the column owner of step 2 quantizes 16 rows at a time and writes
//      each 16-byte run of a q_col row with one 16-byte store.
// Shared memory: 128*128*sizeof(In) + 8 bytes per tile-table entry (1 x G: 2*128*(128/G) entries,
// G x G: (128/G)^2): 36..48 KiB for bf16, 68..80 KiB for f32 (opted in with cudaFuncSetAttribute).
// Bank conflicts: the column reads are 32 consecutive elements of one shared row per warp (f32: 32
// banks; bf16: 16 words, two lanes a word), conflict-free with no padding. The 16-byte stores and
// loads of steps 1 and 4 are served 8 lanes at a time, and those 8 lanes touch one 256-byte (bf16)
// or 512-byte (f32) row; each lane taking its packs in order would put lanes 4 apart (bf16) or 2
// apart (f32) on the same banks, so each lane rotates the order of its packs by its position
// ((lane>>2)&1 for bf16, (lane>>1)&3 for f32): the 8 lanes of a phase then cover 8 distinct 16-byte
// bank groups at every step.
//
// G >= 256 (a 128-row region no longer holds a column tile): rowwise by the quantize kernel, then
// colwise by col_quantize_kernel (1 x G: a block per G x 64 strip, column maxima in a first pass,
// then 64 x 64 sub-blocks transposed through shared memory) or transpose_bytes_kernel (G x G: the
// colwise bytes are the rowwise bytes transposed). x is read two or three times there.
#pragma once
#include "quantize.cuh"

namespace fp8k::cuda {

constexpr int kRegion = 128;

template <typename In>
constexpr size_t ct_smem_bytes(int g, bool block) {
  return (size_t)kRegion * kRegion * sizeof(In) + 8 * (size_t)(block ? (kRegion / g) * (kRegion / g) : 2 * (kRegion / g) * kRegion);
}

// This lane's pack order when writing a chunk's packs into a shared row (see the header comment).
template <typename In>
__device__ __forceinline__ int pack_rotation(int lane) {
  return Chunk16<In>::NU == 2 ? (lane >> 2) & 1 : (lane >> 1) & 3;
}

template <typename In>
__device__ __forceinline__ void chunk_to_smem(In* row, int lane, const Chunk16<In>& c) {
  constexpr int NU = Chunk16<In>::NU, N = Chunk16<In>::N;
  const int rot = pack_rotation<In>(lane);
  FP8K_UNROLL
  for (int s = 0; s < NU; s++) {
    const int u = (s + rot) & (NU - 1);
    Pack<In> v = c.u[0];
    FP8K_UNROLL
    for (int k = 1; k < NU; k++)
      if (u == k) v = c.u[k];
    store16(row + u * N, v);
  }
}

template <typename In>
__device__ __forceinline__ void chunk_from_smem(const In* row, int lane, Chunk16<In>& c) {
  constexpr int NU = Chunk16<In>::NU, N = Chunk16<In>::N;
  const int rot = pack_rotation<In>(lane);
  Pack<In> v[NU];  // v[s]: pack (s + rot) mod NU, loaded at step s
  FP8K_UNROLL
  for (int s = 0; s < NU; s++) v[s] = load16(row + ((s + rot) & (NU - 1)) * N);
  FP8K_UNROLL
  for (int k = 0; k < NU; k++) {
    const int from = (k - rot) & (NU - 1);
    c.u[k] = v[0];
    FP8K_UNROLL
    for (int s = 1; s < NU; s++)
      if (from == s) c.u[k] = v[s];
  }
}

template <typename In, int G, bool Block>
__global__ void __launch_bounds__(kQuantBlock, 2) cast_transpose_kernel(const In* __restrict__ x, fp8k_quant p, uint8_t* __restrict__ q_row,
                                                                     float* __restrict__ s_row, uint8_t* __restrict__ q_col,
                                                                     float* __restrict__ s_col, unsigned long long* flag) {
  static_assert(G <= kRegion, "the region holds whole tiles");
  constexpr int CH = G / 16;       // chunks per row tile
  constexpr int NT = kRegion / G;  // tiles per region side
  // Tile tables: G x G: one word per tile; 1 x G: the row tiles [128][NT], then the column tiles [NT][128].
  constexpr int NRT = Block ? NT * NT : kRegion * NT, NA = Block ? NRT : 2 * NRT;
  FP8K_DYNAMIC_SHARED(unsigned char, smem);
  In* const s = reinterpret_cast<In*>(smem);  // [128][128], row-major
  unsigned* const amax = reinterpret_cast<unsigned*>(smem + (size_t)kRegion * kRegion * sizeof(In));
  unsigned* const camax = Block ? amax : amax + NRT;  // column tiles (1 x G)
  float* const sc = reinterpret_cast<float*>(amax + NA);  // the tiles' scales
  const float* const inv_row = reinterpret_cast<const float*>(amax);  // the tables after step 4
  const float* const inv_col = reinterpret_cast<const float*>(camax);
  const int tid = threadIdx.x, lane = tid & 31, w = tid >> 5;
  const size_t R = p.rows, C = p.cols;
  // One block per region (no grid-stride loop: nothing has to stay live across the divisions of
  // step 3, whose IEEE slow path is a subroutine call). 32-bit region numbers: 2^31 regions would be
  // a 2^45-element matrix.
  const unsigned regions_c = (unsigned)((C + kRegion - 1) / kRegion);
  const size_t trc = (R + G - 1) / G, tcc = (C + G - 1) / G;
  {
    const unsigned reg = blockIdx.x;
    const size_t r0 = (size_t)(reg / regions_c) * kRegion, c0 = (size_t)(reg % regions_c) * kRegion;
    for (int a = tid; a < NA; a += kQuantBlock) amax[a] = 0;
    __syncthreads();

    // 1. The region into shared memory (16-byte loads; rotated 16-byte stores) and the row-tile maxima.
    FP8K_UNROLL
    for (int it = 0; it < 4; it++) {
      const int k = it * kQuantBlock + tid, i = k >> 3, j0 = (k & 7) * 16;
      const size_t r = r0 + i, col = c0 + j0;
      Chunk16<In> c;
      load_chunk(x + r * C + col, r < R ? chunk_len(col, C) : 0, c);
      chunk_to_smem(s + i * kRegion + j0, lane, c);
      unsigned m = chunk_amax_bits(c);
      FP8K_UNROLL
      for (int o = CH / 2; o > 0; o >>= 1) m = umax(m, __shfl_xor_sync(kFullMask, m, o));
      if constexpr (Block) {
        // The warp's 4 rows lie in one tile row (G >= 16): fold them too, then one lane per tile.
        m = umax(m, __shfl_xor_sync(kFullMask, m, 8));
        m = umax(m, __shfl_xor_sync(kFullMask, m, 16));
        if (lane < 8 && (lane & (CH - 1)) == 0) atomicMax(&amax[(i / G) * NT + j0 / G], m);
      } else {
        if ((lane & (CH - 1)) == 0) amax[i * NT + j0 / G] = m;  // a row tile lies within 8 lanes of one warp
      }
    }
    __syncthreads();

    // 2. (1 x G) Column-tile maxima: warps read 32 consecutive columns of a shared row.
    if constexpr (!Block) {
      const int j = (w & 3) * 32 + lane, base = (w >> 2) * 64;  // the column pass: column j, rows base .. base + 63
      unsigned acc = 0;
      FP8K_UNROLL
      for (int c = 0; c < 4; c++) {
        FP8K_UNROLL
        for (int k = 0; k < 16; k++) acc = umax(acc, abs_bits(to_f32(s[(base + 16 * c + k) * kRegion + j])));
        if ((c + 1) % CH == 0 || c == 3) {
          atomicMax(&camax[((base + 16 * c) / G) * kRegion + j], acc);
          acc = 0;
        }
      }
      __syncthreads();
    }

    // 3. Each tile's scale and its inverse, once, into shared tables; the inverse replaces the max (a
    //    NaN inverse turns every byte of a non-finite tile into 0x7F, as SPEC §2 says). This loop
    //    holds the only divisions, with little else live (the IEEE division's slow path is a call).
    FP8K_NO_UNROLL
    for (int a = tid; a < NA; a += kQuantBlock) {
      const float scale = scale_from_bits(amax[a], p);
      sc[a] = scale;
      reinterpret_cast<float*>(amax)[a] = fp8k_inv_scale(scale);
    }
    __syncthreads();
    // Then the scales out, and the strict flag.
    for (int a = tid; a < NA; a += kQuantBlock) {
      const float scale = sc[a];
      const bool bad = !(scale == scale);
      if constexpr (Block) {
        const size_t tr = r0 / G + a / NT, tc = c0 / G + a % NT;
        if (tr * G < R && tc * G < C) {
          s_row[tr * tcc + tc] = scale;
          s_col[tc * trc + tr] = scale;
          if (bad && flag) atomicMin(flag, (unsigned long long)(tr * tcc + tc));
        }
      } else if (a < NRT) {
        const size_t r = r0 + a / NT, tc = c0 / G + a % NT;
        if (r < R && tc * G < C) {
          s_row[r * tcc + tc] = scale;
          if (bad && flag) atomicMin(flag, (unsigned long long)(r * tcc + tc));
        }
      } else {
        const size_t tr = r0 / G + (a - NRT) / kRegion, cj = c0 + (a - NRT) % kRegion;
        if (cj < C && tr * G < R) s_col[cj * trc + tr] = scale;
      }
    }

    // 4. Rowwise bytes (phase-1 mapping, rotated 16-byte shared loads, 16-byte global stores).
    FP8K_UNROLL
    for (int it = 0; it < 4; it++) {
      const int k = it * kQuantBlock + tid, i = k >> 3, j0 = (k & 7) * 16;
      const size_t r = r0 + i, col = c0 + j0;
      const size_t n = r < R ? chunk_len(col, C) : 0;
      if (!n) continue;
      Chunk16<In> c;
      chunk_from_smem(s + i * kRegion + j0, lane, c);
      const float inv = Block ? inv_row[(i / G) * NT + j0 / G] : inv_row[i * NT + j0 / G];
      store_chunk(q_row + r * C + col, n, quant_chunk(c, true, inv, p.format));
    }
    // 5. Colwise bytes: column j, 16 rows at a time -> one 16-byte run of a q_col row.
    const int j = (w & 3) * 32 + lane, base = (w >> 2) * 64;
    const size_t cj = c0 + j;
    FP8K_UNROLL
    for (int c = 0; c < 4; c++) {
      const int i0 = base + 16 * c;
      const size_t r = r0 + i0;
      if (cj >= C || r >= R) continue;
      const float inv = Block ? inv_col[(i0 / G) * NT + j / G] : inv_col[(i0 / G) * kRegion + j];
      Pack<uint8_t> o;
      FP8K_UNROLL
      for (int k = 0; k < 16; k++) o.v[k] = fp8k_quantize_value(to_f32(s[(i0 + k) * kRegion + j]), inv, p.format);
      store_chunk(q_col + cj * R + r, chunk_len(r, R), o);
    }
  }
}

// ---- G >= 256 ----------------------------------------------------------------------------------
// 1 x G colwise: a block per strip of G rows x 64 columns of x (one tile row of the colwise output).
template <typename In, int G>
__global__ void __launch_bounds__(kQuantBlock) col_quantize_kernel(const In* __restrict__ x, fp8k_quant p, uint8_t* __restrict__ q_col,
                                                                   float* __restrict__ s_col) {
  __shared__ float tb[64][65];
  __shared__ unsigned cmax[64];
  const int tid = threadIdx.x, j = tid & 63, i = tid >> 6;
  const size_t R = p.rows, C = p.cols, trc = (R + G - 1) / G;
  const unsigned strips_c = (unsigned)((C + 63) / 64), strips = (unsigned)trc * strips_c;  // 32-bit: see cast_transpose_kernel
  for (unsigned st = blockIdx.x; st < strips; st += gridDim.x) {
    const size_t tr = st / strips_c, r0 = tr * G, c0 = (size_t)(st % strips_c) * 64, col = c0 + j;
    if (tid < 64) cmax[tid] = 0;
    __syncthreads();
    unsigned m = 0;
    for (int ii = i; ii < G; ii += 4) {
      const size_t r = r0 + ii;
      if (r < R && col < C) m = umax(m, abs_bits(to_f32(x[r * C + col])));
    }
    atomicMax(&cmax[j], m);
    __syncthreads();
    for (int cr = 0; cr < G && r0 + cr < R; cr += 64) {
      FP8K_UNROLL
      for (int e = 0; e < 16; e++) {
        const int ii = i + 4 * e;
        const size_t r = r0 + cr + ii;
        tb[ii][j] = r < R && col < C ? to_f32(x[r * C + col]) : 0.0f;
      }
      __syncthreads();
      const int i0 = 16 * i;
      const unsigned cm = cmax[j];
      const bool finite = cm < kNonFiniteBits;
      const float scale = scale_from_bits(cm, p);
      const float inv = fp8k_inv_scale(scale);
      Pack<uint8_t> o;
      FP8K_UNROLL
      for (int k = 0; k < 16; k++) o.v[k] = finite ? fp8k_quantize_value(tb[i0 + k][j], inv, p.format) : (uint8_t)0x7F;
      const size_t r = r0 + cr + i0;
      if (col < C && r < R) store_chunk(q_col + col * R + r, chunk_len(r, R), o);
      if (cr == 0 && i == 0 && col < C) s_col[col * trc + tr] = scale;
      __syncthreads();
    }
  }
}

// G x G colwise: q_col = q_row^T (64 x 64 byte blocks through shared memory), s_col = s_row^T.
__global__ void __launch_bounds__(kQuantBlock) transpose_bytes_kernel(const uint8_t* __restrict__ q_row, size_t R, size_t C,
                                                                      uint8_t* __restrict__ q_col) {
  __shared__ uint8_t tb[64][65];
  const int tid = threadIdx.x, a = tid & 63, b = tid >> 6;
  const unsigned bc = (unsigned)((C + 63) / 64), blocks = (unsigned)((R + 63) / 64) * bc;
  for (unsigned blk = blockIdx.x; blk < blocks; blk += gridDim.x) {
    const size_t r0 = (size_t)(blk / bc) * 64, c0 = (size_t)(blk % bc) * 64;
    for (int e = 0; e < 16; e++) {
      const size_t r = r0 + b + 4 * e, c = c0 + a;
      tb[b + 4 * e][a] = r < R && c < C ? q_row[r * C + c] : 0;
    }
    __syncthreads();
    for (int e = 0; e < 16; e++) {
      const size_t c = c0 + b + 4 * e, r = r0 + a;
      if (r < R && c < C) q_col[c * R + r] = tb[a][b + 4 * e];
    }
    __syncthreads();
  }
}

__global__ void transpose_scales_kernel(const float* __restrict__ s_row, size_t trc, size_t tcc, float* __restrict__ s_col) {
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < trc * tcc; i += (size_t)gridDim.x * blockDim.x)
    s_col[umod(i, tcc) * trc + udiv(i, tcc)] = s_row[i];  // s_row[tr][tc] -> s_col[tc][tr]
}

template <typename In>
inline void launch_cast_transpose(const In* x, const fp8k_quant& p, uint8_t* q_row, float* s_row, uint8_t* q_col, float* s_col,
                                  unsigned long long* flag, cudaStream_t stream) {
  const bool block = p.tile_rows != 1;
  if (p.tile_cols <= kRegion) {
    const size_t regions = fp8k_cdiv(p.rows, kRegion) * fp8k_cdiv(p.cols, kRegion);
    dispatch_g(p.tile_cols, [&](auto gc) {
      constexpr int G = decltype(gc)::value < kRegion ? decltype(gc)::value : kRegion;
      auto run = [&](auto kernel, size_t smem) {
        FP8K_LAUNCH(kernel, (unsigned)regions, kQuantBlock, smem, stream, x, p, q_row, s_row, q_col, s_col, flag);
      };
      if (block) {
        opt_in_dynamic_smem<cast_transpose_kernel<In, G, true>>((int)ct_smem_bytes<In>(G, true));  // cuda-emu checks it too
        run(cast_transpose_kernel<In, G, true>, ct_smem_bytes<In>(G, true));
      } else {
        opt_in_dynamic_smem<cast_transpose_kernel<In, G, false>>((int)ct_smem_bytes<In>(G, false));
        run(cast_transpose_kernel<In, G, false>, ct_smem_bytes<In>(G, false));
      }
    });
    return;
  }
  launch_quantize(x, p, q_row, s_row, flag, stream);
  if (block) {
    const size_t trc = fp8k_cdiv(p.rows, p.tile_cols), tcc = fp8k_cdiv(p.cols, p.tile_cols);
    FP8K_LAUNCH(transpose_bytes_kernel, fill_blocks<transpose_bytes_kernel>(fp8k_cdiv(p.rows, 64) * fp8k_cdiv(p.cols, 64), kQuantBlock), kQuantBlock, 0, stream, q_row,
                p.rows, p.cols, q_col);
    FP8K_LAUNCH(transpose_scales_kernel, fill_blocks<transpose_scales_kernel>(fp8k_cdiv(trc * tcc, kQuantBlock), kQuantBlock), kQuantBlock, 0, stream, s_row, trc, tcc,
                s_col);
  } else {
    dispatch_g(p.tile_cols, [&](auto gc) {
      constexpr int G = decltype(gc)::value > kRegion ? decltype(gc)::value : 256;
      auto kernel = col_quantize_kernel<In, G>;
      FP8K_LAUNCH(kernel, (fill_blocks<col_quantize_kernel<In, G>>(fp8k_cdiv(p.rows, G) * fp8k_cdiv(p.cols, 64), kQuantBlock)), kQuantBlock, 0, stream, x, p, q_col,
                  s_col);
    });
  }
}

}  // namespace fp8k::cuda
