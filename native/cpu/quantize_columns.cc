// SPEC §2 G x 1 column tiles on the cpu backend: one band of G rows at a time, the column maxima kept
// down the band on the elements' abs bits (the rows are contiguous, so this loop vectorizes), then each
// row scaled by its columns' inverse scales and cast by the SIMD cast kernel. Bands go to threads whole.
#include <vector>

#include "../common/quant_check.h"
#include "ops.h"
#include "quant_simd.h"
#include "simd.h"

namespace fp8k::cpu {

namespace {

// abs bits of an element: for non-negative floats the unsigned order of the bits is the numeric one,
// and a value is non-finite exactly when its abs bits reach the exponent mask.
inline uint32_t abs_bits(float v) { return fp8k_f32_bits(v) & 0x7FFFFFFFu; }
inline uint32_t abs_bits(uint16_t h) { return (uint32_t)(h & 0x7FFF) << 16; }
inline float widen(float v) { return v; }
inline float widen(uint16_t h) { return fp8k_bf16_to_f32(h); }

// Columns are taken 1024 at a time, so that a band's chunk (G rows of them) stays in L2 between the
// pass that finds the maxima and the pass that scales and casts (one pass over memory, not two).
constexpr size_t kChunkCols = 1024;

template <class T>
__attribute__((always_inline)) inline void columns(const T* x, const fp8k_quant* p, uint8_t* q, float* scales, FirstBad& bad, size_t u0,
                                                   size_t u1) {
  const size_t g = (size_t)p->tile_rows, rows = p->rows, cols = p->cols, bands = fp8k_tile_rows_count(p);
  uint32_t amax[kChunkCols];
  float inv[kChunkCols], scaled[kChunkCols];
  fp8k_call row_call{};
  for (size_t u = u0; u < u1; u++) {
    const size_t b = u / bands, tr = u % bands, r0 = tr * g, r1 = r0 + g < rows ? r0 + g : rows;
    const T* xb = x + b * rows * cols;
    uint8_t* qb = q + b * rows * cols;
    for (size_t c0 = 0; c0 < cols; c0 += kChunkCols) {
      const size_t w = c0 + kChunkCols < cols ? kChunkCols : cols - c0;
      for (size_t c = 0; c < w; c++) amax[c] = 0;
      for (size_t r = r0; r < r1; r++) {
        const T* row = xb + r * cols + c0;
        for (size_t c = 0; c < w; c++) {
          const uint32_t a = abs_bits(row[c]);
          amax[c] = a > amax[c] ? a : amax[c];
        }
      }
      for (size_t c = 0; c < w; c++) {
        const bool finite = amax[c] < 0x7F800000u;
        const float s = finite ? fp8k_tile_scale(fp8k_bits_f32(amax[c]), p->eps, p->format, p->scale_format) : fp8k_nonfinite_scale();
        if (!finite) bad.note((b * bands + tr) * cols + c0 + c);
        scales[fp8k_scale_index(p, b, tr, c0 + c)] = s;
        inv[c] = fp8k_inv_scale(s);  // NaN for a non-finite tile: its bytes become 0x7F
      }
      for (size_t r = r0; r < r1; r++) {
        const T* row = xb + r * cols + c0;
        for (size_t c = 0; c < w; c++) scaled[c] = widen(row[c]) * inv[c];
        cast_to_fp8(scaled, FP8K_F32, qb + r * cols + c0, w, p->format, 1, &row_call);
      }
    }
  }
}

// The same loops compiled for AVX-512 (the maxima and the scaling vectorize 16 wide).
template <class T>
FP8K_TARGET_AVX512 void columns_avx512(const T* x, const fp8k_quant* p, uint8_t* q, float* scales, FirstBad& bad, size_t u0, size_t u1) {
  columns(x, p, q, scales, bad, u0, u1);
}

template <class T>
void run(const T* x, const fp8k_quant* p, uint8_t* q, float* scales, FirstBad& bad, size_t u0, size_t u1) {
  if (fp8k_cpu_vector_level() >= FP8K_SIMD_AVX512)
    columns_avx512(x, p, q, scales, bad, u0, u1);
  else
    columns(x, p, q, scales, bad, u0, u1);
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
