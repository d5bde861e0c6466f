// SPEC §4, one output element at a time (native/common/gemm_modes.h holds each mode as SPEC states it).
// ref's packed B is B made plain: the codes [N, K] and a scale per (column, K block) [N, ceil(K/128)].
#include <string.h>

#include "../common/gemm_modes.h"
#include "../common/gemm_packed.h"
#include "ref.h"

namespace fp8k::ref {

namespace {

constexpr const char* kTag = "ref";

size_t codes_offset() { return sizeof(fp8k_packed_header); }
size_t scales_offset(const fp8k_gemm* p) { return (codes_offset() + p->n * p->k + 3) & ~(size_t)3; }

}  // namespace

size_t pack_b_bytes(const fp8k_gemm* p) { return scales_offset(p) + p->n * fp8k_cdiv(p->k, FP8K_GEMM_BLOCK) * sizeof(float); }

int pack_b(const uint8_t* b, const float* sb, const fp8k_gemm* p, uint8_t* packed, fp8k_call* call) {
  if (int s = fp8k_check_gemm(p, call)) return s;
  const size_t kbs = fp8k_cdiv(p->k, FP8K_GEMM_BLOCK);
  fp8k_packed_init(packed, kTag, p, pack_b_bytes(p));
  uint8_t* codes = packed + codes_offset();
  float* scales = reinterpret_cast<float*>(packed + scales_offset(p));
  for (size_t n = 0; n < p->n; n++) {
    for (size_t k = 0; k < p->k; k++) codes[n * p->k + k] = b[fp8k_gemm_b_index(p, n, k)];
    for (size_t kb = 0; kb < kbs; kb++) scales[n * kbs + kb] = sb[fp8k_gemm_b_scale_index(p, n, kb)];
  }
  return FP8K_OK;
}

int gemm(const uint8_t* a, const float* sa, const uint8_t* b, const float* sb, const float* c, void* d, const fp8k_gemm* p,
         fp8k_call* call) {
  if (int s = fp8k_check_gemm(p, call)) return s;
  fp8k_gemm q = *p;
  if (p->b_packed) {
    if (int s = fp8k_packed_check(b, kTag, p, call)) return s;
    // The plain B it holds: [N, K] with a scale per column.
    q.layout = fp8k_gemm_a_transposed(p) ? FP8K_GEMM_TT : FP8K_GEMM_NT;
    q.b_scales = FP8K_B_LINES;
    sb = reinterpret_cast<const float*>(b + scales_offset(p));
    b += codes_offset();
  }
  const fp8k_gemm_operands o{&q, a, b, sa, sb};
  for (size_t m = 0; m < q.m; m++)
    for (size_t n = 0; n < q.n; n++) store_f32(d, q.out_dtype, m * q.n + n, fp8k_gemm_element(o, c, m, n));
  return FP8K_OK;
}

}  // namespace fp8k::ref
