// SPEC §4 'promoted' with vdpbf16ps (AVX512_BF16): fp8 values are exact in bf16, so each k pair adds
// f32(p + a·b odd) + a·b even — two f32 roundings, the order vdpbf16ps takes (checked bit for bit
// against a restatement in test/gemm.test.ts) — and each block of 128 is promoted as
// acc ← acc + f32(p·s). The micro-kernel reads the packed fp8 B straight from memory and widens it in
// registers (two 128-entry byte tables through vpermi2b, the sign or'ed back, bytes interleaved), so a
// decode GEMM reads one byte per weight; A is packed per call into bf16 pairs, tiles of 8 rows.
// Every row and thread count takes the same sums: the bits depend on the inputs only.
#include <immintrin.h>

#include <memory>

// GCC 12 warns of the undefined vectors inside the inlined bf16 rounding (a known false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "../bf16_avx512.h"
#include "../simd.h"
#include "tiers.h"

namespace fp8k::cpu {

namespace {

constexpr size_t kRows = 8;
// Rows of A kept hot while the panels pass over them: about 256 KiB of packed A.
constexpr size_t kABlockBytes = 256 * 1024;

// The bf16 bits of every code: full for A (scalar packing), the low and high bytes of codes 0…127 for B.
struct Bf16Tables {
  uint16_t full[256];
  alignas(64) uint8_t lo[128], hi[128];
  explicit Bf16Tables(int format) {
    for (int c = 0; c < 256; c++) full[c] = (uint16_t)(fp8k_f32_bits(fp8k_to_f32((uint8_t)c, format)) >> 16);  // exact
    for (int c = 0; c < 128; c++) {
      lo[c] = (uint8_t)full[c];
      hi[c] = (uint8_t)(full[c] >> 8);
    }
  }
};

struct Regs {
  __m512i lo0, lo1, hi0, hi1, sign;
};

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
      const __m512i codes = _mm512_loadu_si512(bp);
      const __m512i lo = _mm512_permutex2var_epi8(t.lo0, codes, t.lo1);
      const __m512i hi = _mm512_ternarylogic_epi32(_mm512_permutex2var_epi8(t.hi0, codes, t.hi1), codes, t.sign, 0xF8);  // hi | (codes & 0x80)
      const __m512bh b0 = (__m512bh)_mm512_unpacklo_epi8(lo, hi), b1 = (__m512bh)_mm512_unpackhi_epi8(lo, hi);
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

// Rows [m0, m0 + rows) × panel pn of the output from acc, C added.
FP8K_TARGET_AVX512_BF16 void store_rows(const fp8k_gemm* p, const float* acc, size_t m0, size_t rows, size_t pn, const float* c, void* d) {
  const size_t n0 = pn * kPanelCols, width = n0 + kPanelCols <= p->n ? kPanelCols : p->n - n0;
  for (size_t r = 0; r < rows; r++)
    for (size_t h = 0; h < kPanelCols && h < width; h += 16) {
      const __mmask16 mask = (__mmask16)(width - h >= 16 ? 0xFFFF : (1u << (width - h)) - 1);
      const size_t i = (m0 + r) * p->n + n0 + h;
      __m512 v = _mm512_load_ps(acc + r * kPanelCols + h);
      if (p->has_c) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, c + i));
      if (p->out_dtype == FP8K_BF16)
        _mm256_mask_storeu_epi16(static_cast<uint16_t*>(d) + i, mask, _mm512_cvtepi32_epi16(bf16_round_avx512(_mm512_castps_si512(v))));
      else
        _mm512_mask_storeu_ps(static_cast<float*>(d) + i, mask, v);
    }
}

// A as tiles of 8 rows (the last one shorter): tile t at row t·8, [kpairs][rows] bf16 pairs, and its
// scales [kbs][rows].
void pack_a(const fp8k_gemm* p, const uint8_t* a, const float* sa, const Bf16Tables& w, size_t kpairs, size_t kbs, uint32_t* ap,
            float* sp) {
  const size_t tiles = fp8k_cdiv(p->m, kRows);
  auto run = [&](size_t first, size_t last) {
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
  };
  if (p->m * p->k >= FP8K_PARALLEL_MIN)
    fp8k_parallel_tasks(tiles, run);
  else
    run(0, tiles);
}

FP8K_TARGET_AVX512_BF16 Regs regs(const Bf16Tables& w) {
  return {_mm512_load_si512(w.lo), _mm512_load_si512(w.lo + 64), _mm512_load_si512(w.hi), _mm512_load_si512(w.hi + 64), _mm512_set1_epi8((char)0x80)};
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
