// Kernels over the inline-PTX wrappers (native/cuda/ptx/), in CUDA C++ that
// builds with nvcc (nvcc_check.cu) and with g++ (driver.cc).
#pragma once
#include "../../native/cuda/launch.cuh"
#include "../../native/cuda/ptx/cp_async.cuh"
#include "../../native/cuda/ptx/cvt_fp8x2.cuh"
#include "../../native/cuda/ptx/ldmatrix.cuh"
#include "../../native/cuda/ptx/mma_fp8.cuh"

// D[M,N] = A[M,K] * Bt[N,K]^T + C, one 16x8 tile per warp, fragments loaded
// straight from global memory by the PTX layout (M%16 == N%8 == K%32 == 0).
template <int FA, int FB>
__global__ void mma_gemm_kernel(const uint8_t* __restrict__ A, const uint8_t* __restrict__ Bt,
                                const float* __restrict__ C, float* __restrict__ D, int M, int N, int K) {
  const int warp = (blockIdx.x * blockDim.x + threadIdx.x) / 32, lane = threadIdx.x & 31;
  const int tiles_n = N / 8, m0 = warp / tiles_n * 16, n0 = warp % tiles_n * 8;
  if (m0 >= M) return;  // whole warps only
  const int g = lane >> 2, t = lane & 3;
  float acc[4];
  for (int i = 0; i < 4; ++i) acc[i] = C[(m0 + g + 8 * (i >= 2)) * N + n0 + 2 * t + (i & 1)];
  for (int k0 = 0; k0 < K; k0 += 32) {
    const uint8_t* a0 = A + (size_t)(m0 + g) * K + k0 + 4 * t;
    const uint8_t* b0 = Bt + (size_t)(n0 + g) * K + k0 + 4 * t;
    const uint32_t a[4] = {*(const uint32_t*)a0, *(const uint32_t*)(a0 + 8 * K), *(const uint32_t*)(a0 + 16),
                           *(const uint32_t*)(a0 + 8 * K + 16)};
    const uint32_t b[2] = {*(const uint32_t*)b0, *(const uint32_t*)(b0 + 16)};
    fp8k::ptx::mma_m16n8k32<FA, FB>(acc, a, b, acc);
  }
  for (int i = 0; i < 4; ++i) D[(m0 + g + 8 * (i >= 2)) * N + n0 + 2 * t + (i & 1)] = acc[i];
}

// One warp: a 16x16 b16 tile through shared memory, then ldmatrix .xN[.trans];
// each lane writes its N registers to regs[lane * 4 + m]. Matrix m covers rows
// 8*(m&1).., cols 8*(m>>1)..
template <int N, bool T>
__global__ void ldmatrix_kernel(const uint16_t* __restrict__ x, uint32_t* __restrict__ regs) {
  __shared__ __align__(16) uint16_t tile[16][16];
  const int lane = threadIdx.x;
  for (int i = lane; i < 256; i += 32) tile[i / 16][i % 16] = x[i];
  __syncthreads();
  const int m = (lane / 8) % N, r = lane % 8;
  const void* row = &tile[r + 8 * (m & 1)][8 * (m >> 1)];
  uint32_t v[4] = {0, 0, 0, 0};
  if (N == 1) {
    uint32_t o[1];
    T ? fp8k::ptx::ldmatrix_x1_trans(o, row) : fp8k::ptx::ldmatrix_x1(o, row);
    v[0] = o[0];
  } else if (N == 2) {
    uint32_t o[2];
    T ? fp8k::ptx::ldmatrix_x2_trans(o, row) : fp8k::ptx::ldmatrix_x2(o, row);
    v[0] = o[0], v[1] = o[1];
  } else {
    uint32_t o[4];
    T ? fp8k::ptx::ldmatrix_x4_trans(o, row) : fp8k::ptx::ldmatrix_x4(o, row);
    for (int i = 0; i < 4; ++i) v[i] = o[i];
  }
  for (int i = 0; i < 4; ++i) regs[lane * 4 + i] = v[i];
}

// 32 threads stage two 512-byte chunks with cp.async in two groups; each thread
// reads its neighbour's 16 bytes. WAIT = false forgets the waits (a planted bug).
template <bool WAIT>
__global__ void cp_async_kernel(const uint4* __restrict__ x, uint4* __restrict__ y, int tail_bytes) {
  __shared__ uint4 stage[2][32];
  const int t = threadIdx.x;
  fp8k::ptx::cp_async_cg_16(&stage[0][t], &x[t]);
  fp8k::ptx::cp_async_commit_group();
  if (t == 31) fp8k::ptx::cp_async_cg_16_zfill(&stage[1][t], &x[32 + t], tail_bytes);
  else fp8k::ptx::cp_async_ca_16(&stage[1][t], &x[32 + t]);
  fp8k::ptx::cp_async_commit_group();
  if (WAIT) fp8k::ptx::cp_async_wait_group<1>();  // stage 0 landed, stage 1 may be in flight
  __syncthreads();
  y[t] = stage[0][(t + 1) & 31];
  if (WAIT) fp8k::ptx::cp_async_wait_all();
  __syncthreads();
  y[32 + t] = stage[1][(t + 1) & 31];
}

// cvt.rn.satfinite.{e4m3x2,e5m2x2}.f32 on pairs.
__global__ void cvt_kernel(const float* __restrict__ x, uint16_t* __restrict__ e4, uint16_t* __restrict__ e5, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  e4[i] = fp8k::ptx::cvt_e4m3x2(x[2 * i + 1], x[2 * i]);
  e5[i] = fp8k::ptx::cvt_e5m2x2(x[2 * i + 1], x[2 * i]);
}

// The benchmark: one m16n8k32 per warp per iteration.
__global__ void mma_bench_kernel(float* __restrict__ out, int iters) {
  const uint32_t a[4] = {0x38383838u, 0x38383838u, 0x38383838u, 0x38383838u}, b[2] = {0x38383838u, 0x38383838u};
  float acc[4] = {0, 0, 0, 0};
  for (int i = 0; i < iters; ++i) fp8k::ptx::mma_m16n8k32_e4m3_e4m3(acc, a, b, acc);
  out[blockIdx.x * blockDim.x + threadIdx.x] = acc[0];
}

// The GEMM of issue 11's planted fault: one 16x8 tile of D per warp (M%16 == N%8 == K%32 == 0),
// fragments straight from global memory, unit scales. PROMOTE = 4: every 4 MMAs (128 of K) the MMA
// accumulator is added into an f32 register and reset, as DeepSeek-V3 promotes to CUDA cores;
// PROMOTE = 0: the MMA accumulator runs across the whole of K (the fault).
template <int PROMOTE>
__global__ void mma_promote_kernel(const uint8_t* __restrict__ A, const uint8_t* __restrict__ Bt, float* __restrict__ D,
                                   int M, int N, int K) {
  const int warp = (blockIdx.x * blockDim.x + threadIdx.x) / 32, lane = threadIdx.x & 31;
  const int tiles_n = N / 8, m0 = warp / tiles_n * 16, n0 = warp % tiles_n * 8;
  if (m0 >= M) return;  // whole warps only
  const int g = lane >> 2, t = lane & 3;
  float acc[4] = {0, 0, 0, 0}, prom[4] = {0, 0, 0, 0};
  for (int k0 = 0, step = 1; k0 < K; k0 += 32, ++step) {
    const uint8_t* a0 = A + (size_t)(m0 + g) * K + k0 + 4 * t;
    const uint8_t* b0 = Bt + (size_t)(n0 + g) * K + k0 + 4 * t;
    const uint32_t a[4] = {*(const uint32_t*)a0, *(const uint32_t*)(a0 + 8 * K), *(const uint32_t*)(a0 + 16),
                           *(const uint32_t*)(a0 + 8 * K + 16)};
    const uint32_t b[2] = {*(const uint32_t*)b0, *(const uint32_t*)(b0 + 16)};
    fp8k::ptx::mma_m16n8k32_e4m3_e4m3(acc, a, b, acc);
    if (PROMOTE && (step % PROMOTE == 0 || k0 + 32 == K))
      for (int i = 0; i < 4; ++i) prom[i] += acc[i], acc[i] = 0.0f;
  }
  for (int i = 0; i < 4; ++i) D[(m0 + g + 8 * (i >= 2)) * N + n0 + 2 * t + (i & 1)] = PROMOTE ? prom[i] : acc[i];
}

// The profile counter's planted patterns (FP8KIT_EMU_PROFILE, native/emu/profile.cc): one warp copies a
// 32 x 128-byte tile into shared memory with cp.async, 8 chunks per lane, then reads one 16-byte
// chunk of every row with ldmatrix.x4. SWIZZLE: chunk c of row r lies at c ^ (r & 7) (the GEMM's
// layout), so the 8 rows of an ldmatrix phase fall in 8 different bank groups; without it they all
// fall in the same 4 banks (8 wavefronts a phase). STRIDED: lane i's source chunk starts its own
// 32-byte sector (half of each sector unused, 32 sectors a request instead of 16).
template <bool SWIZZLE, bool STRIDED>
__global__ void profile_kernel(const uint8_t* __restrict__ src, uint32_t* __restrict__ out) {
  __shared__ __align__(128) uint8_t tile[32][128];
  const int lane = threadIdx.x;
  for (int i = 0; i < 8; ++i) {
    const int idx = lane + 32 * i, r = idx / 8, c = idx % 8;
    fp8k::ptx::cp_async_cg_16(&tile[r][16 * (SWIZZLE ? c ^ (r & 7) : c)], src + (STRIDED ? 32 * idx : 16 * idx));
  }
  fp8k::ptx::cp_async_wait_all();
  __syncthreads();
  const int r = lane;  // x4: lanes 8m..8m+7 give rows 8m..8m+7, chunk 0 of each
  uint32_t v[4];
  fp8k::ptx::ldmatrix_x4(v, &tile[r][16 * (SWIZZLE ? 0 ^ (r & 7) : 0)]);
  for (int m = 0; m < 4; ++m) out[lane * 4 + m] = v[m];
}
