// SPEC §4 'promoted' with vdpbf16ps (AVX512_BF16): fp8 values are exact in bf16, so each k pair adds
// f32(p + a·b odd) + a·b even — two f32 roundings, the order Intel documents for vdpbf16ps and Zen 4
// follows (checked bit for bit against a restatement in test/gemm.test.ts) — and each block of 128 is promoted as
// acc ← acc + f32(p·s). The micro-kernel reads the packed fp8 B straight from memory and widens it in
// registers (two 128-entry byte tables through vpermi2b, the sign or'ed back, bytes interleaved), so a
// decode GEMM reads one byte per weight; A is widened per call into bf16 rows (widen_a.cc).
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

// Rows [0, R) of a tile (a: R rows of bf16 pairs, `stride` pairs apart; sa: [kbs][R]) × panel pn,
// promoted into acc [R][32].
template <size_t R>
FP8K_TARGET_AVX512_BF16 void micro(const Regs& t, const uint32_t* a, size_t stride, const float* sa, const PackedB& b, size_t pn, float* acc) {
  for (size_t i = 0; i < R * kPanelCols; i += 16) _mm512_store_ps(acc + i, _mm512_setzero_ps());
  for (size_t kb = 0; kb < b.kbs; kb++) {
    const size_t kp0 = kb * (FP8K_GEMM_BLOCK / 2), kp1 = kp0 + FP8K_GEMM_BLOCK / 2 < b.kpairs ? kp0 + FP8K_GEMM_BLOCK / 2 : b.kpairs;
    __m512 part[R][2];
    for (size_t r = 0; r < R; r++) part[r][0] = part[r][1] = _mm512_setzero_ps();
    const uint8_t* bp = b.pair(pn, kp0);
    const uint32_t* ap = a + kp0;
    for (size_t kp = kp0; kp < kp1; kp++, bp += kPairBytes, ap++) {
      _mm_prefetch(reinterpret_cast<const char*>(bp) + kPrefetch, _MM_HINT_T0);
      __m512bh b0, b1;
      widen_pair(t, bp, &b0, &b1);
      for (size_t r = 0; r < R; r++) {
        const __m512bh x = (__m512bh)_mm512_set1_epi32((int)ap[r * stride]);
        part[r][0] = _mm512_dpbf16_ps(part[r][0], x, b0);
        part[r][1] = _mm512_dpbf16_ps(part[r][1], x, b1);
      }
    }
    const float* sb = b.panel_scales(pn, kb);
    const __m512 sb0 = _mm512_loadu_ps(sb), sb1 = _mm512_loadu_ps(sb + 16);
    for (size_t r = 0; r < R; r++) promote_row(acc + r * kPanelCols, part[r][0], part[r][1], sa[kb * R + r], sb0, sb1);
  }
}

using Micro = void (*)(const Regs&, const uint32_t*, size_t, const float*, const PackedB&, size_t, float*);
constexpr Micro kMicro[kRows + 1] = {nullptr, micro<1>, micro<2>, micro<3>, micro<4>, micro<5>, micro<6>, micro<7>, micro<8>};


// A's scales as tiles of 8 rows (the last one shorter): tile t's at t·8·kbs, [kbs][rows].
void pack_scales(const fp8k_gemm* p, const float* sa, size_t kbs, float* sp) {
  for (size_t m0 = 0; m0 < p->m; m0 += kRows) {
    const size_t rows = m0 + kRows <= p->m ? kRows : p->m - m0;
    for (size_t r = 0; r < rows; r++)
      for (size_t kb = 0; kb < kbs; kb++) sp[m0 * kbs + kb * rows + r] = sa[fp8k_gemm_a_scale_index(p, m0 + r, kb)];
  }
}

}  // namespace

void promoted_bf16(const fp8k_gemm* p, const uint8_t* a, const float* sa, const PackedB& b, const float* c, void* d) {
  const Bf16Tables wa(p->a_format), wb(p->b_format);
  const size_t tiles = fp8k_cdiv(p->m, kRows);
  // A row: its pairs, then 64 bytes, so that the 8 rows a micro-kernel reads fall in different L1 sets.
  const size_t stride = b.kpairs + 16;
  std::unique_ptr<uint32_t[]> ap(new uint32_t[p->m * stride]);
  std::unique_ptr<float[]> sp(new float[p->m * b.kbs]);
  over_tasks(tiles, p->m * p->k, [&](size_t first, size_t last) {
    const size_t m0 = first * kRows, m1 = last * kRows < p->m ? last * kRows : p->m;
    widen_a(p, a, sa, wa, m0, m1 - m0, 0, p->k, 2 * b.kpairs, false, reinterpret_cast<uint16_t*>(ap.get() + m0 * stride), 2 * stride);
  });
  pack_scales(p, sa, b.kbs, sp.get());
  const size_t block = kABlockBytes / (kRows * stride * 4) ? kABlockBytes / (kRows * stride * 4) : 1;
  const Regs t = regs(wb);
  over_panels(p, kPanelCols, [&](size_t first, size_t last) {
    alignas(64) float acc[kRows * kPanelCols];
    for (size_t t0 = 0; t0 < tiles; t0 += block)
      for (size_t pn = first; pn < last; pn++)
        for (size_t ti = t0; ti < t0 + block && ti < tiles; ti++) {
          const size_t m0 = ti * kRows, rows = m0 + kRows <= p->m ? kRows : p->m - m0;
          kMicro[rows](t, ap.get() + m0 * stride, stride, sp.get() + m0 * b.kbs, b, pn, acc);
          store_rows(p, acc, m0, rows, pn, c, d);
        }
  });
}

}  // namespace fp8k::cpu
