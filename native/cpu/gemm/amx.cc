// SPEC §4 'promoted' on AMX-BF16 tiles (Intel Sapphire Rapids and later), as DeepGEMM runs it on a
// GPU: the tiles accumulate one block of 128 in f32 (TDPBF16PS, four steps of 32), the block's partial
// sums go to memory, and AVX-512 promotes them, acc ← acc + p·(sA·sB), while the tiles already work on
// the next block (two partial-sum buffers, a quarter of the rows promoted after each step). A 32 × 32
// output tile is 2 × 2 tiles of 16 × 16 (tmm0-3), from two A tiles (tmm4-5, 16 rows × 32 bf16) and two
// B tiles (tmm6-7, 16 k pairs × 16 columns).
// Where every scale of A and B is a power of two (scaleFormat 'ue8m0', or weights that happen to have
// such scales), the scales are folded into the widened operands (exact: a power of two times a bf16),
// and the tiles sum all of K with no promotion: acc is loaded into them and stored back once a K chunk,
// which keeps its bits. That is another order of f32 additions than the per-block one, each term exact.
// TDPBF16PS itself does not round after every product (1 + two products of 2^-24 gives 1 + 2^-23), so
// neither form follows a simple f32 order; both are deterministic and within SPEC's bar.
// Blocking (from the Intel machine's figures, DESIGN.md and the review): K in chunks of 256,
// so a B slice (16 KiB) and an A tile (16 KiB) sit in the 48 KiB L1; A's rows of a block, widened once
// per chunk into the thread's buffer (512 rows × 256 bf16 = 288 KiB with the row padding), and the
// block's f32 sums over 8 panels (512 rows × 256 columns = 512 KiB) stay in the 2 MiB L2. Per K the
// block reads 512 bytes of A (fp8) and 512 of B (bf16) for 512 × 256 × 2 FLOP, 4 bytes a cycle at the
// tile peak of 1024 FLOP a cycle, within a core's share of memory. Blocks of (rows, panel group) go to
// the threads from one counter, so a core the host slows takes fewer.
// B comes widened from packWeights where the packing has its bf16 form (AMX machines) and M is at least
// 128; below that the GEMM is bound by B's bytes, and widening each 256-pair slice from fp8 (half the
// bytes) once per row block is cheaper than reading bf16.
// Not run on this project's AMD machines: test/amx.test.ts runs this file against an emulation of the
// tile instructions (test/amx/emulate.h); the self-check in driver.cc runs it on the first AMX machine.
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

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

constexpr size_t kTile = 16, kRows = 32, kBlockSteps = FP8K_GEMM_BLOCK / kStepK;
constexpr size_t kChunkK = 256, kChunkPairs = kChunkK / 2;
// A row in the thread's buffer: the chunk plus 64 bytes, so a tile's 16 rows fall in different L1 sets.
constexpr size_t kPitch = kChunkK + 32;
constexpr size_t kBlockRows = 512, kGroupPanels = 8;
constexpr size_t kBf16MinRows = 128;

// What one call decided: whether the scales are folded (A's into A, B's into B), where B's tiles come from.
struct Plan {
  const fp8k_gemm* p;
  const uint8_t* a;
  const float* sa;
  const PackedB& b;
  const float* c;
  void* d;
  const Bf16Tables& wa;
  const Regs& tb;
  bool b_fold, fold, b_tiles;
  size_t block_rows, groups, rows_cfg;
};

// A thread's buffers, kept for its next call (about 830 KiB at most).
struct Scratch {
  uint16_t* a = nullptr;      // [block_rows][kPitch]
  float* acc = nullptr;       // [panel of the group][block_rows][32]
  uint16_t* slice = nullptr;  // [kChunkPairs][64]
  float* part = nullptr;      // [2][32][32]
  Scratch() {
    a = static_cast<uint16_t*>(aligned_alloc(64, kBlockRows * kPitch * 2));
    acc = static_cast<float*>(aligned_alloc(64, kGroupPanels * kBlockRows * kPanelCols * 4));
    slice = static_cast<uint16_t*>(aligned_alloc(64, kChunkPairs * 128));
    part = static_cast<float*>(aligned_alloc(64, 2 * kRows * kPanelCols * 4));
  }
  ~Scratch() { free(a), free(acc), free(slice), free(part); }
};

// A block's partial sums waiting in memory for their promotion into acc.
struct Pending {
  const float* part = nullptr;
  float* acc = nullptr;
  size_t rows = 0, done = 0;
  float sa[kRows];
  alignas(64) float sb[kPanelCols];
};

FP8K_TARGET_AMX void promote(Pending& q, size_t upto) {
  if (!q.part) return;
  const __m512 sb0 = _mm512_load_ps(q.sb), sb1 = _mm512_load_ps(q.sb + 16);
  const size_t end = upto < q.rows ? upto : q.rows;
  for (; q.done < end; q.done++) {
    const float* pr = q.part + q.done * kPanelCols;
    promote_row(q.acc + q.done * kPanelCols, _mm512_load_ps(pr), _mm512_load_ps(pr + 16), q.sa[q.done], sb0, sb1);
  }
  if (q.done == q.rows) q.part = nullptr;
}

// Step j (32 of K) of a 32-row A tile (at) × a B slice (bs) into tmm0-1, and tmm2-3 when the tile has
// more than 16 rows.
FP8K_TARGET_AMX inline void step(const uint16_t* at, const uint16_t* bs, size_t j, bool two) {
  amx_load(4, at + j * kStepK, kPitch * 2);
  amx_load(6, bs + j * kStepPairs * 64, 128);
  amx_load(7, bs + j * kStepPairs * 64 + 32, 128);
  amx_dp(0, 4, 6);
  amx_dp(1, 4, 7);
  if (two) {
    amx_load(5, at + kTile * kPitch + j * kStepK, kPitch * 2);
    amx_dp(2, 5, 6);
    amx_dp(3, 5, 7);
  }
}

// One 32-row tile of A (at, rows valid) × a chunk of `steps` steps of B (bs) into the acc tile, the
// partial sums of each block promoted while the next block runs.
FP8K_TARGET_AMX void chunk_promoted(const Plan& pl, const uint16_t* at, const uint16_t* bs, size_t steps, size_t kb0, size_t m0, size_t rows,
                                    size_t pn, float* acc, float* parts, int& cur, Pending& q) {
  const bool two = rows > kTile;
  for (size_t s = 0, kb = kb0; s < steps; s += kBlockSteps, kb++) {
    const size_t e = s + kBlockSteps < steps ? s + kBlockSteps : steps;
    amx_zero(0);
    amx_zero(1);
    if (two) {
      amx_zero(2);
      amx_zero(3);
    }
    for (size_t j = s; j < e; j++) {
      step(at, bs, j, two);
      promote(q, (j - s + 1) * (kRows / kBlockSteps));
    }
    promote(q, kRows);
    float* part = parts + cur * kRows * kPanelCols;
    amx_store(0, part, kPanelCols * 4);
    amx_store(1, part + kTile, kPanelCols * 4);
    if (two) {
      amx_store(2, part + kTile * kPanelCols, kPanelCols * 4);
      amx_store(3, part + kTile * kPanelCols + kTile, kPanelCols * 4);
    }
    q.part = part, q.acc = acc, q.rows = rows, q.done = 0;
    for (size_t r = 0; r < kRows; r++) q.sa[r] = r < rows ? pl.sa[fp8k_gemm_a_scale_index(pl.p, m0 + r, kb)] : 0.0f;
    const float* sb = pl.b.panel_scales(pn, kb);
    for (size_t j = 0; j < kPanelCols; j++) q.sb[j] = pl.b_fold ? 1.0f : sb[j];
    cur ^= 1;
  }
}

// The same with the scales folded in: the tiles continue acc's sums over the chunk.
FP8K_TARGET_AMX void chunk_folded(const uint16_t* at, const uint16_t* bs, size_t steps, size_t rows, float* acc) {
  const bool two = rows > kTile;
  amx_load(0, acc, kPanelCols * 4);
  amx_load(1, acc + kTile, kPanelCols * 4);
  if (two) {
    amx_load(2, acc + kTile * kPanelCols, kPanelCols * 4);
    amx_load(3, acc + kTile * kPanelCols + kTile, kPanelCols * 4);
  }
  for (size_t j = 0; j < steps; j++) step(at, bs, j, two);
  amx_store(0, acc, kPanelCols * 4);
  amx_store(1, acc + kTile, kPanelCols * 4);
  if (two) {
    amx_store(2, acc + kTile * kPanelCols, kPanelCols * 4);
    amx_store(3, acc + kTile * kPanelCols + kTile, kPanelCols * 4);
  }
}

// Rows [rb · block_rows, +block_rows) × panels [g · 8, +8) of the output.
FP8K_TARGET_AMX void block(const Plan& pl, Scratch& s, size_t rb, size_t g) {
  const fp8k_gemm* p = pl.p;
  const size_t m0 = rb * pl.block_rows, rows = m0 + pl.block_rows <= p->m ? pl.block_rows : p->m - m0, tiles = fp8k_cdiv(rows, kRows);
  const size_t pn0 = g * kGroupPanels, pn1 = pn0 + kGroupPanels < pl.b.panels ? pn0 + kGroupPanels : pl.b.panels;
  const size_t panel_floats = tiles * kRows * kPanelCols;
  for (size_t i = 0; i < (pn1 - pn0) * panel_floats; i += 16) _mm512_store_ps(s.acc + i, _mm512_setzero_ps());
  Pending q;
  int cur = 0;
  for (size_t k0 = 0; k0 < p->k; k0 += kChunkK) {
    const size_t k1 = k0 + kChunkK < p->k ? k0 + kChunkK : p->k, steps = fp8k_cdiv(k1 - k0, kStepK);
    widen_a(p, pl.a, pl.sa, pl.wa, m0, tiles * kRows, k0, k1, steps * kStepK, pl.fold, s.a, kPitch);
    for (size_t pn = pn0; pn < pn1; pn++) {
      const uint16_t* bs = s.slice;
      if (pl.b_tiles)
        bs = pl.b.bf16_step(pn, k0 / kStepK);
      else
        widen_b(pl.tb, pl.b, pn, k0 / 2, fp8k_cdiv(k1, 2), pl.b_fold, s.slice);
      float* acc = s.acc + (pn - pn0) * panel_floats;
      for (size_t t = 0; t < tiles; t++) {
        const size_t r = rows - t * kRows < kRows ? rows - t * kRows : kRows;
        if (pl.fold)
          chunk_folded(s.a + t * kRows * kPitch, bs, steps, r, acc + t * kRows * kPanelCols);
        else
          chunk_promoted(pl, s.a + t * kRows * kPitch, bs, steps, k0 / FP8K_GEMM_BLOCK, m0 + t * kRows, r, pn, acc + t * kRows * kPanelCols, s.part,
                         cur, q);
      }
    }
  }
  promote(q, kRows);
  for (size_t pn = pn0; pn < pn1; pn++)
    for (size_t t = 0; t < tiles; t++) {
      const size_t r = rows - t * kRows < kRows ? rows - t * kRows : kRows;
      store_rows(p, s.acc + (pn - pn0) * panel_floats + t * kRows * kPanelCols, m0 + t * kRows, r, pn, pl.c, pl.d);
    }
}

FP8K_TARGET_AMX void worker(const Plan& pl, const fp8k_next_chunk& next) {
  static thread_local Scratch s;
  TileConfig cfg = tiles_16x64();
  for (int i = 0; i < 6; i++) cfg.rows[i] = (uint8_t)pl.rows_cfg;  // C and A tiles: M rows when M < 16
  amx_loadconfig(&cfg);
  for (size_t u0, u1; next(u0, u1);)
    for (size_t u = u0; u < u1; u++) block(pl, s, u / pl.groups, u % pl.groups);
  amx_release();
}

}  // namespace

void promoted_amx(const fp8k_gemm* p, const uint8_t* a, const float* sa, const PackedB& b, const float* c, void* d) {
  const Bf16Tables wa(p->a_format), wb(p->b_format);
  const Regs tb = regs(wb);
  const bool b_fold = b.bf16 ? b.folded : b_scales_fold(b);
  const size_t block_rows = p->m < kBlockRows ? fp8k_cdiv(p->m, kRows) * kRows : kBlockRows;
  const Plan pl{p, a, sa, b, c, d, wa, tb, b_fold, b_fold && a_scales_fold(p, sa), b.bf16 && p->m >= kBf16MinRows, block_rows,
                fp8k_cdiv(b.panels, kGroupPanels), p->m < kTile ? p->m : kTile};
  const size_t blocks = fp8k_cdiv(p->m, block_rows) * pl.groups;
  const double work = (double)p->m * p->n * p->k;
  fp8k_parallel_chunks(blocks, 1, work >= 1e6 ? size_t(FP8K_PARALLEL_MIN) : size_t(0), [&](const fp8k_next_chunk& next) { worker(pl, next); });
}

}  // namespace fp8k::cpu

#endif  // FP8K_HAVE_AMX
