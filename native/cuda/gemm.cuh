// SPEC §4 on the GPU: FP8 tensor-core MMAs
// (mma.sync.m16n8k32, sm_89+) over each 128 of K into partial sums, which are then promoted into f32
// registers as acc ← acc + part · (sA[m]·sB[n]) and restarted: DeepSeek-V3's promotion with N_C = 128.
//
// Block: a 128 × 128 tile of D with 8 warps as 2 (M) × 4 (N); a warp owns 64 × 32 = 4 × 4 MMA tiles,
// so a thread holds 64 promoted f32, and 32 partial ones (a warp's K tile goes through its 64 rows in
// two halves). 128 × 128 keeps 4 MFLOP per 32 KiB of shared memory staged. Each 128-deep K tile of A
// and of B (16 KiB each) is staged by a 3-stage cp.async pipeline (96 KiB of dynamic shared memory,
// opted in once per kernel): one barrier per K tile, two tiles in flight while the third is multiplied.
//
// Shared layout of a tile: 128 rows of 128 bytes; 16-byte chunk c of row r sits at chunk
// c ^ (r & 7). A cp.async phase (8 lanes) writes the 8 chunks of one row and an ldmatrix
// phase reads one chunk of 8 consecutive rows: both touch 8 distinct 16-byte bank groups. Global reads: a
// warp copies 4 whole rows of 128 bytes (4 full lines) per instruction.
//
// ldmatrix (b16) gives the FP8 fragments directly: a b16 pair is 2 bytes along K, and the m16n8k32
// A fragment (rows g, g + 8; bytes 4t.., 16 + 4t..) is the x4 load of the 4 8×16-byte quarters of a
// 16 × 32-byte tile; the B fragment (column n = g, bytes 4t.., 16 + 4t..) is an x2 of B's rows.
//
// Scales are read for each half after its MMAs (4 of A and 1 or 8 of B per thread): registers are
// the limit, and the block's other warps keep the tensor cores busy meanwhile. The epilogue stages the
// f32 tile in shared memory (rows padded by 8 floats: a half-warp's 8-byte writes then cover 32
// distinct banks), adds C and writes D with 16-byte accesses when N allows, a warp covering 512
// contiguous bytes.
//
// Transposed reads ('nn', 'tn', 'tt': an operand stored [K, M] or [K, N]): its K tile is copied as it
// lies (128 rows of K, 128 bytes of M or N each, the same coalesced cp.async), then transposed in shared
// memory into the K-major layout the fragments read, and nothing else changes: the same bytes reach the
// same MMAs in the same order, so the result equals 'nt' on transposed operands bit for bit. FP8 has no
// ldmatrix.trans; the byte shuffle is a 4 × 4 transpose of words with prmt (__byte_perm): warp w takes
// K rows 16w..16w+15, lane l bytes 4l..4l+3 of them (a warp reads whole 128-byte rows: no conflicts),
// and writes 4 rows of M/N with 16 bytes of K each. The swizzle c ^ ((r ^ r >> 3) & 7) keeps both
// those writes (rows 4l + i of 8 lanes) and the ldmatrix reads (8 consecutive rows) conflict-free
// (copied tiles keep c ^ (r & 7)).
// A transposed operand needs 16 KiB more, so those kernels pipeline 2 stages (96 KiB in all).
//
// Edges: rows past M or N and chunks past K are zero-filled (cp.async's src-size 0), FP8 zero times
// anything adds nothing, so partial tiles need no other care. K not a multiple of 16 leaves rows
// unaligned for cp.async (as does M or N for a transposed operand): such calls copy bytewise (same
// stages, same order of MMAs, same bits).
#pragma once
#include <stdint.h>

#include "../common/gemm_index.h"
#include "grid.cuh"
#include "launch.cuh"
#include "ptx/cp_async.cuh"
#include "ptx/ldmatrix.cuh"
#include "ptx/mma_fp8.cuh"
#include "vec.cuh"

#if defined(__CUDACC__)
#define FP8K_GEMM_UNROLL _Pragma("unroll")
#else
#define FP8K_GEMM_UNROLL
#endif
// The K steps of a tile: unrolled on sm_89; one at a time on sm_90a, where ptxas expands each e4m3
// mma.sync into FP16 MMAs with converted fragments and, unrolled, spilled.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define FP8K_GEMM_KSTEPS _Pragma("unroll 1")
#else
#define FP8K_GEMM_KSTEPS FP8K_GEMM_UNROLL
#endif

namespace fp8k::cuda {

constexpr int kGemmTile = 128;  // M, N and K of a block's tile
constexpr int kGemmThreads = 256;
constexpr int kGemmTileBytes = kGemmTile * kGemmTile;  // one operand's K tile
constexpr int kGemmStageBytes = 2 * kGemmTileBytes;
constexpr int kGemmOutStride = kGemmTile + 8;  // floats per staged output row
// Stages, and the dynamic shared memory: 96 KiB either way, more than the staged output's 68 KiB.
__host__ __device__ constexpr int gemm_stages(bool ta, bool tb) { return ta || tb ? 2 : 3; }
__host__ __device__ constexpr int gemm_smem(bool ta, bool tb) { return gemm_stages(ta, tb) * kGemmStageBytes + (ta + tb) * kGemmTileBytes; }
static_assert(kGemmTile * kGemmOutStride * 4 <= gemm_smem(true, true) && gemm_smem(true, true) == gemm_smem(false, false), "96 KiB");

struct GemmArgs {
  const uint8_t* a;
  const uint8_t* b;
  const float* sa;
  const float* sb;
  const float* c;  // f32 [M,N] or null
  void* d;
  int m, n, k, kbs;         // kbs = ceil(K / 128)
  int ldb;                  // bytes between B's stored rows: K, N (B stored [K, N]) or a packed B's padded K
  // 32-bit scale offsets (gemm_unsupported refuses more than 2^31 scales): 64-bit ones cost the
  // registers that made ptxas spill on sm_90a.
  int sa_m, sa_kb;          // A's scale of (m, kb) at sa[m * sa_m + kb * sa_kb] (row, mn-major, or [K,M]'s [kbs, M])
  int sb_n, sb_kb;          // B's scale of (n, kb) at sb[j * sb_n + kb * sb_kb], j = n (1D1D) or n / 128 (1D2D)
  int b_lines;              // 1D1D
  int aligned;              // every row of A and B starts 16-byte aligned: cp.async copies
  int vector_out;           // N and D allow 16-byte stores (and C 16-byte loads)
  int out_bf16;             // D is bf16, else f32
};

// Byte offset of chunk c of row r. A tile the transpose writes (T) needs (r ^ r >> 3) & 7, distinct for
// rows 4l + i of 8 lanes as for 8 consecutive rows; the others r & 7, which lets the fragment loops
// share one chunk offset per K step across their tiles (fewer address registers).
template <bool T = false>
__device__ __forceinline__ int gemm_swizzle(int r, int c) { return r * kGemmTile + ((c ^ ((T ? r ^ (r >> 3) : r) & 7)) << 4); }

// A tile of ROWS rows of 128 bytes from g (rows `stride` bytes apart; rows [0, rows) and bytes [0, cols)
// exist) into s, zeros elsewhere.
template <int ROWS = kGemmTile>
__device__ __forceinline__ void gemm_load_tile(uint8_t* s, const uint8_t* g, int rows, int cols, size_t stride, bool aligned, int tid) {
  static_assert(ROWS * 8 % kGemmThreads == 0, "whole passes of 16-byte chunks");
  FP8K_GEMM_UNROLL
  for (int i = 0; i < ROWS * 8 / kGemmThreads; i++) {
    const int idx = tid + i * kGemmThreads, r = idx >> 3, c = idx & 7;
    uint8_t* dst = s + gemm_swizzle(r, c);
    const int have = r < rows ? cols - 16 * c : 0;
    const uint8_t* src = g + (have > 0 ? (size_t)r * stride + 16 * c : 0);
    if (aligned) {
      ptx::cp_async_cg_16_zfill(dst, src, have <= 0 ? 0u : have >= 16 ? 16u : (unsigned)have);
    } else {
      for (int j = 0; j < 16; j++) dst[j] = j < have ? src[j] : 0;
    }
  }
}

// A tile loaded as [K][MN] rewritten as [MN][K] (both in gemm_swizzle's layout): warp w transposes K rows
// 16w..16w+15, lane l bytes 4l..4l+3 of each, in 4 x 4 blocks of bytes.
__device__ __forceinline__ void gemm_transpose_tile(const uint8_t* in, uint8_t* out, int lane, int warp) {
  uint32_t x[16];
  FP8K_GEMM_UNROLL
  for (int kk = 0; kk < 16; kk++) {
    const int r = 16 * warp + kk;
    x[kk] = *reinterpret_cast<const uint32_t*>(in + gemm_swizzle(r, lane >> 2) + 4 * (lane & 3));
  }
  Pack<uint32_t> y[4];  // y[i]: row 4l + i of the output, K bytes 16w..16w+15
  FP8K_GEMM_UNROLL
  for (int q = 0; q < 4; q++) {  // K rows 4q..4q+3: t holds byte pairs, then each word one column
    const uint32_t t0 = __byte_perm(x[4 * q], x[4 * q + 1], 0x5140), t1 = __byte_perm(x[4 * q], x[4 * q + 1], 0x7362);
    const uint32_t t2 = __byte_perm(x[4 * q + 2], x[4 * q + 3], 0x5140), t3 = __byte_perm(x[4 * q + 2], x[4 * q + 3], 0x7362);
    y[0].v[q] = __byte_perm(t0, t2, 0x5410), y[1].v[q] = __byte_perm(t0, t2, 0x7632);
    y[2].v[q] = __byte_perm(t1, t3, 0x5410), y[3].v[q] = __byte_perm(t1, t3, 0x7632);
  }
  FP8K_GEMM_UNROLL
  for (int i = 0; i < 4; i++) store16(reinterpret_cast<uint32_t*>(out + gemm_swizzle<true>(4 * lane + i, warp)), y[i]);
}

// A's scale of row m and B's of column n for K tile kt, 0 outside the matrix (the rows and columns that
// are never stored); the 1D2D one is B's 128-column block's.
__device__ __forceinline__ float gemm_scale_a(const GemmArgs& p, int m, int kt) { return m < p.m ? p.sa[m * p.sa_m + kt * p.sa_kb] : 0.0f; }
__device__ __forceinline__ float gemm_scale_b_line(const GemmArgs& p, int n, int kt) { return n < p.n ? p.sb[n * p.sb_n + kt * p.sb_kb] : 0.0f; }
__device__ __forceinline__ float gemm_scale_b_block(const GemmArgs& p, int n, int kt) { return p.sb[(n >> 7) * p.sb_n + kt * p.sb_kb]; }

// The promotion: s = sA·sB rounded to f32, then acc + part·s as two roundings (SPEC's 'limited' with
// promotionInterval 128 is then matched bit for bit by the hardware-like emulated MMA).
__device__ __forceinline__ float gemm_promote(float acc, float part, float sa, float sb) {
  const float s = sa * sb;
  const float ps = part * s;
  return acc + ps;
}

// The block's BM x BN f32 tile (staged in shared memory at `out`, rows `stride` floats apart) plus C, to
// D as Out.
template <typename Out, int BM = kGemmTile, int BN = kGemmTile>
__device__ __forceinline__ void gemm_write(const GemmArgs& p, const float* out, int stride, int m0, int n0, int tid) {
  Out* d = static_cast<Out*>(p.d);
  constexpr int kPer = 16 / sizeof(Out);  // outputs per 16-byte store: 4 f32 or 8 bf16
  const int rows = p.m - m0 < BM ? p.m - m0 : BM, cols = p.n - n0 < BN ? p.n - n0 : BN;
  for (int idx = tid; idx < BM * BN / kPer; idx += kGemmThreads) {
    const int r = idx / (BN / kPer), c = (idx % (BN / kPer)) * kPer;
    if (r >= rows || c >= cols) continue;
    const size_t at = (size_t)(m0 + r) * p.n + n0 + c;
    const float* o = out + r * stride + c;
    if (p.vector_out && c + kPer <= cols) {
      float v[kPer];
      FP8K_GEMM_UNROLL
      for (int j = 0; j < kPer; j++) v[j] = o[j];
      if (p.c)
        FP8K_GEMM_UNROLL
        for (int j = 0; j < kPer; j += 4) {
          const Pack<float> cv = load16(p.c + at + j);
          FP8K_GEMM_UNROLL
          for (int e = 0; e < 4; e++) v[j + e] = v[j + e] + cv.v[e];
        }
      Pack<Out> w;
      FP8K_GEMM_UNROLL
      for (int j = 0; j < kPer; j++) w.v[j] = from_f32<Out>(v[j]);
      store16(d + at, w);
    } else {
      for (int j = 0; j < kPer && c + j < cols; j++) d[at + j] = from_f32<Out>(p.c ? o[j] + p.c[at + j] : o[j]);
    }
  }
}

// TA: A stored [K, M]; TB: B stored [K, N] (else [M, K] and [N, K]).
template <int FA, int FB, bool TA, bool TB>
__global__ void __launch_bounds__(kGemmThreads, 1) gemm_kernel(GemmArgs p) {
  constexpr int kStages = gemm_stages(TA, TB);
  FP8K_DYNAMIC_SHARED(uint8_t, smem);
  uint8_t* const transposed = smem + kStages * kGemmStageBytes;  // A's, then B's, where transposed
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp >> 2, wn = warp & 3, g = lane >> 2, t = lane & 3;
  const int m0 = blockIdx.y * kGemmTile, n0 = blockIdx.x * kGemmTile;
  auto load = [&](int kt) {
    uint8_t* s = smem + (kt % kStages) * kGemmStageBytes;
    const int k0 = kt * kGemmTile;
    if (TA) gemm_load_tile(s, p.a + (size_t)k0 * p.m + m0, p.k - k0, p.m - m0, (size_t)p.m, p.aligned, tid);
    else gemm_load_tile(s, p.a + (size_t)m0 * p.k + k0, p.m - m0, p.k - k0, (size_t)p.k, p.aligned, tid);
    if (TB) gemm_load_tile(s + kGemmTileBytes, p.b + (size_t)k0 * p.ldb + n0, p.k - k0, p.n - n0, (size_t)p.ldb, p.aligned, tid);
    else gemm_load_tile(s + kGemmTileBytes, p.b + (size_t)n0 * p.ldb + k0, p.n - n0, p.k - k0, (size_t)p.ldb, p.aligned, tid);
  };
  for (int s = 0; s < kStages - 1; s++) {
    if (s < p.kbs) load(s);
    ptx::cp_async_commit_group();
  }

  float acc[4][4][4];
  FP8K_GEMM_UNROLL
  for (int i = 0; i < 64; i++) (&acc[0][0][0])[i] = 0.0f;
  for (int kt = 0; kt < p.kbs; kt++) {
    ptx::cp_async_wait_group<kStages - 2>();
    __syncthreads();  // tile kt has landed for every thread, and every thread is done with tile kt - 1
    if (kt + kStages - 1 < p.kbs) load(kt + kStages - 1);  // into tile kt - 1's stage
    ptx::cp_async_commit_group();
    const uint8_t* As = smem + (kt % kStages) * kGemmStageBytes;
    const uint8_t* Bs = As + kGemmTileBytes;
    if (TA || TB) {  // the transposed operands to K-major, then a barrier before any warp reads them
      if (TA) gemm_transpose_tile(As, transposed, lane, warp), As = transposed;
      if (TB) gemm_transpose_tile(Bs, transposed + TA * kGemmTileBytes, lane, warp), Bs = transposed + TA * kGemmTileBytes;
      __syncthreads();
    }

    // The warp's 64 rows in two halves of 32, each through all of the tile's K, then promoted: half the
    // partial sums live at a time (ptxas spilled with all 64 beside the 64 promoted ones on sm_90a, where
    // mma.sync e4m3 takes registers of its own), for two more ldmatrix.x4 of B per K step.
    FP8K_GEMM_UNROLL
    for (int half = 0; half < 2; half++) {
      float part[2][4][4];
      FP8K_GEMM_UNROLL
      for (int i = 0; i < 32; i++) (&part[0][0][0])[i] = 0.0f;
      FP8K_GEMM_KSTEPS
      for (int ks = 0; ks < kGemmTile / 32; ks++) {
        uint32_t af[2][4], bf[4][2];
        FP8K_GEMM_UNROLL
        for (int mt = 0; mt < 2; mt++) {  // lanes 8q..8q+7 address quarter q: rows +8 for q odd, bytes +16 for q >= 2
          const int r = wm * 64 + (2 * half + mt) * 16 + (lane & 7) + 8 * ((lane >> 3) & 1);
          ptx::ldmatrix_x4(af[mt], As + gemm_swizzle<TA>(r, 2 * ks + (lane >> 4)));
        }
        FP8K_GEMM_UNROLL
        for (int np = 0; np < 2; np++) {  // two n tiles per x4: quarters (n 0-7 | 8-15) x (bytes 0-15 | 16-31)
          const int r = wn * 32 + np * 16 + (lane & 7) + 8 * (lane >> 4);
          uint32_t q[4];
          ptx::ldmatrix_x4(q, Bs + gemm_swizzle<TB>(r, 2 * ks + ((lane >> 3) & 1)));
          bf[2 * np][0] = q[0], bf[2 * np][1] = q[1], bf[2 * np + 1][0] = q[2], bf[2 * np + 1][1] = q[3];
        }
        FP8K_GEMM_UNROLL
        for (int mt = 0; mt < 2; mt++)
          FP8K_GEMM_UNROLL
          for (int nt = 0; nt < 4; nt++) ptx::mma_m16n8k32<FA, FB>(part[mt][nt], af[mt], bf[nt], part[mt][nt]);
      }
      // Promotion, the scales read only now.
      float sa[2][2], sb[4][2];
      FP8K_GEMM_UNROLL
      for (int mt = 0; mt < 2; mt++)
        FP8K_GEMM_UNROLL
        for (int h = 0; h < 2; h++) sa[mt][h] = gemm_scale_a(p, m0 + wm * 64 + (2 * half + mt) * 16 + g + 8 * h, kt);
      const float sb_block = p.b_lines ? 0.0f : gemm_scale_b_block(p, n0, kt);
      FP8K_GEMM_UNROLL
      for (int nt = 0; nt < 4; nt++)
        FP8K_GEMM_UNROLL
        for (int j = 0; j < 2; j++) sb[nt][j] = p.b_lines ? gemm_scale_b_line(p, n0 + wn * 32 + nt * 8 + 2 * t + j, kt) : sb_block;
      FP8K_GEMM_UNROLL
      for (int mt = 0; mt < 2; mt++)
        FP8K_GEMM_UNROLL
        for (int nt = 0; nt < 4; nt++)
          FP8K_GEMM_UNROLL
          for (int i = 0; i < 4; i++)
            acc[2 * half + mt][nt][i] = gemm_promote(acc[2 * half + mt][nt][i], part[mt][nt][i], sa[mt][i >> 1], sb[nt][i & 1]);
    }
  }

  // Epilogue through shared memory: the stages are free once every warp has left the loop.
  ptx::cp_async_wait_group<0>();
  __syncthreads();
  float* out = reinterpret_cast<float*>(smem);
  FP8K_GEMM_UNROLL
  for (int mt = 0; mt < 4; mt++)
    FP8K_GEMM_UNROLL
    for (int nt = 0; nt < 4; nt++)
      FP8K_GEMM_UNROLL
      for (int h = 0; h < 2; h++) {
        float* o = out + (wm * 64 + mt * 16 + g + 8 * h) * kGemmOutStride + wn * 32 + nt * 8 + 2 * t;
        o[0] = acc[mt][nt][2 * h], o[1] = acc[mt][nt][2 * h + 1];
      }
  __syncthreads();
  if (p.out_bf16) gemm_write<uint16_t>(p, out, kGemmOutStride, m0, n0, tid);
  else gemm_write<float>(p, out, kGemmOutStride, m0, n0, tid);
}

// ---- small M ('nt', M <= 32: decode) -------------------------------------------------------------
// The 128 x 128 tile leaves a GPU idle at small M (N / 128 blocks: 56 for N = 7168 on 132-142 SMs). This
// kernel takes 32 x 32 tiles (16x the blocks), 8 warps as 2 x 4 with one m16n8 MMA tile each, and the
// same K order — 128-deep tiles, the same MMA chain, promotion every 128 — so its bits equal the large
// kernel's. 4 stages of 8 KiB and the staged output are static shared memory (37 KiB): several blocks an
// SM, which hides the latency of streaming B.
constexpr int kDecodeTile = 32;
constexpr int kDecodeStages = 4;
constexpr int kDecodeTileBytes = kDecodeTile * kGemmTile;
constexpr int kDecodeOutStride = kDecodeTile + 8;  // a half-warp's 8-byte writes: 32 distinct banks

template <int FA, int FB>
__global__ void __launch_bounds__(kGemmThreads) gemm_decode_kernel(GemmArgs p) {
  __shared__ __align__(128) uint8_t smem[kDecodeStages][2][kDecodeTileBytes];
  __shared__ __align__(16) float out[kDecodeTile * kDecodeOutStride];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp >> 2, wn = warp & 3, g = lane >> 2, t = lane & 3;
  const int m0 = blockIdx.y * kDecodeTile, n0 = blockIdx.x * kDecodeTile;
  auto load = [&](int kt) {
    const int k0 = kt * kGemmTile, s = kt % kDecodeStages;
    gemm_load_tile<kDecodeTile>(smem[s][0], p.a + (size_t)m0 * p.k + k0, p.m - m0, p.k - k0, (size_t)p.k, p.aligned, tid);
    gemm_load_tile<kDecodeTile>(smem[s][1], p.b + (size_t)n0 * p.ldb + k0, p.n - n0, p.k - k0, (size_t)p.ldb, p.aligned, tid);
  };
  for (int s = 0; s < kDecodeStages - 1; s++) {
    if (s < p.kbs) load(s);
    ptx::cp_async_commit_group();
  }
  float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  const int m = m0 + wm * 16 + g, n = n0 + wn * 8 + 2 * t;  // this thread's rows m, m + 8 and columns n, n + 1
  for (int kt = 0; kt < p.kbs; kt++) {
    ptx::cp_async_wait_group<kDecodeStages - 2>();
    __syncthreads();  // tile kt has landed for every thread, and every thread is done with tile kt - 1
    if (kt + kDecodeStages - 1 < p.kbs) load(kt + kDecodeStages - 1);
    ptx::cp_async_commit_group();
    const uint8_t* As = smem[kt % kDecodeStages][0];
    const uint8_t* Bs = smem[kt % kDecodeStages][1];
    float part[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    FP8K_GEMM_UNROLL
    for (int ks = 0; ks < kGemmTile / 32; ks++) {
      uint32_t af[4], bf[2];
      ptx::ldmatrix_x4(af, As + gemm_swizzle(wm * 16 + (lane & 7) + 8 * ((lane >> 3) & 1), 2 * ks + (lane >> 4)));
      ptx::ldmatrix_x2(bf, Bs + gemm_swizzle(wn * 8 + (lane & 7), 2 * ks + ((lane >> 3) & 1)));  // lanes 0-15 address
      ptx::mma_m16n8k32<FA, FB>(part, af, bf, part);
    }
    const float sb_block = p.b_lines ? 0.0f : gemm_scale_b_block(p, n0, kt);
    FP8K_GEMM_UNROLL
    for (int i = 0; i < 4; i++)  // the large kernel's promotion, element for element
      acc[i] = gemm_promote(acc[i], part[i], gemm_scale_a(p, m + 8 * (i >> 1), kt), p.b_lines ? gemm_scale_b_line(p, n + (i & 1), kt) : sb_block);
  }
  ptx::cp_async_wait_group<0>();
  FP8K_GEMM_UNROLL
  for (int h = 0; h < 2; h++) {
    float* o = out + (wm * 16 + g + 8 * h) * kDecodeOutStride + wn * 8 + 2 * t;
    o[0] = acc[2 * h], o[1] = acc[2 * h + 1];
  }
  __syncthreads();
  if (p.out_bf16) gemm_write<uint16_t, kDecodeTile, kDecodeTile>(p, out, kDecodeOutStride, m0, n0, tid);
  else gemm_write<float, kDecodeTile, kDecodeTile>(p, out, kDecodeOutStride, m0, n0, tid);
}

// ---- packed B (packWeights on the cuda backends) -------------------------------------------------
// B as the 'nt' kernels read it, in device memory: a header (backend.h), then [N, ldb] bytes with rows
// padded by zeros to a multiple of 16 (every later call takes the cp.async path, and none a transposed
// read of B), then its scales in the 'nt' layout ([ceil(N/128) or N, kbs]). Same MMAs on the same bytes:
// the same bits as the unpacked call.
struct GemmPacked {
  size_t ldb, data, scales, bytes;  // row stride; offsets of the data and the scales; the whole size
};
inline GemmPacked gemm_packed(const fp8k_gemm& p) {
  GemmPacked g;
  g.ldb = (p.k + 15) / 16 * 16;
  g.data = 256;  // past the header, at cudaMalloc's alignment
  g.scales = (g.data + p.n * g.ldb + 255) / 256 * 256;
  const size_t rows = p.b_scales == FP8K_B_LINES ? p.n : fp8k_cdiv(p.n, FP8K_GEMM_BLOCK);
  g.bytes = g.scales + rows * fp8k_cdiv(p.k, FP8K_GEMM_BLOCK) * sizeof(float);
  return g;
}
constexpr const char* kGemmPackTag = "cu1";  // cuda and cuda-emu: one layout

// One 128 x 128 tile of packed B per block: loaded as B lies with the GEMM's own tile load, transposed
// in shared memory by the GEMM's own shuffle where B is [K, N], and written as 128 rows of 128 bytes
// (8 lanes a row: whole lines; a phase reads one row's 8 swizzled chunks, no bank conflicts).
template <bool TB>
__global__ void __launch_bounds__(kGemmThreads) gemm_pack_b_kernel(const uint8_t* b, uint8_t* out, int n, int k, int ldb, int aligned) {
  __shared__ __align__(128) uint8_t tile[TB ? 2 : 1][kGemmTileBytes];
  const int tid = threadIdx.x;
  const int k0 = blockIdx.x * kGemmTile, n0 = blockIdx.y * kGemmTile;
  if (TB) gemm_load_tile(tile[0], b + (size_t)k0 * n + n0, k - k0, n - n0, (size_t)n, aligned, tid);
  else gemm_load_tile(tile[0], b + (size_t)n0 * k + k0, n - n0, k - k0, (size_t)k, aligned, tid);
  ptx::cp_async_commit_group();
  ptx::cp_async_wait_group<0>();
  __syncthreads();
  const uint8_t* src = tile[0];
  if (TB) {
    gemm_transpose_tile(tile[0], tile[TB ? 1 : 0], tid & 31, tid >> 5);
    __syncthreads();
    src = tile[TB ? 1 : 0];
  }
  for (int idx = tid; idx < kGemmTile * 8; idx += kGemmThreads) {
    const int r = idx >> 3, c = idx & 7;
    if (n0 + r < n && k0 + 16 * c < ldb)
      store16(reinterpret_cast<uint32_t*>(out + (size_t)(n0 + r) * ldb + k0 + 16 * c), load16(reinterpret_cast<const uint32_t*>(src + gemm_swizzle<TB>(r, c))));
  }
}

// Packed B's scales: entry (j, kb) of the 'nt' layout [rows, kbs], from wherever p's layout keeps it.
__global__ void __launch_bounds__(kElementwiseBlock) gemm_pack_scales_kernel(const float* sb, float* out, fp8k_gemm p, int rows, int kbs) {
  const int lines = p.b_scales == FP8K_B_LINES;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < rows * kbs; i += gridDim.x * blockDim.x) {
    const int j = i / kbs, kb = i - j * kbs;
    out[i] = sb[fp8k_gemm_b_scale_index(&p, lines ? j : j * FP8K_GEMM_BLOCK, kb)];
  }
}

// The data and the scales of a packed B (the entries write the header). b, sb, packed: device pointers;
// p has passed fp8k_check_gemm and gemm_unsupported.
inline void gemm_pack_b(const uint8_t* b, const float* sb, const fp8k_gemm& p, uint8_t* packed, cudaStream_t stream) {
  const GemmPacked L = gemm_packed(p);
  if (p.n == 0) return;
  const int n = (int)p.n, k = (int)p.k, ldb = (int)L.ldb;
  const bool tb = fp8k_gemm_b_transposed(&p);
  const int aligned = (tb ? n : k) % 16 == 0 && aligned16(b);
  const dim3 grid((unsigned)((L.ldb + kGemmTile - 1) / kGemmTile), (unsigned)((p.n + kGemmTile - 1) / kGemmTile));
  if (tb) FP8K_LAUNCH((gemm_pack_b_kernel<true>), grid, kGemmThreads, 0, stream, b, packed + L.data, n, k, ldb, aligned);
  else FP8K_LAUNCH((gemm_pack_b_kernel<false>), grid, kGemmThreads, 0, stream, b, packed + L.data, n, k, ldb, aligned);
  const int kbs = (int)fp8k_cdiv(p.k, FP8K_GEMM_BLOCK);
  const int rows = (int)(p.b_scales == FP8K_B_LINES ? p.n : fp8k_cdiv(p.n, FP8K_GEMM_BLOCK));
  const unsigned blocks = elementwise_blocks<gemm_pack_scales_kernel>((size_t)rows * kbs, 1);
  FP8K_LAUNCH(gemm_pack_scales_kernel, blocks, kElementwiseBlock, 0, stream, sb, reinterpret_cast<float*>(packed + L.scales), p, rows, kbs);
}

// What this kernel computes: 'promoted' mode, dimensions that fit an int. Otherwise a
// message for the caller.
inline const char* gemm_unsupported(const fp8k_gemm& p) {
  if (p.accumulate != FP8K_ACC_PROMOTED)
    return "the CUDA GEMM accumulates as the tensor cores do, promoted every 128 of K: accumulate 'exact' and 'limited' are ref/cpu modes";
  if (p.m > 0x7FFFFFFF || p.n > 0x7FFFFFFF || p.k > 0x7FFFFFFF) return "the CUDA GEMM takes M, N and K below 2^31";
  if (fp8k_gemm_a_scale_count(&p) > 0x7FFFFFFF || fp8k_gemm_b_scale_count(&p) > 0x7FFFFFFF) return "the CUDA GEMM takes fewer than 2^31 scales per operand";
  return nullptr;
}

template <int FA, int FB, bool TA, bool TB>
inline void launch_gemm_kernel(const GemmArgs& g, cudaStream_t stream) {
  opt_in_dynamic_smem<gemm_kernel<FA, FB, TA, TB>>(gemm_smem(TA, TB));
  const dim3 grid((unsigned)((g.n + kGemmTile - 1) / kGemmTile), (unsigned)((g.m + kGemmTile - 1) / kGemmTile));
  FP8K_LAUNCH((gemm_kernel<FA, FB, TA, TB>), grid, kGemmThreads, gemm_smem(TA, TB), stream, g);
}

// M at or below which 'nt' takes the small-tile kernel: one row of its tiles, so B is read once (at
// M = 64 two rows of tiles would read it twice, slower than the large kernel by the model).
constexpr int kDecodeMaxM = 32;

template <int FA, int FB>
inline void launch_gemm_layout(const GemmArgs& g, int layout, cudaStream_t stream) {
  if (layout == FP8K_GEMM_NT && g.m <= kDecodeMaxM) {
    const dim3 grid((unsigned)((g.n + kDecodeTile - 1) / kDecodeTile), (unsigned)((g.m + kDecodeTile - 1) / kDecodeTile));
    FP8K_LAUNCH((gemm_decode_kernel<FA, FB>), grid, kGemmThreads, 0, stream, g);
    return;
  }
  switch (layout) {
    case FP8K_GEMM_NN: return launch_gemm_kernel<FA, FB, false, true>(g, stream);
    case FP8K_GEMM_TN: return launch_gemm_kernel<FA, FB, true, true>(g, stream);
    case FP8K_GEMM_TT: return launch_gemm_kernel<FA, FB, true, false>(g, stream);
    default: return launch_gemm_kernel<FA, FB, false, false>(g, stream);
  }
}

// p has passed fp8k_check_gemm and gemm_unsupported; a, b, sa, sb, c, d are device pointers; B's rows
// are ldb bytes apart.
inline void launch_gemm_with(const uint8_t* a, const float* sa, const uint8_t* b, const float* sb, size_t ldb, const float* c, void* d,
                             const fp8k_gemm& p, cudaStream_t stream) {
  GemmArgs g{};
  g.a = a, g.b = b, g.sa = sa, g.sb = sb, g.c = p.has_c ? c : nullptr, g.d = d;
  g.m = (int)p.m, g.n = (int)p.n, g.k = (int)p.k, g.kbs = (int)fp8k_cdiv(p.k, FP8K_GEMM_BLOCK), g.ldb = (int)ldb;
  const bool ta = fp8k_gemm_a_transposed(&p);
  // The scale strides, read off native/common/gemm_index.h's index functions (linear in m, n / 128 or
  // n, and kb for every layout).
  g.b_lines = p.b_scales == FP8K_B_LINES;
  const size_t a0 = fp8k_gemm_a_scale_index(&p, 0, 0), b0 = fp8k_gemm_b_scale_index(&p, 0, 0);
  g.sa_m = (int)(fp8k_gemm_a_scale_index(&p, 1, 0) - a0);
  g.sa_kb = (int)(fp8k_gemm_a_scale_index(&p, 0, 1) - a0);
  g.sb_n = (int)(fp8k_gemm_b_scale_index(&p, g.b_lines ? 1 : FP8K_GEMM_BLOCK, 0) - b0);
  g.sb_kb = (int)(fp8k_gemm_b_scale_index(&p, 0, 1) - b0);
  g.aligned = (ta ? p.m : p.k) % 16 == 0 && ldb % 16 == 0 && aligned16(a) && aligned16(b);
  g.out_bf16 = p.out_dtype == FP8K_BF16;
  const size_t per = g.out_bf16 ? 8 : 4;
  g.vector_out = p.n % per == 0 && aligned16(d) && (!g.c || aligned16(g.c));
  const bool a4 = p.a_format == FP8K_FORMAT_E4M3, b4 = p.b_format == FP8K_FORMAT_E4M3;
  if (a4 && b4) launch_gemm_layout<FP8K_FORMAT_E4M3, FP8K_FORMAT_E4M3>(g, p.layout, stream);
  else if (a4) launch_gemm_layout<FP8K_FORMAT_E4M3, FP8K_FORMAT_E5M2>(g, p.layout, stream);
  else if (b4) launch_gemm_layout<FP8K_FORMAT_E5M2, FP8K_FORMAT_E4M3>(g, p.layout, stream);
  else launch_gemm_layout<FP8K_FORMAT_E5M2, FP8K_FORMAT_E5M2>(g, p.layout, stream);
}

// A packed B is the unpacked call's 'nt' (or, for A stored [K, M], 'tt') B with padded rows.
inline void launch_gemm(const uint8_t* a, const float* sa, const uint8_t* b, const float* sb, const float* c, void* d, const fp8k_gemm& p,
                        cudaStream_t stream) {
  if (!p.b_packed) return launch_gemm_with(a, sa, b, sb, fp8k_gemm_b_transposed(&p) ? p.n : p.k, c, d, p, stream);
  const GemmPacked L = gemm_packed(p);
  fp8k_gemm q = p;
  q.b_packed = 0;
  q.layout = fp8k_gemm_a_transposed(&p) ? FP8K_GEMM_TT : FP8K_GEMM_NT;
  launch_gemm_with(a, sa, b + L.data, reinterpret_cast<const float*>(b + L.scales), L.ldb, c, d, q, stream);
}

// The backend entries' part (plugin.cu, native/emu/gemm.cc): SPEC's checks of p, then gemm_unsupported,
// as the call's error; and the launch.
inline int gemm_refuse(const fp8k_gemm& p, fp8k_call* c) {
  if (int s = fp8k_check_gemm(&p, c)) return s;
  const char* why = gemm_unsupported(p);
  return why ? fp8k_fail(c, FP8K_ERR_ARGUMENT, "gemm: %s", why) : FP8K_OK;
}
inline void gemm(const uint8_t* a, const float* sa, const uint8_t* b, const float* sb, const float* c, void* d, const fp8k_gemm& p,
                 cudaStream_t s) {
  if (p.m * p.n == 0) return;
  launch_gemm(a, sa, b, sb, c, d, p, s);
}

}  // namespace fp8k::cuda
