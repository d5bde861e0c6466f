// Compile-only check that the test kernels and the inline-PTX wrappers build
// with nvcc for sm_89 and sm_90a (test/emu.test.ts runs it when nvcc exists).
#include "fault_kernels.cuh"
#include "kernels.cuh"
#include "ptx_kernels.cuh"

void instantiate_all(void* p, cudaStream_t s) {
  float* f = (float*)p;
  int* i = (int*)p;
  unsigned* u = (unsigned*)p;
  uint8_t* b = (uint8_t*)p;
  uint16_t* h = (uint16_t*)p;
  FP8K_LAUNCH(block_sum_kernel, 1, 128, 0, s, f, f, 1);
  FP8K_LAUNCH(warp_max_kernel, 1, 32, 0, s, f, f, i, i);
  FP8K_LAUNCH(vote_kernel, 1, 32, 0, s, f, u);
  FP8K_LAUNCH(scan_kernel, 1, 32, 0, s, i, i, i);
  FP8K_LAUNCH(atomics_kernel, 1, 32, 0, s, i, 1, i, i, f, u);
  FP8K_LAUNCH(reverse_kernel, 1, 32, 128, s, i, i, i);
  FP8K_LAUNCH(transpose_kernel, dim3(1, 1), dim3(32, 8), 0, s, f, f, 1, 1);
  FP8K_LAUNCH(bench_kernel, 1, 128, 0, s, f, f);
  FP8K_LAUNCH((mma_gemm_kernel<FP8K_FORMAT_E4M3, FP8K_FORMAT_E4M3>), 1, 128, 0, s, b, b, f, f, 16, 8, 32);
  FP8K_LAUNCH((mma_gemm_kernel<FP8K_FORMAT_E5M2, FP8K_FORMAT_E5M2>), 1, 128, 0, s, b, b, f, f, 16, 8, 32);
  FP8K_LAUNCH((mma_gemm_kernel<FP8K_FORMAT_E4M3, FP8K_FORMAT_E5M2>), 1, 128, 0, s, b, b, f, f, 16, 8, 32);
  FP8K_LAUNCH((mma_gemm_kernel<FP8K_FORMAT_E5M2, FP8K_FORMAT_E4M3>), 1, 128, 0, s, b, b, f, f, 16, 8, 32);
  FP8K_LAUNCH((ldmatrix_kernel<1, false>), 1, 32, 0, s, h, u);
  FP8K_LAUNCH((ldmatrix_kernel<2, true>), 1, 32, 0, s, h, u);
  FP8K_LAUNCH((ldmatrix_kernel<4, false>), 1, 32, 0, s, h, u);
  FP8K_LAUNCH((ldmatrix_kernel<4, true>), 1, 32, 0, s, h, u);
  FP8K_LAUNCH(cp_async_kernel<true>, 1, 32, 0, s, (const uint4*)p, (uint4*)p, 5);
  FP8K_LAUNCH(cvt_kernel, 1, 32, 0, s, f, h, h, 1);
  FP8K_LAUNCH(mma_bench_kernel, 1, 32, 0, s, f, 1);
  FP8K_LAUNCH(mma_promote_kernel<4>, 1, 32, 0, s, b, b, f, 16, 8, 128);
  FP8K_LAUNCH(mma_promote_kernel<0>, 1, 32, 0, s, b, b, f, 16, 8, 128);
  FP8K_LAUNCH(missing_sync_kernel, 1, 128, 0, s, f, f);
  FP8K_LAUNCH(oob_kernel, 1, 128, 0, s, f, 1);
}
