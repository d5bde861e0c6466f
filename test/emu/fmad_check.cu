// The FMA policy's check (test/fmad.test.ts): compiled to PTX for sm_90a with the plugin's nvcc
// flags. It holds every kernel of the plugin (plugin.cu) and three small ones:
//   fmad_planted_kernel   a*b+c written plainly: nvcc's default (--fmad=true) contracts it into
//                         fma.rn.f32, -fmad=false keeps mul + add (what g++ -ffp-contract=off computes)
//   fmad_explicit_kernel  fmaf: an FMA in both builds, whatever the flags
#include "../../native/cuda/plugin.cu"

__global__ void fmad_planted_kernel(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ y) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  y[i] = a[i] * b[i] + y[i];
}

__global__ void fmad_explicit_kernel(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ y) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  y[i] = fmaf(a[i], b[i], y[i]);
}
