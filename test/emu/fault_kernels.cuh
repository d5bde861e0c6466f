// Kernels with planted bugs. test/emu.test.ts finds each `FAULT:` marker's line
// and expects the emulator's message to name it.
#pragma once
#include "../../native/cuda/launch.cuh"
#include "../../native/cuda/ptx/cp_async.cuh"
#include "../../native/cuda/vec.cuh"

// Reads a neighbour's slot without the barrier: sees the 0xFF poison (NaN);
// racecheck names both lines.
__global__ void missing_sync_kernel(const float* __restrict__ x, float* __restrict__ y) {
  __shared__ float s[128];
  const int t = threadIdx.x;
  s[t] = x[t];  // FAULT: racing-write
  y[t] = s[(t + 1) & 127];  // FAULT: missing-sync
}

// Every thread stores into one word before the barrier: a write-write race.
__global__ void write_write_kernel(const float* __restrict__ x, float* __restrict__ y) {
  __shared__ float last;
  const int t = threadIdx.x;
  if (x[t] > 0.0f) last = x[t];  // FAULT: write-write
  __syncthreads();
  y[t] = last;
}

// Lanes swap through shared memory without __syncwarp (warp_exchange_kernel has it).
__global__ void missing_syncwarp_kernel(const float* __restrict__ x, float* __restrict__ y) {
  __shared__ float s[64];
  const int t = threadIdx.x;
  s[t] = x[t];
  y[t] = s[t ^ 1];  // FAULT: missing-syncwarp
}

// All 32 lanes shuffle, but the mask names only lanes 0..15.
__global__ void shfl_mask_kernel(const float* __restrict__ x, float* __restrict__ y) {
  const int t = threadIdx.x;
  y[t] = __shfl_down_sync(0x0000FFFFu, x[t], 8);  // FAULT: shfl-mask
}

// The last warp returns early; the rest wait at a barrier it never reaches.
__global__ void partial_barrier_kernel(float* __restrict__ y) {
  const int t = threadIdx.x;
  if (t >= 96) return;
  y[t] = 1.0f;
  __syncthreads();  // FAULT: partial-barrier
  y[t] += 1.0f;
}

// Two halves of the block wait at two different barriers.
__global__ void divergent_barrier_kernel(float* __restrict__ y) {
  const int t = threadIdx.x;
  if (t < 64) {
    __syncthreads();  // FAULT: divergent-barrier-a
  } else {
    __syncthreads();  // FAULT: divergent-barrier-b
  }
  y[t] = 1.0f;
}

// Lanes 0..15 wait in __syncwarp for lanes that wait at __syncthreads: deadlock.
__global__ void deadlock_kernel(float* __restrict__ y) {
  const int t = threadIdx.x;
  if ((t & 31) < 16) __syncwarp();  // FAULT: deadlock-warp
  __syncthreads();  // FAULT: deadlock-bar
  y[t] = 1.0f;
}

// Writes one element past the end: caught by AddressSanitizer (driver-asan).
__global__ void oob_kernel(float* __restrict__ y, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i <= n) y[i] = 1.0f;  // FAULT: oob
}

// ---- launch limits and alignment (the GPU refuses or faults; the emulator must too)

// A 16-byte vector load at x + 1 (4 bytes past a 16-byte boundary): a misaligned-address error on the GPU.
__global__ void misaligned_load16_kernel(const float* __restrict__ x, float* __restrict__ y) {
  const int t = threadIdx.x;
  const fp8k::cuda::Pack<float> v = fp8k::cuda::load16(x + 4 * t + 1);  // FAULT: misaligned-load16
  y[t] = v.v[0];
}

// The same for a 16-byte store at y + 2.
__global__ void misaligned_store16_kernel(const float* __restrict__ x, float* __restrict__ y) {
  const int t = threadIdx.x;
  const fp8k::cuda::Pack<float> v = fp8k::cuda::load16(x + 4 * t);
  fp8k::cuda::store16(y + 4 * t + 2, v);  // FAULT: misaligned-store16
}

// Uses `n` floats of dynamic shared memory: launched with too many threads or too much shared memory.
__global__ void big_smem_kernel(float* __restrict__ y, int n) {
  FP8K_DYNAMIC_SHARED(float, s);
  const int t = threadIdx.x;
  for (int i = t; i < n; i += blockDim.x) s[i] = (float)i;
  __syncthreads();
  if (t == 0) y[0] = s[n - 1];
}

// ---- cp.async landing early (FP8KIT_EMU_CP_ASYNC=early): bugs a copy that lands only at its wait hides

// Double buffering over `stages` stages of 64 x 16 bytes: the copy of stage s+2 goes into the buffer
// stage s was read from. Without the second __syncthreads (SYNC = false) a thread that runs ahead
// issues it while its neighbours still read stage s; a copy landing at the wait (the next iteration,
// after its barrier) never shows it, one landing early corrupts their reads.
template <bool SYNC>
__global__ void cp_async_double_buffer_kernel(const uint4* __restrict__ x, uint4* __restrict__ y, int stages) {
  __shared__ uint4 buf[2][64];
  const int t = threadIdx.x;
  fp8k::ptx::cp_async_cg_16(&buf[0][t], &x[t]);
  fp8k::ptx::cp_async_commit_group();
  for (int s = 0; s < stages; ++s) {
    if (s + 1 < stages) fp8k::ptx::cp_async_cg_16(&buf[(s + 1) & 1][t], &x[(s + 1) * 64 + t]);  // FAULT: reuse-before-sync
    fp8k::ptx::cp_async_commit_group();
    fp8k::ptx::cp_async_wait_group<1>();  // stage s landed
    __syncthreads();
    // both neighbours: one of them runs ahead in either thread order
    y[(s * 64 + t) * 2] = buf[s & 1][(t + 1) & 63];  // FAULT: stage-read-a
    y[(s * 64 + t) * 2 + 1] = buf[s & 1][(t + 63) & 63];  // FAULT: stage-read-b
    if (SYNC) __syncthreads();  // every read of buf[s & 1] before the next iteration's copy into it
  }
}

// Each thread publishes its element to a global workspace, then stages its neighbours' elements
// back with cp.async. Without the __syncthreads between the store and the issue (SYNC = false), the
// copy may read the source before the neighbour stored it; a copy performed at the wait (after the
// later barrier) always reads the stored value.
template <bool SYNC>
__global__ void cp_async_publish_kernel(const uint4* __restrict__ x, uint4* __restrict__ work, uint4* __restrict__ y) {
  __shared__ uint4 s[2][64];
  const int t = threadIdx.x;
  work[t] = x[t];
  if (SYNC) __syncthreads();
  fp8k::ptx::cp_async_cg_16(&s[0][t], &work[(t + 1) & 63]);  // FAULT: source-before-sync
  fp8k::ptx::cp_async_cg_16(&s[1][t], &work[(t + 63) & 63]);
  fp8k::ptx::cp_async_commit_group();
  __syncthreads();
  fp8k::ptx::cp_async_wait_all();
  y[2 * t] = s[0][t];
  y[2 * t + 1] = s[1][t];
}
