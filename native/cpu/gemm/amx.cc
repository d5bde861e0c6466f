// SPEC §4 'promoted' on AMX-BF16 tiles (Intel Sapphire Rapids and later), as DeepGEMM runs it on a
// GPU: the tiles accumulate one block of 128 in f32 (TDPBF16PS, four steps of 32), the block's partial
// sums go to memory, and AVX-512 promotes them: acc ← acc + f32(p·s). A 32 × 32 output tile is 2 × 2
// tiles of 16 × 16 (tmm0-3), from two A tiles (tmm4-5, 16 rows × 32 bf16) and two B tiles (tmm6-7,
// 16 k pairs × 16 columns, K in pairs as the packing already stores it).
// Blocking: a thread owns column panels; for up to 256 rows of A at a time it takes each panel in
// chunks of 512 of K, widening the chunk's fp8 codes to bf16 once (32 KiB, stays in L1/L2) for all
// the rows. A is packed per call into bf16 tiles [32-row tile][K step of 32][32 rows][32].
// Not run on this project's AMD machines: test/amx.test.ts runs this file against an emulation of
// the tile instructions (test/amx/emulate.h) to check the layouts; the first AMX machine checks the rest.
#include <immintrin.h>

#include <memory>

#include "../amx_tiles.h"
#include "bf16_widen.h"

#if FP8K_HAVE_AMX || defined(FP8K_AMX_EMULATE)

#ifdef FP8K_AMX_EMULATE
#include FP8K_AMX_EMULATE
#else
#define amx_loadconfig(cfg) _tile_loadconfig(cfg)
#define amx_release() _tile_release()
#define amx_zero(t) _tile_zero(t)
#define amx_load(t, base, stride) _tile_loadd(t, base, stride)
#define amx_store(t, base, stride) _tile_stored(t, base, stride)
#define amx_dp(c, a, b) _tile_dpbf16ps(c, a, b)
#endif

namespace fp8k::cpu {

namespace {

constexpr size_t kTile = 16, kRows = 32, kStepK = 32, kStepPairs = kStepK / 2;
constexpr size_t kChunkPairs = 256, kBlockRows = 256, kBlockPairs = FP8K_GEMM_BLOCK / 2;

// A as 32-row tiles: tile t holds rows 32t…32t+31 (zero past M), [steps][32 rows][32 bf16] (zero past
// K); its scales [kbs][32].
void pack_a(const fp8k_gemm* p, const uint8_t* a, const float* sa, const Bf16Tables& w, size_t steps, size_t kbs, uint16_t* ap, float* sp) {
  const size_t tiles = fp8k_cdiv(p->m, kRows);
  over_tasks(tiles, p->m * p->k, [&](size_t first, size_t last) {
    for (size_t t = first; t < last; t++) {
      uint16_t* at = ap + t * steps * kRows * kStepK;
      for (size_t r = 0; r < kRows; r++) {
        const size_t m = t * kRows + r;
        for (size_t k = 0; k < steps * kStepK; k++)
          at[(k / kStepK) * kRows * kStepK + r * kStepK + k % kStepK] = m < p->m && k < p->k ? w.full[a[fp8k_gemm_a_index(p, m, k)]] : 0;
        for (size_t kb = 0; kb < kbs; kb++) sp[(t * kbs + kb) * kRows + r] = m < p->m ? sa[fp8k_gemm_a_scale_index(p, m, kb)] : 0.0f;
      }
    }
  });
}

// Pairs [kp0, kp1) of panel pn as the B tiles take them: [pair][column half][16 columns × 2 bf16],
// zero up to a whole step.
FP8K_TARGET_AMX void widen_chunk(const Regs& t, const PackedB& b, size_t pn, size_t kp0, size_t kp1, uint16_t* out) {
  for (size_t kp = kp0; kp < kp1; kp++) {
    __m512bh b0, b1;
    widen_pair(t, b.pair(pn, kp), &b0, &b1);
    _mm512_store_si512(out + (kp - kp0) * 64, (__m512i)b0);
    _mm512_store_si512(out + (kp - kp0) * 64 + 32, (__m512i)b1);
  }
  for (size_t kp = kp1; (kp - kp0) % kStepPairs; kp++) {
    _mm512_store_si512(out + (kp - kp0) * 64, _mm512_setzero_si512());
    _mm512_store_si512(out + (kp - kp0) * 64 + 32, _mm512_setzero_si512());
  }
}

// One 32-row tile of A (at, its scales sat) × the chunk [kp0, kp1) of panel pn (widened in chunk):
// each block of 128 in the tiles, then promoted into acc [32][32].
FP8K_TARGET_AMX void tile_chunk(const uint16_t* at, const float* sat, const uint16_t* chunk, size_t kp0, size_t kp1, const PackedB& b, size_t pn,
                                float* acc) {
  alignas(64) float part[kRows * kPanelCols];
  for (size_t kb = kp0 / kBlockPairs; kb * kBlockPairs < kp1; kb++) {
    const size_t bp0 = kb * kBlockPairs, bp1 = bp0 + kBlockPairs < kp1 ? bp0 + kBlockPairs : kp1;
    amx_zero(0);
    amx_zero(1);
    amx_zero(2);
    amx_zero(3);
    for (size_t s = bp0 / kStepPairs; s * kStepPairs < bp1; s++) {
      const uint16_t* a0 = at + s * kRows * kStepK;
      const uint16_t* b0 = chunk + (s * kStepPairs - kp0) * 64;
      amx_load(4, a0, kStepK * 2);
      amx_load(5, a0 + kTile * kStepK, kStepK * 2);
      amx_load(6, b0, 128);
      amx_load(7, b0 + 32, 128);
      amx_dp(0, 4, 6);
      amx_dp(1, 4, 7);
      amx_dp(2, 5, 6);
      amx_dp(3, 5, 7);
    }
    amx_store(0, part, kPanelCols * 4);
    amx_store(1, part + kTile, kPanelCols * 4);
    amx_store(2, part + kTile * kPanelCols, kPanelCols * 4);
    amx_store(3, part + kTile * kPanelCols + kTile, kPanelCols * 4);
    const float* sb = b.panel_scales(pn, kb);
    const __m512 sb0 = _mm512_loadu_ps(sb), sb1 = _mm512_loadu_ps(sb + 16);
    for (size_t r = 0; r < kRows; r++) {
      const __m512 s = _mm512_set1_ps(sat[kb * kRows + r]);
      float* row = acc + r * kPanelCols;
      const float* pr = part + r * kPanelCols;
      _mm512_store_ps(row, _mm512_add_ps(_mm512_load_ps(row), _mm512_mul_ps(_mm512_load_ps(pr), _mm512_mul_ps(s, sb0))));
      _mm512_store_ps(row + 16, _mm512_add_ps(_mm512_load_ps(row + 16), _mm512_mul_ps(_mm512_load_ps(pr + 16), _mm512_mul_ps(s, sb1))));
    }
  }
}

FP8K_TARGET_AMX void panels(const fp8k_gemm* p, const uint16_t* ap, const float* sp, const PackedB& b, const Regs& t, size_t steps,
                            size_t first, size_t last, const float* c, void* d) {
  const TileConfig cfg = tiles_16x64();
  amx_loadconfig(&cfg);
  struct Free {
    void operator()(void* x) const { free(x); }
  };
  std::unique_ptr<uint16_t, Free> chunk(static_cast<uint16_t*>(aligned_alloc(64, (kChunkPairs + kStepPairs) * 128)));
  std::unique_ptr<float, Free> acc(static_cast<float*>(aligned_alloc(64, kBlockRows * kPanelCols * sizeof(float))));
  const size_t tiles = fp8k_cdiv(p->m, kRows), per_block = kBlockRows / kRows;
  for (size_t t0 = 0; t0 < tiles; t0 += per_block) {
    const size_t t1 = t0 + per_block < tiles ? t0 + per_block : tiles;
    for (size_t pn = first; pn < last; pn++) {
      for (size_t i = 0; i < (t1 - t0) * kRows * kPanelCols; i += 16) _mm512_store_ps(acc.get() + i, _mm512_setzero_ps());
      for (size_t kp0 = 0; kp0 < b.kpairs; kp0 += kChunkPairs) {
        const size_t kp1 = kp0 + kChunkPairs < b.kpairs ? kp0 + kChunkPairs : b.kpairs;
        widen_chunk(t, b, pn, kp0, kp1, chunk.get());
        for (size_t ti = t0; ti < t1; ti++)
          tile_chunk(ap + ti * steps * kRows * kStepK, sp + ti * b.kbs * kRows, chunk.get(), kp0, kp1, b, pn, acc.get() + (ti - t0) * kRows * kPanelCols);
      }
      for (size_t ti = t0; ti < t1; ti++) {
        const size_t m0 = ti * kRows;
        store_rows(p, acc.get() + (ti - t0) * kRows * kPanelCols, m0, m0 + kRows <= p->m ? kRows : p->m - m0, pn, c, d);
      }
    }
  }
  amx_release();
}

}  // namespace

void promoted_amx(const fp8k_gemm* p, const uint8_t* a, const float* sa, const PackedB& b, const float* c, void* d) {
  const Bf16Tables wa(p->a_format), wb(p->b_format);
  const size_t steps = fp8k_cdiv(p->k, kStepK), tiles = fp8k_cdiv(p->m, kRows);
  std::unique_ptr<uint16_t[]> ap(new uint16_t[tiles * steps * kRows * kStepK]);
  std::unique_ptr<float[]> sp(new float[tiles * b.kbs * kRows]);
  pack_a(p, a, sa, wa, steps, b.kbs, ap.get(), sp.get());
  const Regs t = regs(wb);
  over_panels(p, kPanelCols, [&](size_t first, size_t last) { panels(p, ap.get(), sp.get(), b, t, steps, first, last, c, d); });
}

}  // namespace fp8k::cpu

#endif  // FP8K_HAVE_AMX
