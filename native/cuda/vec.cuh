// 16-byte vector access for elementwise kernels: 16 fp8, 8 bf16 or 4 f32 values in one load or store.
#pragma once
#include <stdint.h>

#include "../common/fp8.h"
#include "launch.cuh"

namespace fp8k::cuda {

// 16 bytes of T, aligned so nvcc moves it with one ld/st.global.v4. Reading T through Pack<T>
// keeps the element type (no type punning), so g++ -O3 and nvcc both see well-defined code.
template <typename T>
struct alignas(16) Pack {
  static constexpr int N = 16 / sizeof(T);
  T v[N];
};

// p must be 16-byte aligned, as ld/st.global.v4 needs (the emulator faults otherwise, with the caller's line).
template <typename T>
__device__ __forceinline__ Pack<T> load16(const T* p FP8K_EMU_LOC_PARAM) {
  FP8K_EMU_CHECK_ALIGNED(p, 16, "load16");
  return *reinterpret_cast<const Pack<T>*>(p);
}

template <typename T>
__device__ __forceinline__ void store16(T* p, const Pack<T>& v FP8K_EMU_LOC_PARAM) {
  FP8K_EMU_CHECK_ALIGNED(p, 16, "store16");
  *reinterpret_cast<Pack<T>*>(p) = v;
}

// Storage element <-> f32: f32 as is, bf16 (raw 16-bit words) widened exactly / rounded to nearest even.
__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(uint16_t h) { return fp8k_bf16_to_f32(h); }
template <typename Out>
__device__ __forceinline__ Out from_f32(float v);
template <>
__device__ __forceinline__ float from_f32<float>(float v) { return v; }
template <>
__device__ __forceinline__ uint16_t from_f32<uint16_t>(float v) { return fp8k_bf16_from_f32(v); }

__host__ __device__ __forceinline__ bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

}  // namespace fp8k::cuda
