// Kernels with planted bugs. test/emu.test.ts finds each `FAULT:` marker's line
// and expects the emulator's message to name it.
#pragma once
#include "../../native/cuda/launch.cuh"

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
