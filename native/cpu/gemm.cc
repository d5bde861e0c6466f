// SPEC §4 on the cpu backend. 'promoted': the AVX-512 tier (gemm_avx512.cc) where the SIMD level allows,
// else the portable one here. Both widen the operands to f32 through a 256-entry table (exact for every
// code, subnormals included), A by rows and B by panels of columns stored [k][column]; the layouts'
// transposes happen while widening, never as a pass of their own. Vector lanes run across columns, so
// each block sum runs over k in order, as ref's: every tier equals ref bit for bit, whatever the thread
// count. 'exact' and 'limited' run SPEC's element functions (native/common/gemm_modes.h), as ref does.
#include <vector>

#include "../common/gemm_modes.h"
#include "gemm_tiers.h"
#include "ops.h"
#include "simd.h"

namespace fp8k::cpu {

namespace {

constexpr size_t kPanel = 64;

// 'promoted' for columns [n0, n1): p over each block of 128 in f32, then acc ← acc + f32(p·s).
void promoted_columns(const fp8k_gemm_operands& o, const float* c, void* d, size_t n0, size_t n1) {
  const fp8k_gemm* p = o.p;
  const size_t K = p->k;
  const Widen wa(p->a_format), wb(p->b_format);
  std::vector<float> arow(K), panel(kPanel * K);
  float part[kPanel], acc[kPanel];
  for (size_t pn = n0; pn < n1; pn += kPanel) {
    const size_t width = pn + kPanel < n1 ? kPanel : n1 - pn;
    for (size_t j = 0; j < width; j++)
      for (size_t k = 0; k < K; k++) panel[k * kPanel + j] = wb.table[o.b[fp8k_gemm_b_index(p, pn + j, k)]];
    for (size_t m = 0; m < p->m; m++) {
      for (size_t k = 0; k < K; k++) arow[k] = wa.table[o.a[fp8k_gemm_a_index(p, m, k)]];
      for (size_t j = 0; j < width; j++) acc[j] = 0.0f;
      for (size_t k0 = 0, kb = 0; k0 < K; k0 += FP8K_GEMM_BLOCK, kb++) {
        const size_t k1 = k0 + FP8K_GEMM_BLOCK < K ? k0 + FP8K_GEMM_BLOCK : K;
        for (size_t j = 0; j < width; j++) part[j] = 0.0f;
        for (size_t k = k0; k < k1; k++) {
          const float x = arow[k];
          const float* row = &panel[k * kPanel];
          for (size_t j = 0; j < width; j++) part[j] += x * row[j];
        }
        for (size_t j = 0; j < width; j++) {
          const float ps = part[j] * o.scale(m, pn + j, kb);
          acc[j] = acc[j] + ps;
        }
      }
      for (size_t j = 0; j < width; j++) {
        const size_t i = m * p->n + pn + j;
        store_out(d, p->out_dtype, i, p->has_c ? acc[j] + c[i] : acc[j]);
      }
    }
  }
}

}  // namespace

int gemm(const uint8_t* a, const float* sa, const uint8_t* b, const float* sb, const float* c, void* d, const fp8k_gemm* p,
         fp8k_call* call) {
  if (int s = fp8k_check_gemm(p, call)) return s;
  const fp8k_gemm_operands o{p, a, b, sa, sb};
  if (p->accumulate == FP8K_ACC_PROMOTED && fp8k_cpu_simd_level() >= FP8K_SIMD_AVX512) {
    gemm_promoted_avx512(o, c, d);
    return FP8K_OK;
  }
  over_panels(p, kPanel, [&](size_t first, size_t last) {
    const size_t n0 = first * kPanel, n1 = last * kPanel < p->n ? last * kPanel : p->n;
    if (p->accumulate == FP8K_ACC_PROMOTED) return promoted_columns(o, c, d, n0, n1);
    for (size_t m = 0; m < p->m; m++)
      for (size_t n = n0; n < n1; n++) store_out(d, p->out_dtype, m * p->n + n, fp8k_gemm_element(o, c, m, n));
  });
  return FP8K_OK;
}

}  // namespace fp8k::cpu
