// SPEC §4 'promoted' on AVX-512F: a register-blocked micro-kernel, 6 rows × 32 columns. Each zmm lane
// is one output column, so every block sum runs over k in order, as ref's does, and a product of two
// fp8 values is exact in f32, so the FMA rounds like ref's multiply-then-add: the result equals ref's
// bit for bit. Operands are widened to f32 first: A a chunk of rows at a time, B one 32-column panel
// ([k][32], zero columns past N) per thread, with the panel's 32 scales of each K block beside it.
#include <immintrin.h>

#include <vector>

#include "../common/gemm_modes.h"
#include "gemm_tiers.h"
#include "simd.h"

namespace fp8k::cpu {

namespace {

constexpr size_t kRows = 6, kCols = 32, kChunk = 512;

struct Panel {
  std::vector<float> b;   // [K][32]
  std::vector<float> sb;  // [ceil(K/128)][32]
};

void pack_panel(const fp8k_gemm_operands& o, const Widen& wb, size_t n0, Panel* panel) {
  const fp8k_gemm* p = o.p;
  const size_t K = p->k, kbs = fp8k_cdiv(K, FP8K_GEMM_BLOCK);
  panel->b.assign(K * kCols, 0.0f);
  panel->sb.assign(kbs * kCols, 0.0f);
  const size_t width = n0 + kCols <= p->n ? kCols : p->n - n0;
  for (size_t j = 0; j < width; j++) {
    for (size_t k = 0; k < K; k++) panel->b[k * kCols + j] = wb.table[o.b[fp8k_gemm_b_index(p, n0 + j, k)]];
    for (size_t kb = 0; kb < kbs; kb++) panel->sb[kb * kCols + j] = o.sb[fp8k_gemm_b_scale_index(p, n0 + j, kb)];
  }
}

FP8K_TARGET_AVX512 void store_row(void* d, int dtype, size_t i, __m512 v0, __m512 v1, size_t width) {
  alignas(64) float row[kCols];
  _mm512_store_ps(row, v0);
  _mm512_store_ps(row + 16, v1);
  for (size_t j = 0; j < width; j++) store_out(d, dtype, i + j, row[j]);
}

// Rows [m0, m0 + R) × the panel's columns. a: the widened rows, K floats each, row m at a + (m - a0)·K.
template <size_t R>
FP8K_TARGET_AVX512 void micro(const fp8k_gemm_operands& o, const float* a, size_t a0, size_t m0, const Panel& panel, size_t n0,
                              const float* c, void* d) {
  const fp8k_gemm* p = o.p;
  const size_t K = p->k, width = n0 + kCols <= p->n ? kCols : p->n - n0;
  __m512 acc[R][2];
  for (size_t r = 0; r < R; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (size_t k0 = 0, kb = 0; k0 < K; k0 += FP8K_GEMM_BLOCK, kb++) {
    const size_t k1 = k0 + FP8K_GEMM_BLOCK < K ? k0 + FP8K_GEMM_BLOCK : K;
    __m512 part[R][2];
    for (size_t r = 0; r < R; r++) part[r][0] = part[r][1] = _mm512_setzero_ps();
    const float* bp = panel.b.data() + k0 * kCols;
    for (size_t k = k0; k < k1; k++, bp += kCols) {
      const __m512 b0 = _mm512_loadu_ps(bp), b1 = _mm512_loadu_ps(bp + 16);
      for (size_t r = 0; r < R; r++) {
        const __m512 x = _mm512_set1_ps(a[(m0 + r - a0) * K + k]);
        part[r][0] = _mm512_fmadd_ps(x, b0, part[r][0]);
        part[r][1] = _mm512_fmadd_ps(x, b1, part[r][1]);
      }
    }
    const __m512 sb0 = _mm512_loadu_ps(panel.sb.data() + kb * kCols), sb1 = _mm512_loadu_ps(panel.sb.data() + kb * kCols + 16);
    for (size_t r = 0; r < R; r++) {
      const __m512 sa = _mm512_set1_ps(o.sa[fp8k_gemm_a_scale_index(p, m0 + r, kb)]);
      acc[r][0] = _mm512_add_ps(acc[r][0], _mm512_mul_ps(part[r][0], _mm512_mul_ps(sa, sb0)));
      acc[r][1] = _mm512_add_ps(acc[r][1], _mm512_mul_ps(part[r][1], _mm512_mul_ps(sa, sb1)));
    }
  }
  for (size_t r = 0; r < R; r++) {
    const size_t i = (m0 + r) * p->n + n0;
    if (p->has_c) {
      const __mmask16 m0k = (__mmask16)(width >= 16 ? 0xFFFF : (1u << width) - 1);
      const __mmask16 m1k = (__mmask16)(width <= 16 ? 0 : width >= 32 ? 0xFFFF : (1u << (width - 16)) - 1);
      acc[r][0] = _mm512_add_ps(acc[r][0], _mm512_maskz_loadu_ps(m0k, c + i));
      acc[r][1] = _mm512_add_ps(acc[r][1], _mm512_maskz_loadu_ps(m1k, c + i + 16));
    }
    store_row(d, p->out_dtype, i, acc[r][0], acc[r][1], width);
  }
}

using Micro = void (*)(const fp8k_gemm_operands&, const float*, size_t, size_t, const Panel&, size_t, const float*, void*);
constexpr Micro kMicro[kRows + 1] = {nullptr, micro<1>, micro<2>, micro<3>, micro<4>, micro<5>, micro<6>};

}  // namespace

void gemm_promoted_avx512(const fp8k_gemm_operands& o, const float* c, void* d) {
  const fp8k_gemm* p = o.p;
  const size_t K = p->k;
  const Widen wa(p->a_format), wb(p->b_format);
  std::vector<float> a;
  for (size_t c0 = 0; c0 < p->m; c0 += kChunk) {
    const size_t c1 = c0 + kChunk < p->m ? c0 + kChunk : p->m;
    a.resize((c1 - c0) * K);
    for (size_t m = c0; m < c1; m++)
      for (size_t k = 0; k < K; k++) a[(m - c0) * K + k] = wa.table[o.a[fp8k_gemm_a_index(p, m, k)]];
    over_panels(p, kCols, [&](size_t first, size_t last) {
      Panel panel;
      for (size_t pn = first; pn < last; pn++) {
        pack_panel(o, wb, pn * kCols, &panel);
        for (size_t m = c0; m < c1; m += kRows) kMicro[m + kRows <= c1 ? kRows : c1 - m](o, a.data(), c0, m, panel, pn * kCols, c, d);
      }
    });
  }
}

}  // namespace fp8k::cpu
