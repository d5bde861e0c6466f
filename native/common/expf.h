// SPEC §5: fp8kit's own exp, so that the gate gives the same bits on every backend. Plain f32
// operations in a fixed order, each rounded once: no libm (whose expf differs between glibc and
// CUDA), no FMA (nvcc would contract a*b+c; __fmul_rn / __fadd_rn forbid it, and the host build has
// -ffp-contract=off). Error under 1 ulp over the normal range; results under 2^-126 keep their
// subnormal bits by scaling in two steps.
#pragma once
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "hd.h"

#if defined(__CUDA_ARCH__)
#define FP8K_FMUL(a, b) __fmul_rn(a, b)
#define FP8K_FADD(a, b) __fadd_rn(a, b)
#define FP8K_FDIV(a, b) __fdiv_rn(a, b)
#else
#define FP8K_FMUL(a, b) ((a) * (b))
#define FP8K_FADD(a, b) ((a) + (b))
#define FP8K_FDIV(a, b) ((a) / (b))
#endif

FP8K_HD float fp8k_pow2i(int n) {  // 2^n for n in [-126, 127]
  uint32_t bits = (uint32_t)(n + 127) << 23;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

FP8K_HD float fp8k_expf(float x) {
  if (!(x == x)) return x;                      // NaN
  if (x > 88.7228394f) return INFINITY;          // above ln(FLT_MAX)
  if (x < -103.972084f) return 0.0f;            // below half the smallest subnormal
  // x = n ln2 + r, |r| <= ln2/2; ln2 in two parts (Cephes') so n * 0.693359375 is exact.
  const float n = floorf(FP8K_FADD(FP8K_FMUL(x, 1.44269504f), 0.5f));
  const float r = FP8K_FADD(FP8K_FADD(x, FP8K_FMUL(n, -0.693359375f)), FP8K_FMUL(n, 2.12194440e-4f));
  // exp(r) = 1 + r + r^2 P(r), Cephes' minimax P of degree 5 (Horner); then 2^n.
  float q = 1.9875691500e-4f;
  q = FP8K_FADD(FP8K_FMUL(q, r), 1.3981999507e-3f);
  q = FP8K_FADD(FP8K_FMUL(q, r), 8.3334519073e-3f);
  q = FP8K_FADD(FP8K_FMUL(q, r), 4.1665795894e-2f);
  q = FP8K_FADD(FP8K_FMUL(q, r), 1.6666665459e-1f);
  q = FP8K_FADD(FP8K_FMUL(q, r), 5.0000001201e-1f);
  const float p = FP8K_FADD(FP8K_FADD(FP8K_FMUL(q, FP8K_FMUL(r, r)), r), 1.0f);
  // 2^n in two factors, each a normal float, so n = 128 and subnormal results are exact products too.
  const int e = (int)n, a = e > 127 ? 1 : e < -126 ? -64 : 0;
  return FP8K_FMUL(FP8K_FMUL(p, fp8k_pow2i(e - a)), fp8k_pow2i(a));
}

// The gate's scores (SPEC §5 step 1).
FP8K_HD float fp8k_sigmoid(float x) { return FP8K_FDIV(1.0f, FP8K_FADD(1.0f, fp8k_expf(-x))); }
