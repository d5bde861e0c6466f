// SPEC §4 'promoted' on AVX-512F with f32 FMA: a register-blocked micro-kernel, 6 rows × 32 columns.
// Each zmm lane is one output column, so every block sum runs over k in order, as ref's does, and a
// product of two fp8 values is exact in f32, so the FMA rounds like ref's multiply-then-add: the result
// equals ref's bit for bit. Operands are widened to f32 first: A a chunk of rows at a time, B one
// packed 32-column panel ([k][32]) per thread, whose 32 scales of each K block the packing holds.
#include <immintrin.h>

#include <vector>

#include "../simd.h"
#include "tiers.h"

namespace fp8k::cpu {

namespace {

constexpr size_t kRows = 6, kCols = kPanelCols, kChunk = 512;

struct Operands {
  const fp8k_gemm* p;
  const float* sa;
  const PackedB& b;
};

// Panel pn widened to f32, [K][32].
void widen_panel(const PackedB& b, const Widen& wb, size_t pn, std::vector<float>* panel) {
  panel->resize(b.k * kCols);
  for (size_t kp = 0; kp < b.kpairs; kp++) {
    const uint8_t* pair = b.pair(pn, kp);
    for (size_t e = 0; e < kPairBytes; e++)
      if (2 * kp + e % 2 < b.k) (*panel)[(2 * kp + e % 2) * kCols + e / 2] = wb.table[pair[pair_byte(e)]];
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
FP8K_TARGET_AVX512 void micro(const Operands& o, const float* a, size_t a0, size_t m0, const float* panel, size_t pn, const float* c,
                              void* d) {
  const fp8k_gemm* p = o.p;
  const size_t n0 = pn * kCols;
  const size_t K = p->k, width = n0 + kCols <= p->n ? kCols : p->n - n0;
  __m512 acc[R][2];
  for (size_t r = 0; r < R; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (size_t k0 = 0, kb = 0; k0 < K; k0 += FP8K_GEMM_BLOCK, kb++) {
    const size_t k1 = k0 + FP8K_GEMM_BLOCK < K ? k0 + FP8K_GEMM_BLOCK : K;
    __m512 part[R][2];
    for (size_t r = 0; r < R; r++) part[r][0] = part[r][1] = _mm512_setzero_ps();
    const float* bp = panel + k0 * kCols;
    for (size_t k = k0; k < k1; k++, bp += kCols) {
      const __m512 b0 = _mm512_loadu_ps(bp), b1 = _mm512_loadu_ps(bp + 16);
      for (size_t r = 0; r < R; r++) {
        const __m512 x = _mm512_set1_ps(a[(m0 + r - a0) * K + k]);
        part[r][0] = _mm512_fmadd_ps(x, b0, part[r][0]);
        part[r][1] = _mm512_fmadd_ps(x, b1, part[r][1]);
      }
    }
    const float* sb = o.b.panel_scales(pn, kb);
    const __m512 sb0 = _mm512_loadu_ps(sb), sb1 = _mm512_loadu_ps(sb + 16);
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

using Micro = void (*)(const Operands&, const float*, size_t, size_t, const float*, size_t, const float*, void*);
constexpr Micro kMicro[kRows + 1] = {nullptr, micro<1>, micro<2>, micro<3>, micro<4>, micro<5>, micro<6>};

}  // namespace

void promoted_fma(const fp8k_gemm* p, const uint8_t* a8, const float* sa, const PackedB& b, const float* c, void* d) {
  const Operands o{p, sa, b};
  const size_t K = p->k;
  const Widen wa(p->a_format), wb(p->b_format);
  std::vector<float> a;
  for (size_t c0 = 0; c0 < p->m; c0 += kChunk) {
    const size_t c1 = c0 + kChunk < p->m ? c0 + kChunk : p->m;
    a.resize((c1 - c0) * K);
    for (size_t m = c0; m < c1; m++)
      for (size_t k = 0; k < K; k++) a[(m - c0) * K + k] = wa.table[a8[fp8k_gemm_a_index(p, m, k)]];
    over_panels(p, kCols, [&](size_t first, size_t last) {
      std::vector<float> panel;
      for (size_t pn = first; pn < last; pn++) {
        widen_panel(b, wb, pn, &panel);
        for (size_t m = c0; m < c1; m += kRows) kMicro[m + kRows <= c1 ? kRows : c1 - m](o, a.data(), c0, m, panel.data(), pn, c, d);
      }
    });
  }
}

}  // namespace fp8k::cpu
