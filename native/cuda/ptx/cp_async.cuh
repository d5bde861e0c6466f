// cp.async (sm_80+): global -> shared copies that complete at wait_group.
// Emulated as deferred copies (native/emu/cp_async.cc) that land at a seeded
// random sync point of the issuing thread between issue and wait
// (FP8KIT_EMU_CP_ASYNC=early, the default) or exactly at the wait (=wait, where
// a missing wait always reads the 0xFF poison).
#pragma once
#include "ptx_common.cuh"

namespace fp8k {
namespace ptx {

// 16 bytes, cached in L2 only (.cg); both addresses 16-byte aligned.
FP8K_PTX_DEV void cp_async_cg_16(void* smem_dst, const void* gmem_src FP8K_PTX_LOC) {
#if defined(__CUDA_ARCH__)
  const unsigned dst = (unsigned)__cvta_generic_to_shared(smem_dst);
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(dst), "l"(gmem_src) : "memory");
#elif !defined(__CUDACC__)
  ::fp8k::emu::cp_async(smem_dst, gmem_src, 16, 16, loc);
#endif
}

// As cp_async_cg_16, reading only src_bytes (0..16) and zero-filling the rest:
// the form for tiles that run past the end of a tensor.
FP8K_PTX_DEV void cp_async_cg_16_zfill(void* smem_dst, const void* gmem_src, unsigned src_bytes FP8K_PTX_LOC) {
#if defined(__CUDA_ARCH__)
  const unsigned dst = (unsigned)__cvta_generic_to_shared(smem_dst);
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(gmem_src), "r"(src_bytes) : "memory");
#elif !defined(__CUDACC__)
  ::fp8k::emu::cp_async(smem_dst, gmem_src, 16, src_bytes, loc);
#endif
}

// 16 bytes, cached at all levels (.ca).
FP8K_PTX_DEV void cp_async_ca_16(void* smem_dst, const void* gmem_src FP8K_PTX_LOC) {
#if defined(__CUDA_ARCH__)
  const unsigned dst = (unsigned)__cvta_generic_to_shared(smem_dst);
  asm volatile("cp.async.ca.shared.global [%0], [%1], 16;" ::"r"(dst), "l"(gmem_src) : "memory");
#elif !defined(__CUDACC__)
  ::fp8k::emu::cp_async(smem_dst, gmem_src, 16, 16, loc);
#endif
}

FP8K_PTX_DEV void cp_async_commit_group() {
#if defined(__CUDA_ARCH__)
  asm volatile("cp.async.commit_group;" ::: "memory");
#elif !defined(__CUDACC__)
  ::fp8k::emu::cp_async_commit();
#endif
}

// Waits until at most N of this thread's committed groups are still in flight.
template <int N>
FP8K_PTX_DEV void cp_async_wait_group() {
#if defined(__CUDA_ARCH__)
  asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
#elif !defined(__CUDACC__)
  ::fp8k::emu::cp_async_wait(N);
#endif
}

// Commits the pending copies and waits for all of them.
FP8K_PTX_DEV void cp_async_wait_all() {
#if defined(__CUDA_ARCH__)
  asm volatile("cp.async.wait_all;" ::: "memory");
#elif !defined(__CUDACC__)
  ::fp8k::emu::cp_async_commit();
  ::fp8k::emu::cp_async_wait(0);
#endif
}

}  // namespace ptx
}  // namespace fp8k
