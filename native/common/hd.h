// Qualifiers for code shared by every backend: host C++, nvcc device code, and
// the g++ emulation build (where __host__/__device__ expand to nothing).
#pragma once
#if defined(__CUDACC__)
#define FP8K_HD __host__ __device__ __forceinline__
#else
#define FP8K_HD static inline
#endif
