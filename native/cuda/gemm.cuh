// SPEC §4 on the GPU, layout 'nt' (A [M,K] and B [N,K], K contiguous in both): FP8 tensor-core MMAs
// (mma.sync.m16n8k32, sm_89+) over each 128 of K into partial sums, which are then promoted into f32
// registers as acc ← acc + part · (sA[m]·sB[n]) and restarted: DeepSeek-V3's promotion with N_C = 128.
//
// Block: a 128 × 128 tile of D with 8 warps as 2 (M) × 4 (N); a warp owns 64 × 32 = 4 × 4 MMA tiles,
// so a thread holds 64 partial and 64 promoted f32. 128 × 128 is the largest tile whose two register
// sets fit 255 registers, and it reads 32 KiB of shared memory per 4 MFLOP. Each 128-deep K tile of A
// and of B (16 KiB each) is staged by a 3-stage cp.async pipeline (96 KiB of dynamic shared memory,
// opted in once per kernel): one barrier per K tile, two tiles in flight while the third is multiplied.
//
// Shared layout of a tile: 128 rows of 128 bytes; 16-byte chunk c of row r sits at chunk c ^ (r & 7).
// A cp.async phase (8 lanes) writes the 8 chunks of one row and an ldmatrix phase reads one chunk of 8
// consecutive rows: both touch 8 distinct 16-byte bank groups, so neither conflicts. Global reads: a
// warp copies 4 whole rows of 128 bytes (4 full lines) per instruction.
//
// ldmatrix (b16) gives the FP8 fragments directly: a b16 pair is 2 bytes along K, and the m16n8k32
// A fragment (rows g, g + 8; bytes 4t.., 16 + 4t..) is the x4 load of the 4 8×16-byte quarters of a
// 16 × 32-byte tile; the B fragment (column n = g, bytes 4t.., 16 + 4t..) is an x2 of B's rows.
//
// Scales are read for each K tile after its MMAs (8 of A and 1 or 8 of B per thread): registers are
// the limit, and the block's other warps keep the tensor cores busy meanwhile. The epilogue stages the f32 tile in shared memory (rows padded by 8 floats: a half-warp's
// 8-byte writes then cover 32 distinct banks), adds C and writes D with 16-byte accesses when N
// allows, a warp covering 512 contiguous bytes.
//
// Edges: rows past M or N and chunks past K are zero-filled (cp.async's src-size 0), FP8 zero times
// anything adds nothing, so partial tiles need no other care. K not a multiple of 16 leaves rows
// unaligned for cp.async: such calls copy bytewise (same stages, same order of MMAs, same bits).
#pragma once
#include <stdint.h>

#include "../common/gemm_index.h"
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

namespace fp8k::cuda {

constexpr int kGemmTile = 128;  // M, N and K of a block's tile
constexpr int kGemmThreads = 256;
constexpr int kGemmStages = 3;
constexpr int kGemmTileBytes = kGemmTile * kGemmTile;  // one operand's K tile
constexpr int kGemmStageBytes = 2 * kGemmTileBytes;
constexpr int kGemmOutStride = kGemmTile + 8;  // floats per staged output row
constexpr int kGemmSmem = kGemmStages * kGemmStageBytes;  // 96 KiB, more than the staged output's 68 KiB
static_assert(kGemmTile * kGemmOutStride * 4 <= kGemmSmem, "the output tile reuses the stages");

struct GemmArgs {
  const uint8_t* a;
  const uint8_t* b;
  const float* sa;
  const float* sb;
  const float* c;  // f32 [M,N] or null
  void* d;
  int m, n, k, kbs;         // kbs = ceil(K / 128)
  size_t sa_m, sa_kb;       // A's scale of (m, kb) at sa[m * sa_m + kb * sa_kb] (row or mn-major)
  int b_lines;              // 1D1D: B's scale of (n, kb) at sb[n * kbs + kb]; else sb[(n / 128) * kbs + kb]
  int aligned;              // K % 16 == 0 and A, B 16-byte aligned: cp.async copies
  int vector_out;           // N and D allow 16-byte stores (and C 16-byte loads)
};

__device__ __forceinline__ int gemm_swizzle(int r, int c) { return r * kGemmTile + ((c ^ (r & 7)) << 4); }

// Rows [0, rows) of a tile from g (row stride K), bytes [k0, k0 + 128) of each, into stage s.
__device__ __forceinline__ void gemm_load_tile(uint8_t* s, const uint8_t* g, int rows, int k0, const GemmArgs& p, int tid) {
  FP8K_GEMM_UNROLL
  for (int i = 0; i < kGemmTileBytes / 16 / kGemmThreads; i++) {
    const int idx = tid + i * kGemmThreads, r = idx >> 3, c = idx & 7, k = k0 + 16 * c;
    uint8_t* dst = s + gemm_swizzle(r, c);
    const bool in = r < rows && k < p.k;
    const uint8_t* src = g + (in ? (size_t)r * p.k + k : 0);
    if (p.aligned) {
      ptx::cp_async_cg_16_zfill(dst, src, in ? 16u : 0u);  // K % 16 == 0: a chunk is all in or all out
    } else {
      for (int j = 0; j < 16; j++) dst[j] = in && k + j < p.k ? src[j] : 0;
    }
  }
}

template <int FA, int FB>
__device__ __forceinline__ void gemm_mma(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  if constexpr (FA == FP8K_FORMAT_E4M3 && FB == FP8K_FORMAT_E4M3) ptx::mma_m16n8k32_e4m3_e4m3(d, a, b, d);
  else if constexpr (FA == FP8K_FORMAT_E4M3) ptx::mma_m16n8k32_e4m3_e5m2(d, a, b, d);
  else if constexpr (FB == FP8K_FORMAT_E4M3) ptx::mma_m16n8k32_e5m2_e4m3(d, a, b, d);
  else ptx::mma_m16n8k32_e5m2_e5m2(d, a, b, d);
}

template <int FA, int FB, typename Out>
__global__ void __launch_bounds__(kGemmThreads, 1) gemm_kernel(GemmArgs p) {
  FP8K_DYNAMIC_SHARED(uint8_t, smem);
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp >> 2, wn = warp & 3, g = lane >> 2, t = lane & 3;
  const int m0 = blockIdx.y * kGemmTile, n0 = blockIdx.x * kGemmTile;
  const uint8_t* ga = p.a + (size_t)m0 * p.k;
  const uint8_t* gb = p.b + (size_t)n0 * p.k;
  auto load = [&](int kt) {
    uint8_t* s = smem + (kt % kGemmStages) * kGemmStageBytes;
    gemm_load_tile(s, ga, p.m - m0, kt * kGemmTile, p, tid);
    gemm_load_tile(s + kGemmTileBytes, gb, p.n - n0, kt * kGemmTile, p, tid);
  };
  for (int s = 0; s < kGemmStages - 1; s++) {
    if (s < p.kbs) load(s);
    ptx::cp_async_commit_group();
  }

  float acc[4][4][4], part[4][4][4];
  FP8K_GEMM_UNROLL
  for (int i = 0; i < 64; i++) (&acc[0][0][0])[i] = 0.0f;
  for (int kt = 0; kt < p.kbs; kt++) {
    ptx::cp_async_wait_group<kGemmStages - 2>();
    __syncthreads();  // tile kt has landed for every thread, and every thread is done with tile kt - 1
    if (kt + kGemmStages - 1 < p.kbs) load(kt + kGemmStages - 1);  // into tile kt - 1's stage
    ptx::cp_async_commit_group();

    FP8K_GEMM_UNROLL
    for (int i = 0; i < 64; i++) (&part[0][0][0])[i] = 0.0f;
    const uint8_t* As = smem + (kt % kGemmStages) * kGemmStageBytes;
    const uint8_t* Bs = As + kGemmTileBytes;
    FP8K_GEMM_UNROLL
    for (int ks = 0; ks < kGemmTile / 32; ks++) {
      uint32_t af[4][4], bf[4][2];
      FP8K_GEMM_UNROLL
      for (int mt = 0; mt < 4; mt++) {  // lanes 8q..8q+7 address quarter q: rows +8 for q odd, bytes +16 for q >= 2
        const int r = wm * 64 + mt * 16 + (lane & 7) + 8 * ((lane >> 3) & 1);
        ptx::ldmatrix_x4(af[mt], As + gemm_swizzle(r, 2 * ks + (lane >> 4)));
      }
      FP8K_GEMM_UNROLL
      for (int np = 0; np < 2; np++) {  // two n tiles per x4: quarters (n 0-7 | 8-15) x (bytes 0-15 | 16-31)
        const int r = wn * 32 + np * 16 + (lane & 7) + 8 * (lane >> 4);
        uint32_t q[4];
        ptx::ldmatrix_x4(q, Bs + gemm_swizzle(r, 2 * ks + ((lane >> 3) & 1)));
        bf[2 * np][0] = q[0], bf[2 * np][1] = q[1], bf[2 * np + 1][0] = q[2], bf[2 * np + 1][1] = q[3];
      }
      FP8K_GEMM_UNROLL
      for (int mt = 0; mt < 4; mt++)
        FP8K_GEMM_UNROLL
        for (int nt = 0; nt < 4; nt++) gemm_mma<FA, FB>(part[mt][nt], af[mt], bf[nt]);
    }
    // The tile's scales, read only now: held across the MMAs they would push the kernel past 255
    // registers (ptxas spilled on sm_90a); the other 7 warps' MMAs cover the wait.
    float sa[4][2], sb[4][2];
    FP8K_GEMM_UNROLL
    for (int mt = 0; mt < 4; mt++)
      FP8K_GEMM_UNROLL
      for (int h = 0; h < 2; h++) {
        const int m = m0 + wm * 64 + mt * 16 + g + 8 * h;
        sa[mt][h] = m < p.m ? p.sa[(size_t)m * p.sa_m + (size_t)kt * p.sa_kb] : 0.0f;
      }
    const float sb_block = p.b_lines ? 0.0f : p.sb[(size_t)blockIdx.x * p.kbs + kt];
    FP8K_GEMM_UNROLL
    for (int nt = 0; nt < 4; nt++)
      FP8K_GEMM_UNROLL
      for (int j = 0; j < 2; j++) {
        const int n = n0 + wn * 32 + nt * 8 + 2 * t + j;
        sb[nt][j] = !p.b_lines ? sb_block : n < p.n ? p.sb[(size_t)n * p.kbs + kt] : 0.0f;
      }

    // Promotion: s = sA·sB rounded to f32, then acc + part·s as two roundings (SPEC's 'limited' with
    // promotionInterval 128 is then matched bit for bit by the hardware-like emulated MMA).
    FP8K_GEMM_UNROLL
    for (int mt = 0; mt < 4; mt++)
      FP8K_GEMM_UNROLL
      for (int nt = 0; nt < 4; nt++)
        FP8K_GEMM_UNROLL
        for (int i = 0; i < 4; i++) {
          const float s = sa[mt][i >> 1] * sb[nt][i & 1];
          const float ps = part[mt][nt][i] * s;
          acc[mt][nt][i] = acc[mt][nt][i] + ps;
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
  Out* d = static_cast<Out*>(p.d);
  constexpr int kPer = 16 / sizeof(Out);  // outputs per 16-byte store: 4 f32 or 8 bf16
  const int rows = p.m - m0 < kGemmTile ? p.m - m0 : kGemmTile, cols = p.n - n0 < kGemmTile ? p.n - n0 : kGemmTile;
  for (int idx = tid; idx < kGemmTile * kGemmTile / kPer; idx += kGemmThreads) {
    const int r = idx / (kGemmTile / kPer), c = (idx % (kGemmTile / kPer)) * kPer;
    if (r >= rows || c >= cols) continue;
    const size_t at = (size_t)(m0 + r) * p.n + n0 + c;
    const float* o = out + r * kGemmOutStride + c;
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

// What this kernel computes: 'nt' (the transposed layouts are not yet read through shared memory) in
// 'promoted' mode, unpacked B, shapes whose dimensions fit an int. Otherwise a message for the caller.
inline const char* gemm_unsupported(const fp8k_gemm& p) {
  if (p.layout != FP8K_GEMM_NT) return "the CUDA GEMM reads layout 'nt' only so far (transpose the operands, or use cpu)";
  if (p.accumulate != FP8K_ACC_PROMOTED)
    return "the CUDA GEMM accumulates as the tensor cores do, promoted every 128 of K: accumulate 'exact' and 'limited' are ref/cpu modes";
  if (p.b_packed) return "packed weights are not yet laid out for the CUDA GEMM";
  if (p.m > 0x7FFFFFFF || p.n > 0x7FFFFFFF || p.k > 0x7FFFFFFF) return "the CUDA GEMM takes M, N and K below 2^31";
  return nullptr;
}

// Once per kernel (the static is per template instance, so per kernel), on its first call: the
// opt-in to 96 KiB of dynamic shared memory. A refusal shows as the launch's error.
template <int FA, int FB, typename Out>
inline void gemm_opt_in() {
  static const cudaError_t done = cudaFuncSetAttribute(gemm_kernel<FA, FB, Out>, cudaFuncAttributeMaxDynamicSharedMemorySize, kGemmSmem);
  (void)done;
}

template <int FA, int FB>
inline void launch_gemm_formats(const GemmArgs& g, int out_dtype, cudaStream_t stream) {
  const dim3 grid((unsigned)((g.n + kGemmTile - 1) / kGemmTile), (unsigned)((g.m + kGemmTile - 1) / kGemmTile));
  if (out_dtype == FP8K_BF16) {
    gemm_opt_in<FA, FB, uint16_t>();
    FP8K_LAUNCH((gemm_kernel<FA, FB, uint16_t>), grid, kGemmThreads, kGemmSmem, stream, g);
  } else {
    gemm_opt_in<FA, FB, float>();
    FP8K_LAUNCH((gemm_kernel<FA, FB, float>), grid, kGemmThreads, kGemmSmem, stream, g);
  }
}

// p has passed fp8k_check_gemm and gemm_unsupported; a, b, sa, sb, c, d are device pointers.
inline void launch_gemm(const uint8_t* a, const float* sa, const uint8_t* b, const float* sb, const float* c, void* d, const fp8k_gemm& p,
                        cudaStream_t stream) {
  GemmArgs g{};
  g.a = a, g.b = b, g.sa = sa, g.sb = sb, g.c = p.has_c ? c : nullptr, g.d = d;
  g.m = (int)p.m, g.n = (int)p.n, g.k = (int)p.k, g.kbs = (int)fp8k_cdiv(p.k, FP8K_GEMM_BLOCK);
  const bool mn_major = p.a_scale_layout == FP8K_LAYOUT_MN_MAJOR;
  g.sa_m = mn_major ? 1 : (size_t)g.kbs;
  g.sa_kb = mn_major ? (p.m + 3) & ~(size_t)3 : 1;
  g.b_lines = p.b_scales == FP8K_B_LINES;
  g.aligned = p.k % 16 == 0 && aligned16(a) && aligned16(b);
  const size_t per = p.out_dtype == FP8K_BF16 ? 8 : 4;
  g.vector_out = p.n % per == 0 && aligned16(d) && (!g.c || aligned16(g.c));
  const bool a4 = p.a_format == FP8K_FORMAT_E4M3, b4 = p.b_format == FP8K_FORMAT_E4M3;
  if (a4 && b4) launch_gemm_formats<FP8K_FORMAT_E4M3, FP8K_FORMAT_E4M3>(g, p.out_dtype, stream);
  else if (a4) launch_gemm_formats<FP8K_FORMAT_E4M3, FP8K_FORMAT_E5M2>(g, p.out_dtype, stream);
  else if (b4) launch_gemm_formats<FP8K_FORMAT_E5M2, FP8K_FORMAT_E4M3>(g, p.out_dtype, stream);
  else launch_gemm_formats<FP8K_FORMAT_E5M2, FP8K_FORMAT_E5M2>(g, p.out_dtype, stream);
}

}  // namespace fp8k::cuda
