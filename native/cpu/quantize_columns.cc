// SPEC §2 G x 1 column tiles on the cpu backend: one band of G rows at a time, the column maxima kept
// down the band on the elements' abs bits (the rows are contiguous, so this loop vectorizes), then each
// row converted with its columns' inverse scales by the quantize kernels' per-element form (quantl)
// from the same L2-resident chunk. Bands go to threads whole.
#include <immintrin.h>

#include <vector>

#include "../common/quant_check.h"
#include "ops.h"
#include "quant_simd.h"
#include "simd.h"

namespace fp8k::cpu {

namespace {

// abs bits of an element, in its own width (bf16 maxima stay 16-bit: 32 lanes a vector): for
// non-negative floats the unsigned order of the bits is the numeric one, and a value is non-finite
// exactly when its abs bits reach the exponent mask.
inline uint32_t abs_bits(float v) { return fp8k_f32_bits(v) & 0x7FFFFFFFu; }
inline uint16_t abs_bits(uint16_t h) { return (uint16_t)(h & 0x7FFF); }
template <class T>
using Bits = decltype(abs_bits(T()));
inline float widen(float v) { return v; }
inline float widen(uint16_t h) { return fp8k_bf16_to_f32(h); }

// Columns are taken 1024 at a time, so that a band's chunk (G rows of them) stays in L2 between the
// pass that finds the maxima and the pass that scales and casts (one pass over memory, not two).
constexpr size_t kChunkCols = 1024;
// Rows ahead that the maxima pass fetches itself (where the previous chunk's conversion has not).
constexpr size_t kAhead = 4;

template <class T>
__attribute__((always_inline)) inline void columns(const QuantKernels& k, const T* x, const fp8k_quant* p, uint8_t* q, float* scales, FirstBad& bad,
                                                   size_t u0, size_t u1) {
  const size_t g = (size_t)p->tile_rows, rows = p->rows, cols = p->cols, bands = fp8k_tile_rows_count(p);
  alignas(64) Bits<T> amax[kChunkCols];
  alignas(64) float inv[kChunkCols], invp[kChunkCols], sc[kChunkCols];
  size_t special[kChunkCols];  // the columns quantl does not cover: non-finite or subnormal scales
  uint8_t kind[kChunkCols];
  for (size_t u = u0; u < u1; u++) {
    const size_t b = u / bands, tr = u % bands, r0 = tr * g, r1 = r0 + g < rows ? r0 + g : rows;
    const T* xb = x + b * rows * cols;
    uint8_t* qb = q + b * rows * cols;
    for (size_t c0 = 0; c0 < cols; c0 += kChunkCols) {
      const size_t w = c0 + kChunkCols < cols ? kChunkCols : cols - c0;
      for (size_t c = 0; c < w; c++) amax[c] = 0;
      for (size_t r = r0; r < r1; r++) {
        const T* row = xb + r * cols + c0;
        if (r + kAhead < r1)
          for (size_t o = 0; o < w * sizeof(T); o += 64) _mm_prefetch(reinterpret_cast<const char*>(row + kAhead * cols) + o, _MM_HINT_T0);
        for (size_t c = 0; c < w; c++) {
          const Bits<T> a = abs_bits(row[c]);
          amax[c] = a > amax[c] ? a : amax[c];
        }
      }
      // The chunk's scales in one vector pass (the same IEEE divisions as tile_scale, so the same bits).
      size_t ns = 0;
      if (tile_scales(fp8k_cpu_vector_level(), amax, sizeof(T) == 2, w, p, sc, inv, kind))
        for (size_t c = 0; c < w; c++) {
          if (kind[c] == kTileNonFinite) bad.note((b * bands + tr) * cols + c0 + c);
          if (kind[c] != kTileFast) special[ns++] = c;
        }
      float* srow = scales + fp8k_scale_index(p, b, tr, c0);
      for (size_t c = 0; c < w; c++) srow[c] = sc[c];
      unpack_order(inv, invp, w);
      // The maxima pass reads G rows at once, more streams than the hardware prefetcher follows: while
      // this chunk converts (from L2), its rows of the next chunk, or of the next band, are fetched.
      const bool last = c0 + w >= cols;
      const size_t next_c0 = last ? 0 : c0 + w, next_w = cols - next_c0 < kChunkCols ? cols - next_c0 : kChunkCols;
      for (size_t r = r0; r < r1; r++) {
        const T* row = xb + r * cols + c0;
        uint8_t* qr = qb + r * cols + c0;
        const T* next = last ? (r + g < rows ? xb + (r + g) * cols : nullptr) : xb + r * cols + next_c0;
        if (next)
          for (size_t o = 0; o < next_w * sizeof(T); o += 64) _mm_prefetch(reinterpret_cast<const char*>(next) + o, _MM_HINT_T1);
        k.quantl(row, qr, inv, invp, w);
        for (size_t i = 0; i < ns; i++) {
          const size_t c = special[i];
          qr[c] = fp8k_quantize_value(widen(row[c]), inv[c], p->format);
        }
      }
    }
  }
}

// The same loops compiled for AVX-512 (the maxima vectorize 16 wide).
template <class T>
FP8K_TARGET_AVX512 void columns_avx512(const QuantKernels& k, const T* x, const fp8k_quant* p, uint8_t* q, float* scales, FirstBad& bad,
                                       size_t u0, size_t u1) {
  columns(k, x, p, q, scales, bad, u0, u1);
}

template <class T>
void run(const T* x, const fp8k_quant* p, uint8_t* q, float* scales, FirstBad& bad, size_t u0, size_t u1) {
  const int level = fp8k_cpu_vector_level();
  const QuantKernels& k = quant_kernels(level, p->format, sizeof(T) == 2);
  if (level >= FP8K_SIMD_AVX512)
    columns_avx512(k, x, p, q, scales, bad, u0, u1);
  else
    columns(k, x, p, q, scales, bad, u0, u1);
}

}  // namespace

int quantize_columns(const void* x, bool bf16, const fp8k_quant* p, uint8_t* q, float* scales, fp8k_call* call) {
  FirstBad bad;
  parallel_units(p->batch * fp8k_tile_rows_count(p), p->batch * p->rows * p->cols, [&](size_t u0, size_t u1) {
    if (bf16)
      run(static_cast<const uint16_t*>(x), p, q, scales, bad, u0, u1);
    else
      run(static_cast<const float*>(x), p, q, scales, bad, u0, u1);
  });
  return p->strict && bad.get() != SIZE_MAX ? fp8k_fail_nonfinite(p, bad.get(), call) : FP8K_OK;
}

}  // namespace fp8k::cpu
