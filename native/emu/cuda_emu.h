// Compile CUDA C++ kernels with g++ and run them on the CPU (fp8kit's cuda-emu).
// Include this instead of the CUDA headers (native/cuda/launch.cuh does so when
// not under nvcc). FMA policy: nvcc contracts a*b+c into fma.rn by default
// (--fmad=true); g++ does not with -ffp-contract=off. So both builds turn
// contraction off -- the plugin is compiled with nvcc -fmad=false (CMakeLists.txt),
// this emulation with g++ -ffp-contract=off -- and a kernel that means a fused
// multiply-add writes fmaf / __fmaf_rn; then the two builds compute the same bits
// (test/fmad.test.ts checks the PTX).
#pragma once
#ifdef __CUDACC__
#error "cuda_emu.h is for the g++ build; nvcc uses the CUDA headers"
#endif

#define FP8K_EMU 1

// Qualifiers. Kernels live in headers, so __global__ means inline here (one
// definition across translation units, as -rdc=false nvcc needs them per TU).
#define __global__ inline
#define __device__
#define __host__
#define __constant__
#define __managed__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
// __restrict__ is already a g++ keyword.

// __shared__: a thread_local static. g++ 12 ignores section attributes on the
// statics of function templates (GCC PR 70435), so a linker section cannot hold
// them; the module's TLS block can. Before every block the scheduler fills this
// module's whole TLS block of the launching OS thread with 0xFF, after saving it,
// and restores it when the launch ends. So: keep other thread_local variables of
// the module that holds the kernels out of device code, and link libstdc++
// dynamically (the launch refuses a module that holds libstdc++'s own TLS).
#define __shared__ static thread_local __attribute__((used))

#include "runtime.h"

// Dynamic shared memory: `extern __shared__ T name[]` under nvcc.
#define FP8K_DYNAMIC_SHARED(type, name) type* const name = static_cast<type*>(::fp8k::emu::dynamic_smem())

// Kernel launch: kernel<<<grid, block, smem, stream>>>(args...) under nvcc.
// Here: synchronous; throws fp8k::emu::Fault, also where the GPU would refuse the launch
// (limits.cc: threads, shared memory with its opt-in, registers; FP8KIT_EMU_ARCH=sm_89|sm_90).
#define FP8K_LAUNCH(kernel, grid, block, smem, stream, ...) \
  ::fp8k::emu::launch(::fp8k::emu::Loc(), #kernel, kernel, grid, block, smem, stream, ##__VA_ARGS__)

// cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes): the per-kernel
// opt-in to more than 48 KiB of dynamic shared memory, checked as the GPU checks it.
enum cudaError_t { cudaSuccess = 0, cudaErrorInvalidValue = 1 };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = ::fp8k::emu::kAttrMaxDynamicSharedMemorySize };
template <class... P>
inline cudaError_t cudaFuncSetAttribute(void (*kernel)(P...), cudaFuncAttribute attr, int value) {
  return static_cast<cudaError_t>(::fp8k::emu::func_set_attribute(reinterpret_cast<const void*>(kernel), attr, value));
}

// The device's SM count and a kernel's occupancy, as the grid-stride launchers ask for them.
enum cudaDeviceAttr { cudaDevAttrMultiProcessorCount = 16 };
inline cudaError_t cudaGetDevice(int* d) { return *d = 0, cudaSuccess; }
inline cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr, int) { return *v = ::fp8k::emu::multiprocessors(), cudaSuccess; }
template <class... P>
inline cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int* n, void (*kernel)(P...), int threads, size_t smem) {
  *n = ::fp8k::emu::resident_blocks(reinterpret_cast<const void*>(kernel), threads, smem);
  return cudaSuccess;
}

// Vector accesses of device code take the caller's line and check their alignment:
//   T f(const T* p FP8K_EMU_LOC_PARAM) { FP8K_EMU_CHECK_ALIGNED(p, 16, "load16"); ... }
// Under nvcc both expand to nothing (launch.cuh).
#define FP8K_EMU_LOC_PARAM , ::fp8k::emu::Loc fp8k_emu_loc = {}
#define FP8K_EMU_CHECK_ALIGNED(p, n, what) ::fp8k::emu::check_aligned(p, n, what, fp8k_emu_loc)

// Built-in variables, set by the scheduler before it resumes a thread.
extern uint3 threadIdx, blockIdx;
extern dim3 blockDim, gridDim;
constexpr int warpSize = 32;

// __syncthreads and its predicate forms; the defaulted Loc records the caller's line.
inline void __syncthreads(::fp8k::emu::Loc loc = {}) { ::fp8k::emu::barrier(::fp8k::emu::BAR_SYNC, 0, loc); }
inline int __syncthreads_count(int p, ::fp8k::emu::Loc loc = {}) { return ::fp8k::emu::barrier(::fp8k::emu::BAR_COUNT, p, loc); }
inline int __syncthreads_and(int p, ::fp8k::emu::Loc loc = {}) { return ::fp8k::emu::barrier(::fp8k::emu::BAR_AND, p, loc); }
inline int __syncthreads_or(int p, ::fp8k::emu::Loc loc = {}) { return ::fp8k::emu::barrier(::fp8k::emu::BAR_OR, p, loc); }

#include "atomics.h"
#include "intrinsics.h"
#include "warp.h"
