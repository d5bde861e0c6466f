// What quantize.cc, cast_transpose.cc and dequantize.cc share: the per-row SIMD kernels of
// SPEC §2 (defined in quantize.cc, one set per SIMD tier, format and input type), the
// per-tile scale step, and a split of work units over the cpu backend's threads.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include <atomic>
#include <functional>
#include <vector>

#include "../common/quant_check.h"
#include "ops.h"
#include "parallel.h"

namespace fp8k::cpu {

// Row kernels. x points at the first element of a row segment (f32 or bf16, as chosen when the
// set was picked); "abs bits" are |x| as f32 bit patterns (> 0x7F800000 NaN, == inf).
struct QuantKernels {
  // tilemax[t] = max abs bits of x[t*g, min(n, (t+1)*g)) when tilemax is non-NULL; colmax[i] =
  // max(colmax[i], abs bits of x[i]) for i < n when colmax is non-NULL (uint32_t per column for
  // f32 input, uint16_t holding the bf16 abs bits for bf16 input).
  void (*amax)(const void* x, size_t n, size_t g, uint32_t* tilemax, void* colmax);
  // q[i] = fp8k_quantize_value(x[i], invt[i / g]) for i < n (x starts a tile; g a power of two
  // >= 16). Only for finite x and inv the reciprocal of a normal scale (the "fast" tiles below);
  // other lanes get unspecified bytes.
  // stream: non-temporal stores where q is line-aligned (the caller fences with _mm_sfence).
  // pf: when non-NULL, the same span of the next unit's input, fetched into L2 along the way.
  void (*quant)(const void* x, uint8_t* q, size_t n, const float* invt, size_t g, bool stream, const void* pf);
  // Both at once: q1 as quant with invt, q2[i] = fp8k_quantize_value(x[i], invl[i]); invp holds
  // invl in unpack order (unpack_order below), which the AVX-512 bf16 kernel reads.
  void (*quant2)(const void* x, uint8_t* q1, const float* invt, size_t g, uint8_t* q2, const float* invl, const float* invp, size_t n,
                 bool stream, const void* pf);
  // Optional (NULL where absent): a whole 1 x g row of n elements (g a multiple of 64, n of g) in
  // one pass: scales to s[t * ss], codes to q, including the non-finite and slow tiles. Returns
  // the first non-finite tile when p->strict (the row then stops there), else SIZE_MAX.
  size_t (*rows)(const void* x, uint8_t* q, size_t n, size_t g, const fp8k_quant* p, float* s, size_t ss, bool stream);
  // q[i] = fp8k_quantize_value(x[i], invl[i]) for i < n, invp as for quant2 (column tiles: each
  // element its column's inverse). Fast lanes only, as quant.
  void (*quantl)(const void* x, uint8_t* q, const float* invl, const float* invp, size_t n);
};

// invp[32c + l] = invl of the element that lane l of the AVX-512 bf16 kernel holds: the even
// elements of each 32 in lanes 0-15, the odd ones in 16-31 (whole 32s only).
inline void unpack_order(const float* invl, float* invp, size_t n) {
  for (size_t c = 0; c + 32 <= n; c += 32)
    for (size_t l = 0; l < 32; l++) invp[c + l] = invl[c + 2 * (l % 16) + l / 16];
}

// Scratch of amax_rows (per thread).
struct AmaxScratch {
  std::vector<uint16_t> rv;
};

// k.amax over nr rows of n elements, `stride` elements apart: row r's tile maxima to
// tilemax[r * ts ...] (unless tilemax is NULL), colmax max-ed over all of them. Same results as
// row by row; faster for bf16 at AVX-512 (column maxima held in registers down the rows).
void amax_rows(const QuantKernels& k, const void* x, bool bf16, size_t stride, size_t nr, size_t n, size_t g, uint32_t* tilemax,
               size_t ts, void* colmax, AmaxScratch& sc);

// out[r * os] = the max of the 32 uint16 lanes (bf16 abs bits) of row r of rv, as f32 bits, for
// r < nr <= 16; rv holds 16 rows of 32 lanes, 64-byte aligned (rows past nr are read, not used).
// AVX-512 only.
void tile_max16_bf16(const uint16_t* rv, uint32_t* out, size_t os, size_t nr);

// The set for this SIMD level (fp8k_cpu_vector_level()), format and input type.
const QuantKernels& quant_kernels(int level, int format, bool bf16);

// abs bits of a colmax entry as an f32 pattern.
inline uint32_t colmax_bits(const void* colmax, size_t i, bool bf16) {
  return bf16 ? (uint32_t)static_cast<const uint16_t*>(colmax)[i] << 16 : static_cast<const uint32_t*>(colmax)[i];
}

enum : uint8_t { kTileFast = 0, kTileNonFinite = 1, kTileSlow = 2 };

// SPEC §2 steps 2-5 for one tile from its amax bits: scale, inv and how to convert its values.
// Fast: the scale is a normal f32, so |x * inv| stays below 2 * fmax (the SIMD path's range).
// Slow: a subnormal or zero scale (a tiny eps): converted by fp8k_quantize_value.
inline uint8_t tile_scale(uint32_t amax_bits, const fp8k_quant* p, float* scale, float* inv) {
  if (amax_bits >= 0x7F800000u) {
    *scale = fp8k_nonfinite_scale();
    *inv = fp8k_inv_scale(*scale);
    return kTileNonFinite;
  }
  *scale = fp8k_tile_scale(fp8k_bits_f32(amax_bits), p->eps, p->format, p->scale_format);
  *inv = fp8k_inv_scale(*scale);
  return fp8k_f32_bits(*scale) >= 0x00800000u ? kTileFast : kTileSlow;
}

// tile_scale for n tiles at once: amax bits from a (uint32_t, or uint16_t bf16 abs bits when
// a16), scale/inv/kind to the arrays (16 at a time with AVX-512 at that level; the same IEEE
// divisions, so the same bits). Returns the OR of the kinds (0: all fast).
uint8_t tile_scales(int level, const void* a, bool a16, size_t n, const fp8k_quant* p, float* scale, float* inv, uint8_t* kind);

inline float load_elem(const void* x, bool bf16, size_t i) {
  return bf16 ? fp8k_bf16_to_f32(static_cast<const uint16_t*>(x)[i]) : static_cast<const float*>(x)[i];
}

// Calls fn(u0, u1) over contiguous ranges of [0, units) on the backend's threads; `elems`
// (the elements all units touch) decides, as for the other kernels, how many threads.
inline void parallel_units(size_t units, size_t elems, const std::function<void(size_t, size_t)>& fn) {
  if (units == 0) return;
  if (elems < units) elems = units;
  fp8k_parallel_for(elems, kGrain, [&](size_t b, size_t e) {
    const size_t u0 = (size_t)(((unsigned __int128)b * units + elems - 1) / elems);
    const size_t u1 = e >= elems ? units : (size_t)(((unsigned __int128)e * units + elems - 1) / elems);
    if (u0 < u1) fn(u0, u1);
  });
}

// The first non-finite tile (smallest index) that any thread found; SIZE_MAX when none.
struct FirstBad {
  std::atomic<size_t> index{SIZE_MAX};
  void note(size_t i) {
    size_t cur = index.load(std::memory_order_relaxed);
    while (i < cur && !index.compare_exchange_weak(cur, i, std::memory_order_relaxed)) {
    }
  }
  size_t get() const { return index.load(std::memory_order_relaxed); }
};

// The next work unit's input, fetched into L2 by the row kernels (pf) while the current unit's
// conversion, which runs from cache, keeps the core busy: rows of `stride` bytes apart.
struct Prefetch {
  const char* x = nullptr;
  size_t stride = 0, rows = 0;
  const void* row(size_t r) const { return x && r < rows ? x + r * stride : nullptr; }
};

// Per-thread buffers of quantize_block_chunk.
struct BlockScratch {
  std::vector<uint32_t> blockmax;
  std::vector<uint8_t> colmax;  // as amax_rows' colmax: uint16_t or uint32_t per column
  std::vector<float> inv;
  std::vector<uint8_t> kind;
  AmaxScratch amax;
};

// G x G quantize of the blocks of band `tr` of matrix `b` that lie in columns [c0, c1) (whole
// blocks; c0 a multiple of G): the codes of band row i, column c0 + j go to out[i * os + j].
// False when strict met a non-finite block (noted in bad).
bool quantize_block_chunk(const void* x, bool bf16, const fp8k_quant* p, size_t b, size_t tr, size_t c0, size_t c1, uint8_t* out,
                          size_t os, float* scales, const QuantKernels& k, BlockScratch& sc, bool stream, FirstBad& bad,
                          const Prefetch& pf = Prefetch());
// Columns per G x G work unit: whole blocks (at least 64 columns), G rows of them about 256 KiB of input.
size_t block_chunk_cols(size_t g, size_t elem);

}  // namespace fp8k::cpu
