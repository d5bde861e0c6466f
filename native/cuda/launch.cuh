// The one include of every kernel header in native/cuda/: the same source then
// builds with nvcc (CUDA headers, <<<>>>) and with g++ against the CPU emulator
// (native/emu/cuda_emu.h). It provides
//   FP8K_LAUNCH(kernel, grid, block, smem_bytes, stream, args...)
//     nvcc: kernel<<<grid, block, smem_bytes, stream>>>(args...)  (check cudaGetLastError)
//     g++:  runs the grid synchronously, throws fp8k::emu::Fault with file:line
//   FP8K_DYNAMIC_SHARED(type, name)   -- `extern __shared__ type name[]` under nvcc
//   FP8K_EMU_LOC_PARAM, FP8K_EMU_CHECK_ALIGNED(p, n, what) -- g++: a vector access at an address
//     that is not n-byte aligned faults with the caller's line; nvcc: nothing
// A template kernel goes in parentheses: FP8K_LAUNCH((k<float, 128>), ...).
#pragma once
#if defined(__CUDACC__)
#include <cuda_runtime.h>
#define FP8K_LAUNCH(kernel, grid, block, smem, stream, ...) kernel<<<grid, block, smem, stream>>>(__VA_ARGS__)
#define FP8K_DYNAMIC_SHARED(type, name) extern __shared__ __align__(16) type name[]
// The emulator's alignment check of a vector access (cuda_emu.h): nothing under nvcc.
#define FP8K_EMU_LOC_PARAM
#define FP8K_EMU_CHECK_ALIGNED(p, n, what) ((void)0)
#else
#include "../emu/cuda_emu.h"
#endif

// The opt-in above 48 KiB of dynamic shared memory belongs to the kernel, not to a call: set once per
// kernel (the static is per template instance), on its first launch. A refusal shows as the launch's error.
template <auto Kernel>
inline void opt_in_dynamic_smem(int bytes) {
  static const cudaError_t done = cudaFuncSetAttribute(Kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
  (void)done;
}
