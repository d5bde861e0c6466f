// SPEC §4's accumulation modes for one output element, as SPEC states them: the reference's loop body,
// and, for 'exact' and 'limited', every backend's (so that 'limited' gives the same bits everywhere).
#pragma once
#include "accumulate.h"
#include "fp8.h"
#include "gemm_index.h"

#if defined(__CUDACC__)
#define FP8K_HD_MEMBER __host__ __device__
#else
#define FP8K_HD_MEMBER
#endif

struct fp8k_gemm_operands {
  const fp8k_gemm* p;
  const uint8_t *a, *b;
  const float *sa, *sb;
  FP8K_HD_MEMBER float a_at(size_t m, size_t k) const { return fp8k_to_f32(a[fp8k_gemm_a_index(p, m, k)], p->a_format); }
  FP8K_HD_MEMBER float b_at(size_t n, size_t k) const { return fp8k_to_f32(b[fp8k_gemm_b_index(p, n, k)], p->b_format); }
  // s = sA[m, kb] · sB[n, kb], rounded to f32.
  FP8K_HD_MEMBER float scale(size_t m, size_t n, size_t kb) const { return sa[fp8k_gemm_a_scale_index(p, m, kb)] * sb[fp8k_gemm_b_scale_index(p, n, kb)]; }
};

// 'promoted': p = Σ f32(a)·f32(b) in f32 over each block of 128, then acc ← acc + f32(p·s).
FP8K_HD float fp8k_gemm_promoted(const fp8k_gemm_operands& o, size_t m, size_t n) {
  float acc = 0.0f;
  for (size_t k0 = 0, kb = 0; k0 < o.p->k; k0 += FP8K_GEMM_BLOCK, kb++) {
    float part = 0.0f;
    for (size_t k = k0; k < k0 + FP8K_GEMM_BLOCK && k < o.p->k; k++) part += o.a_at(m, k) * o.b_at(n, k);
    const float ps = part * o.scale(m, n, kb);
    acc = acc + ps;
  }
  return acc;
}

// 'exact': the dequantized operands, f32(q)·scale in f32 (SPEC §2), multiplied and summed in f64.
FP8K_HD double fp8k_gemm_exact(const fp8k_gemm_operands& o, size_t m, size_t n) {
  double sum = 0.0;
  for (size_t k = 0; k < o.p->k; k++) {
    const size_t kb = k / FP8K_GEMM_BLOCK;
    const float x = o.a_at(m, k) * o.sa[fp8k_gemm_a_scale_index(o.p, m, kb)];
    const float y = o.b_at(n, k) * o.sb[fp8k_gemm_b_scale_index(o.p, n, kb)];
    sum += (double)x * (double)y;
  }
  return sum;
}

// 'limited': K in steps of 32 inside each block of 128 through the truncating accumulator. Without a
// promotion interval each term carries its scale; with one, the unscaled terms of each interval go
// through a fresh accumulator that is then promoted as acc ← f32(acc + f32(p·s)).
FP8K_HD float fp8k_gemm_limited(const fp8k_gemm_operands& o, size_t m, size_t n) {
  const fp8k_gemm* p = o.p;
  const size_t interval = p->promotion_interval ? (size_t)p->promotion_interval : p->k;
  double terms[32];
  float acc = 0.0f, part = 0.0f;
  for (size_t k0 = 0; k0 < p->k; k0 += 32) {
    const size_t kb = k0 / FP8K_GEMM_BLOCK;
    const size_t end = k0 + 32 < p->k ? k0 + 32 : p->k;
    const double s = o.scale(m, n, kb);
    int count = 0;
    for (size_t k = k0; k < end; k++) {
      const double t = (double)o.a_at(m, k) * (double)o.b_at(n, k);
      terms[count++] = p->promotion_interval ? t : t * s;  // at most 32 significant bits: exact
    }
    if (!p->promotion_interval) {
      acc = fp8k_limited_step(acc, terms, count, p->accumulator_bits);
      continue;
    }
    part = fp8k_limited_step(part, terms, count, p->accumulator_bits);
    if (end % interval == 0 || end == p->k) {
      const float ps = part * (float)s;
      acc = acc + ps;
      part = 0.0f;
    }
  }
  return acc;
}


// Output element (m, n) in f32, C included, in the mode p->accumulate names.
FP8K_HD float fp8k_gemm_element(const fp8k_gemm_operands& o, const float* c, size_t m, size_t n) {
  const size_t i = m * o.p->n + n;
  if (o.p->accumulate == FP8K_ACC_EXACT) return (float)(fp8k_gemm_exact(o, m, n) + (o.p->has_c ? (double)c[i] : 0.0));
  float v = o.p->accumulate == FP8K_ACC_LIMITED ? fp8k_gemm_limited(o, m, n) : fp8k_gemm_promoted(o, m, n);
  if (o.p->has_c) v = v + c[i];
  return v;
}
