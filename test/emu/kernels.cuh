// Correct kernels that exercise the emulator; written in CUDA C++ so that the
// same file builds with nvcc (test/emu/nvcc_check.cu) and with g++ (driver.cc).
#pragma once
#include "../../native/cuda/launch.cuh"

// Sum of each block's 128 elements: shared-memory tree with barriers.
__global__ void block_sum_kernel(const float* __restrict__ x, float* __restrict__ out, int n) {
  __shared__ float s[128];
  const int t = threadIdx.x, i = blockIdx.x * 128 + t;
  s[t] = i < n ? x[i] : 0.0f;
  __syncthreads();
  for (int k = 64; k > 0; k >>= 1) {
    if (t < k) s[t] += s[t + k];
    __syncthreads();
  }
  if (t == 0) out[blockIdx.x] = s[0];
}

// Per-warp max by butterfly shuffles, and the same over ints with __reduce_max_sync.
__global__ void warp_max_kernel(const float* __restrict__ x, float* __restrict__ out, const int* xi, int* outi) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  float v = x[i];
  for (int m = 16; m > 0; m >>= 1) v = fmaxf(v, __shfl_xor_sync(0xFFFFFFFFu, v, m));
  const int r = __reduce_max_sync(0xFFFFFFFFu, xi[i]);
  if ((threadIdx.x & 31) == 0) out[i / 32] = v, outi[i / 32] = r;
}

// Votes: ballot of x > 0, any, all, and the ballot's popcount.
__global__ void vote_kernel(const float* __restrict__ x, unsigned* __restrict__ out) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  const unsigned b = __ballot_sync(0xFFFFFFFFu, x[i] > 0.0f);
  const int any = __any_sync(0xFFFFFFFFu, x[i] > 0.9f), all = __all_sync(0xFFFFFFFFu, x[i] > -0.9f);
  if ((threadIdx.x & 31) == 0) {
    out[4 * (i / 32) + 0] = b;
    out[4 * (i / 32) + 1] = any;
    out[4 * (i / 32) + 2] = all;
    out[4 * (i / 32) + 3] = __popc(b);
  }
}

// Inclusive warp scan with __shfl_up_sync, and a broadcast of lane 3 within halves (width 16).
__global__ void scan_kernel(const int* __restrict__ x, int* __restrict__ scan, int* __restrict__ bcast) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x, lane = threadIdx.x & 31;
  int v = x[i];
  for (int d = 1; d < 32; d <<= 1) {
    const int u = __shfl_up_sync(0xFFFFFFFFu, v, d);
    if (lane >= d) v += u;
  }
  scan[i] = v;
  bcast[i] = __shfl_sync(0xFFFFFFFFu, x[i], 3, 16) + __shfl_down_sync(0xFFFFFFFFu, x[i], 5);
}

// Global atomics: histogram, max, float sum, and a CAS loop.
__global__ void atomics_kernel(const int* __restrict__ x, int n, int* hist, int* mx, float* sum, unsigned* cas) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  atomicAdd(&hist[x[i] & 15], 1);
  atomicMax(mx, x[i]);
  atomicAdd(sum, (float)(x[i] % 100));
  unsigned old = *cas, assumed;
  do {
    assumed = old;
    old = atomicCAS(cas, assumed, assumed + 3u);
  } while (old != assumed);
}

// Dynamic shared memory: reverse each block's slice; __syncthreads_count of positives.
__global__ void reverse_kernel(const int* __restrict__ x, int* __restrict__ y, int* __restrict__ npos) {
  FP8K_DYNAMIC_SHARED(int, buf);
  const int t = threadIdx.x, n = blockDim.x, base = blockIdx.x * n;
  buf[t] = x[base + t];
  const int c = __syncthreads_count(x[base + t] > 0);
  y[base + t] = buf[n - 1 - t];
  if (t == 0) npos[blockIdx.x] = c;
}

// 2D grid and 2D blocks: transpose through a padded shared tile (32x32, block 32x8).
__global__ void transpose_kernel(const float* __restrict__ x, float* __restrict__ y, int rows, int cols) {
  __shared__ float tile[32][33];
  const int c0 = blockIdx.x * 32, r0 = blockIdx.y * 32;
  for (int k = threadIdx.y; k < 32; k += blockDim.y) {
    const int r = r0 + k, c = c0 + threadIdx.x;
    if (r < rows && c < cols) tile[k][threadIdx.x] = x[(size_t)r * cols + c];
  }
  __syncthreads();
  for (int k = threadIdx.y; k < 32; k += blockDim.y) {
    const int c = c0 + k, r = r0 + threadIdx.x;
    if (r < rows && c < cols) y[(size_t)c * rows + r] = tile[threadIdx.x][k];
  }
}

// Lanes swap through shared memory, ordered by __syncwarp (no __syncthreads needed).
__global__ void warp_exchange_kernel(const float* __restrict__ x, float* __restrict__ y) {
  __shared__ float s[64];
  const int t = threadIdx.x;
  s[t] = x[t];
  __syncwarp();
  y[t] = s[t ^ 1];
}

// The benchmark block: 128 threads, 4 barriers and 5 shuffles.
__global__ void bench_kernel(const float* __restrict__ x, float* __restrict__ out) {
  __shared__ float s[4][128];  // one buffer per round: no write-after-read race
  const int t = threadIdx.x;
  float v = x[blockIdx.x * 128 + t];
  for (int r = 0; r < 4; ++r) {
    s[r][t] = v;
    __syncthreads();
    v += s[r][127 - t];
  }
  for (int m = 16; m > 0; m >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, m);
  if (t == 0) out[blockIdx.x] = v;
}
