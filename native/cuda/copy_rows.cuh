// SPEC §8's data movement on the GPU: row i of dst = row row_of[i] of srcs[src_of[i]] (row_bytes
// each), zeros where src_of[i] < 0 — what native/ref/rows.cc copy_rows does.
//
// One warp per row (kRowsBlock / 32 rows per block, warps stride over the rows). The warp copies the
// row in units of the widest of 16, 8, 4, 2 or 1 bytes that divides the source address, the
// destination address and row_bytes: 16-byte ld/st.global.v4 with consecutive lanes on consecutive
// units for the usual fp8 rows (H bytes, H a multiple of 128) and scale rows (H/128 * 4 bytes: 16-byte
// units when H is a multiple of 512, else 8 or 4), narrower units for odd sizes (56: 8 bytes; 7172: 4).
// `srcs` is a device-readable table of source pointers: cuda-emu passes the caller's array (device
// memory is host memory); the plugin uploads the caller's host array first.
#pragma once
#include <stdint.h>

#include "launch.cuh"
#include "quantize.cuh"

namespace fp8k::cuda {

constexpr int kRowsBlock = 256;

template <int N>
struct alignas(N) Bytes {
  uint8_t v[N];
};

template <int N>
__device__ __forceinline__ void copy_row(const uint8_t* from, uint8_t* to, size_t bytes, int lane FP8K_EMU_LOC_PARAM) {
  if (N >= 8) FP8K_EMU_CHECK_ALIGNED(from, N, "copy_row (source)"), FP8K_EMU_CHECK_ALIGNED(to, N, "copy_row (destination)");
  const size_t units = bytes / N;
  Bytes<N>* d = reinterpret_cast<Bytes<N>*>(to);
  if (from) {
    const Bytes<N>* s = reinterpret_cast<const Bytes<N>*>(from);
    for (size_t u = lane; u < units; u += 32) d[u] = s[u];
  } else {
    const Bytes<N> z{};
    for (size_t u = lane; u < units; u += 32) d[u] = z;
  }
}

__global__ void __launch_bounds__(kRowsBlock) copy_rows_kernel(const void* const* __restrict__ srcs, size_t row_bytes,
                                                               const int32_t* __restrict__ src_of, const int32_t* __restrict__ row_of, size_t n,
                                                               uint8_t* __restrict__ dst) {
  const int lane = threadIdx.x & 31;
  const size_t warps = (size_t)gridDim.x * (blockDim.x >> 5);
  for (size_t i = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5; i < n; i += warps) {  // uniform in the warp
    const int32_t s = src_of[i];
    const uint8_t* from = s < 0 ? nullptr : static_cast<const uint8_t*>(srcs[s]) + (size_t)row_of[i] * row_bytes;
    uint8_t* to = dst + i * row_bytes;
    const uintptr_t a = reinterpret_cast<uintptr_t>(to) | reinterpret_cast<uintptr_t>(from) | row_bytes;
    if (a % 16 == 0) copy_row<16>(from, to, row_bytes, lane);
    else if (a % 8 == 0) copy_row<8>(from, to, row_bytes, lane);
    else if (a % 4 == 0) copy_row<4>(from, to, row_bytes, lane);
    else if (a % 2 == 0) copy_row<2>(from, to, row_bytes, lane);
    else copy_row<1>(from, to, row_bytes, lane);
  }
}

inline void launch_copy_rows(const void* const* srcs, size_t row_bytes, const int32_t* src_of, const int32_t* row_of, size_t n, void* dst,
                             cudaStream_t stream) {
  if (n == 0 || row_bytes == 0) return;
  FP8K_LAUNCH(copy_rows_kernel, capped_blocks(fp8k_cdiv(n, kRowsBlock / 32)), kRowsBlock, 0, stream, srcs, row_bytes, src_of, row_of, n,
              static_cast<uint8_t*>(dst));
}

}  // namespace fp8k::cuda
