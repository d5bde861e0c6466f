// SPEC §4 'promoted' without vector intrinsics (scalar and avx2 levels): B a panel of 32 columns at a
// time widened to f32 [k][column], A a row at a time; p over each block of 128 in f32, then
// acc ← acc + f32(p·s). Each block sum runs over k in order, as ref's: equal to ref bit for bit.
#include <vector>

#include "tiers.h"

namespace fp8k::cpu {

void promoted_portable(const fp8k_gemm* p, const uint8_t* a, const float* sa, const PackedB& b, const float* c, void* d) {
  const size_t K = p->k;
  over_panels(p, kPanelCols, [&](size_t first, size_t last) {
    const Widen wa(p->a_format), wb(p->b_format);
    std::vector<float> arow(K), panel(kPanelCols * K);
    float part[kPanelCols], acc[kPanelCols];
    for (size_t pn = first; pn < last; pn++) {
      const size_t n0 = pn * kPanelCols, width = n0 + kPanelCols <= p->n ? kPanelCols : p->n - n0;
      for (size_t k = 0; k < K; k++)
        for (size_t j = 0; j < kPanelCols; j++) panel[k * kPanelCols + j] = wb.table[b.code(n0 + j, k)];
      for (size_t m = 0; m < p->m; m++) {
        for (size_t k = 0; k < K; k++) arow[k] = wa.table[a[fp8k_gemm_a_index(p, m, k)]];
        for (size_t j = 0; j < width; j++) acc[j] = 0.0f;
        for (size_t k0 = 0, kb = 0; k0 < K; k0 += FP8K_GEMM_BLOCK, kb++) {
          const size_t k1 = k0 + FP8K_GEMM_BLOCK < K ? k0 + FP8K_GEMM_BLOCK : K;
          for (size_t j = 0; j < width; j++) part[j] = 0.0f;
          for (size_t k = k0; k < k1; k++) {
            const float x = arow[k];
            const float* row = &panel[k * kPanelCols];
            for (size_t j = 0; j < width; j++) part[j] += x * row[j];
          }
          const float s_a = sa[fp8k_gemm_a_scale_index(p, m, kb)];
          const float* s_b = b.panel_scales(pn, kb);
          for (size_t j = 0; j < width; j++) {
            const float ps = part[j] * (s_a * s_b[j]);
            acc[j] = acc[j] + ps;
          }
        }
        for (size_t j = 0; j < width; j++) {
          const size_t i = m * p->n + n0 + j;
          store_out(d, p->out_dtype, i, p->has_c ? acc[j] + c[i] : acc[j]);
        }
      }
    }
  });
}

}  // namespace fp8k::cpu
