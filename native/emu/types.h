// CUDA's built-in value types for the emulated build: vector types, dim3, streams.
#pragma once
#include <cstddef>

#include "vector_types.inc"

struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
  constexpr operator uint3() const { return uint3{x, y, z}; }
};

// Launches run synchronously on the calling OS thread; a stream is only a tag.
typedef struct CUstream_st* cudaStream_t;
