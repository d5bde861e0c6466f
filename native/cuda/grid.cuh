// Launch geometry of the grid-stride kernels, and their index division.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include <atomic>

#include "../common/hd.h"
#include "launch.cuh"

namespace fp8k::cuda {

constexpr int kMaxDevices = 64;

// n / d and n % d for the kernels' index arithmetic: a 32-bit division wherever both fit (a GPU has no
// divide instruction; nvcc's 64-bit division routine is several times the 32-bit one). The test is
// uniform across a launch for all but the largest tensors.
FP8K_HD size_t udiv(size_t n, size_t d) { return (n | d) >> 32 ? n / d : (size_t)((uint32_t)n / (uint32_t)d); }
FP8K_HD size_t umod(size_t n, size_t d) { return (n | d) >> 32 ? n % d : (size_t)((uint32_t)n % (uint32_t)d); }

constexpr int kElementwiseBlock = 256;

// The grid of a grid-stride kernel: `needed` blocks, at most as many as the device holds at once (its
// SMs × the kernel's occupancy at `threads` and `smem`), asked once per kernel and device. More would
// only queue; fewer would leave SMs idle.
template <auto Kernel>
inline unsigned fill_blocks(size_t needed, int threads, size_t smem = 0) {
  static std::atomic<unsigned> resident[kMaxDevices];  // 0: not asked yet
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= kMaxDevices) dev = 0;
  unsigned cap = resident[dev].load(std::memory_order_relaxed);
#if !defined(__CUDACC__)
  cap = 0;  // cuda-emu: FP8KIT_EMU_ARCH may change between launches; asking is cheap
#endif
  if (!cap) {
    int sms = 0, per = 0;
    if (cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || sms < 1) sms = 1;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per, Kernel, threads, smem) != cudaSuccess || per < 1) per = 1;
    cap = (unsigned)(sms * per);
    resident[dev].store(cap, std::memory_order_relaxed);
  }
  return (unsigned)(needed < 1 ? 1 : needed > cap ? cap : needed);
}

// Blocks for `n` elements of `per_thread` each in blocks of kElementwiseBlock.
template <auto Kernel>
inline unsigned elementwise_blocks(size_t n, size_t per_thread) {
  return fill_blocks<Kernel>((((n + per_thread - 1) / per_thread) + kElementwiseBlock - 1) / kElementwiseBlock, kElementwiseBlock);
}

}  // namespace fp8k::cuda
