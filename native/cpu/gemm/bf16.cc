// SPEC §4 'promoted' with vdpbf16ps (AVX512_BF16): fp8 values are exact in bf16, so each k pair adds
// f32(p + a·b odd) + a·b even — two f32 roundings, the order Intel documents for vdpbf16ps and Zen 4
// follows (checked bit for bit against a restatement in test/gemm.test.ts) — and each block of 128 is promoted as
// acc ← acc + f32(p·s). The micro-kernel reads the packed fp8 B straight from memory and widens it in
// registers (two 128-entry byte tables through vpermi2b, the sign or'ed back, bytes interleaved), so a
// decode GEMM reads one byte per weight; A is packed per call into bf16 pairs, tiles of 8 rows.
// Every row and thread count takes the same sums: the bits depend on the inputs only.
#include <immintrin.h>

#include <memory>

#include "bf16_widen.h"

namespace fp8k::cpu {

namespace {

constexpr size_t kRows = 8;
// How far ahead of the micro-kernel B is fetched: decode GEMMs stream B from memory once.
constexpr size_t kPrefetch = 4096;
// Rows of A kept hot while the panels pass over them: about 256 KiB of packed A.
constexpr size_t kABlockBytes = 256 * 1024;

// Rows [0, R) of a tile (a: [kpairs][R] bf16 pairs, sa: [kbs][R]) × panel pn, promoted into acc [R][32].
template <size_t R>
FP8K_TARGET_AVX512_BF16 void micro(const Regs& t, const uint32_t* a, const float* sa, const PackedB& b, size_t pn, float* acc) {
  for (size_t i = 0; i < R * kPanelCols; i += 16) _mm512_store_ps(acc + i, _mm512_setzero_ps());
  for (size_t kb = 0; kb < b.kbs; kb++) {
    const size_t kp0 = kb * (FP8K_GEMM_BLOCK / 2), kp1 = kp0 + FP8K_GEMM_BLOCK / 2 < b.kpairs ? kp0 + FP8K_GEMM_BLOCK / 2 : b.kpairs;
    __m512 part[R][2];
    for (size_t r = 0; r < R; r++) part[r][0] = part[r][1] = _mm512_setzero_ps();
    const uint8_t* bp = b.pair(pn, kp0);
    const uint32_t* ap = a + kp0 * R;
    for (size_t kp = kp0; kp < kp1; kp++, bp += kPairBytes, ap += R) {
      _mm_prefetch(reinterpret_cast<const char*>(bp) + kPrefetch, _MM_HINT_T0);
      __m512bh b0, b1;
      widen_pair(t, bp, &b0, &b1);
      for (size_t r = 0; r < R; r++) {
        const __m512bh x = (__m512bh)_mm512_set1_epi32((int)ap[r]);
        part[r][0] = _mm512_dpbf16_ps(part[r][0], x, b0);
        part[r][1] = _mm512_dpbf16_ps(part[r][1], x, b1);
      }
    }
    const float* sb = b.panel_scales(pn, kb);
    const __m512 sb0 = _mm512_loadu_ps(sb), sb1 = _mm512_loadu_ps(sb + 16);
    for (size_t r = 0; r < R; r++) {
      const __m512 s = _mm512_set1_ps(sa[kb * R + r]);
      float* row = acc + r * kPanelCols;
      _mm512_store_ps(row, _mm512_add_ps(_mm512_load_ps(row), _mm512_mul_ps(part[r][0], _mm512_mul_ps(s, sb0))));
      _mm512_store_ps(row + 16, _mm512_add_ps(_mm512_load_ps(row + 16), _mm512_mul_ps(part[r][1], _mm512_mul_ps(s, sb1))));
    }
  }
}

using Micro = void (*)(const Regs&, const uint32_t*, const float*, const PackedB&, size_t, float*);
constexpr Micro kMicro[kRows + 1] = {nullptr, micro<1>, micro<2>, micro<3>, micro<4>, micro<5>, micro<6>, micro<7>, micro<8>};


// A as tiles of 8 rows (the last one shorter): tile t at row t·8, [kpairs][rows] bf16 pairs, and its
// scales [kbs][rows].
void pack_a(const fp8k_gemm* p, const uint8_t* a, const float* sa, const Bf16Tables& w, size_t kpairs, size_t kbs, uint32_t* ap,
            float* sp) {
  const size_t tiles = fp8k_cdiv(p->m, kRows);
  over_tasks(tiles, p->m * p->k, [&](size_t first, size_t last) {
    for (size_t t = first; t < last; t++) {
      const size_t m0 = t * kRows, rows = m0 + kRows <= p->m ? kRows : p->m - m0;
      uint32_t* at = ap + m0 * kpairs;
      for (size_t r = 0; r < rows; r++) {
        for (size_t kp = 0; kp < kpairs; kp++) {
          const size_t k = 2 * kp;
          const uint32_t even = w.full[a[fp8k_gemm_a_index(p, m0 + r, k)]];
          const uint32_t odd = k + 1 < p->k ? w.full[a[fp8k_gemm_a_index(p, m0 + r, k + 1)]] : 0;
          at[kp * rows + r] = even | odd << 16;
        }
        for (size_t kb = 0; kb < kbs; kb++) sp[m0 * kbs + kb * rows + r] = sa[fp8k_gemm_a_scale_index(p, m0 + r, kb)];
      }
    }
  });
}


}  // namespace

void promoted_bf16(const fp8k_gemm* p, const uint8_t* a, const float* sa, const PackedB& b, const float* c, void* d) {
  const Bf16Tables wa(p->a_format), wb(p->b_format);
  const size_t tiles = fp8k_cdiv(p->m, kRows);
  std::unique_ptr<uint32_t[]> ap(new uint32_t[p->m * b.kpairs]);
  std::unique_ptr<float[]> sp(new float[p->m * b.kbs]);
  pack_a(p, a, sa, wa, b.kpairs, b.kbs, ap.get(), sp.get());
  const size_t block = kABlockBytes / (kRows * b.kpairs * 4) ? kABlockBytes / (kRows * b.kpairs * 4) : 1;
  const Regs t = regs(wb);
  over_panels(p, kPanelCols, [&](size_t first, size_t last) {
    alignas(64) float acc[kRows * kPanelCols];
    for (size_t t0 = 0; t0 < tiles; t0 += block)
      for (size_t pn = first; pn < last; pn++)
        for (size_t ti = t0; ti < t0 + block && ti < tiles; ti++) {
          const size_t m0 = ti * kRows, rows = m0 + kRows <= p->m ? kRows : p->m - m0;
          kMicro[rows](t, ap.get() + m0 * b.kpairs, sp.get() + m0 * b.kbs, b, pn, acc);
          store_rows(p, acc, m0, rows, pn, c, d);
        }
  });
}

}  // namespace fp8k::cpu
