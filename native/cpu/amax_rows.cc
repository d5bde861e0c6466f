// Tile and column maxima of a block of rows: pass 1 of the 1 x G cast-transpose (both), and the
// block amax of G x G quantize (columns only, then the max over each block's columns). AVX-512
// bf16 walks each tile column down the rows with the column maxima held in registers (one load,
// abs and two maxima per vector, instead of a load-max-store of the column maxima per row) and
// reduces sixteen rows' tile vectors at once by halving rounds (also serving the 1 x G rows of
// quantize.cc through tile_max16_bf16).
// GCC 12 warns falsely about the _mm512_undefined_* inside inlined intrinsics (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include "quant_simd.h"
#include "simd.h"

namespace fp8k::cpu {
namespace {

// Row r of rv (32 lanes) = the lane-wise max of row r's abs bits over the NV vectors of one strip
// of 32 * NV columns (max-ed into it unless first; skipped when ROWS is false); cm max-ed with the
// strip's column maxima.
template <int NV, bool ROWS>
FP8K_TARGET_AVX512 void strip_bf16(const uint16_t* x, size_t stride, size_t nr, uint16_t* rv, bool first, uint16_t* cm) {
  const __m512i absm = _mm512_set1_epi16(0x7FFF);
  __m512i c[NV];
  for (int v = 0; v < NV; v++) c[v] = _mm512_loadu_si512(cm + 32 * v);
  for (size_t r = 0; r < nr; r++) {
    const uint16_t* xr = x + r * stride;
    __m512i m = _mm512_setzero_si512();
    for (int v = 0; v < NV; v++) {
      const __m512i a = _mm512_and_si512(_mm512_loadu_si512(xr + 32 * v), absm);
      c[v] = _mm512_max_epu16(c[v], a);
      m = _mm512_max_epu16(m, a);
    }
    if (ROWS) _mm512_store_si512(rv + 32 * r, first ? m : _mm512_max_epu16(_mm512_load_si512(rv + 32 * r), m));
  }
  for (int v = 0; v < NV; v++) _mm512_storeu_si512(cm + 32 * v, c[v]);
}

// out[r * os] = max of the 32 uint16 lanes of row r of rv as f32 bits (<< 16), r < nr <= 16:
// four rounds that each halve the lanes per row and double the rows per vector.
FP8K_TARGET_AVX512 void reduce16(const uint16_t* rv, uint32_t* out, size_t os, size_t nr) {
  __m512i v[16], u[8], w[4], z[2];
  for (int i = 0; i < 16; i++) v[i] = _mm512_load_si512(rv + 32 * i);
  for (int i = 0; i < 8; i++)  // 256-bit halves: u[i] = rows 2i, 2i + 1
    u[i] = _mm512_max_epu16(_mm512_shuffle_i64x2(v[2 * i], v[2 * i + 1], 0x44), _mm512_shuffle_i64x2(v[2 * i], v[2 * i + 1], 0xEE));
  for (int i = 0; i < 4; i++)  // 128-bit quarters: w[i] = rows 4i .. 4i + 3
    w[i] = _mm512_max_epu16(_mm512_shuffle_i64x2(u[2 * i], u[2 * i + 1], 0x88), _mm512_shuffle_i64x2(u[2 * i], u[2 * i + 1], 0xDD));
  for (int i = 0; i < 2; i++)  // 64 bits: quarter q of z[i] = rows 8i + q, 8i + 4 + q
    z[i] = _mm512_max_epu16(_mm512_unpacklo_epi64(w[2 * i], w[2 * i + 1]), _mm512_unpackhi_epi64(w[2 * i], w[2 * i + 1]));
  // 32 bits: lane 4q + k = row q + 4k.
  const __m512 a = _mm512_castsi512_ps(z[0]), b = _mm512_castsi512_ps(z[1]);
  const __m512i d = _mm512_max_epu16(_mm512_castps_si512(_mm512_shuffle_ps(a, b, 0x88)), _mm512_castps_si512(_mm512_shuffle_ps(a, b, 0xDD)));
  const __m512i f = _mm512_max_epu32(_mm512_slli_epi32(d, 16), _mm512_and_si512(d, _mm512_set1_epi32((int)0xFFFF0000u)));
  alignas(64) uint32_t t[16];
  _mm512_store_si512(t, _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), f));
  for (size_t r = 0; r < nr; r++) out[r * os] = t[r];
}

FP8K_TARGET_AVX512 void tiles_bf16(const uint16_t* x, size_t stride, size_t nr, size_t nt, size_t g, uint32_t* tilemax, size_t ts,
                                   uint16_t* colmax, uint16_t* rv) {
  if (!tilemax) {  // column maxima only: any strip width
    size_t c = 0;
    for (; c + 128 <= nt * g; c += 128) strip_bf16<4, false>(x + c, stride, nr, rv, true, colmax + c);
    for (; c < nt * g; c += 32) strip_bf16<1, false>(x + c, stride, nr, rv, true, colmax + c);
    return;
  }
  const size_t sw = g < 128 ? g : 128;
  for (size_t t = 0; t < nt; t++) {
    for (size_t c = t * g; c < (t + 1) * g; c += sw) {
      const bool first = c == t * g;
      if (sw == 128)
        strip_bf16<4, true>(x + c, stride, nr, rv, first, colmax + c);
      else if (sw == 64)
        strip_bf16<2, true>(x + c, stride, nr, rv, first, colmax + c);
      else
        strip_bf16<1, true>(x + c, stride, nr, rv, first, colmax + c);
    }
    for (size_t r = nr; r % 16; r++) _mm512_store_si512(rv + 32 * r, _mm512_setzero_si512());
    for (size_t r = 0; r < nr; r += 16) reduce16(rv + 32 * r, tilemax + r * ts + t, ts, nr - r < 16 ? nr - r : 16);
  }
}

}  // namespace

FP8K_TARGET_AVX512 void tile_max16_bf16(const uint16_t* rv, uint32_t* out, size_t os, size_t nr) { reduce16(rv, out, os, nr); }

void amax_rows(const QuantKernels& k, const void* x, bool bf16, size_t stride, size_t nr, size_t n, size_t g, uint32_t* tilemax,
               size_t ts, void* colmax, AmaxScratch& sc) {
  size_t done = 0;
  if (bf16 && fp8k_cpu_vector_level() >= FP8K_SIMD_AVX512 && g % 32 == 0) {
    sc.rv.resize((nr + 15) / 16 * 16 * 32 + 32);
    uint16_t* rv = sc.rv.data() + (((0 - (uintptr_t)sc.rv.data()) & 63) / 2);  // 64-byte aligned
    done = n / g * g;
    tiles_bf16(static_cast<const uint16_t*>(x), stride, nr, n / g, g, tilemax, ts, static_cast<uint16_t*>(colmax), rv);
  }
  if (done == n) return;
  // The rest (a partial last tile, or every tile on the other tiers) row by row.
  const size_t elem = bf16 ? 2 : 4;
  for (size_t r = 0; r < nr; r++)
    k.amax(static_cast<const char*>(x) + (r * stride + done) * elem, n - done, g, tilemax ? tilemax + r * ts + done / g : nullptr,
           static_cast<char*>(colmax) + done * elem);
}

}  // namespace fp8k::cpu
