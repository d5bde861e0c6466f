// SPEC §3 on the cpu: one read of x, both outputs.
//
// 1 x G: the matrix is cut into sub-blocks of G rows (one band of column tiles: a column tile of
// x^T is G consecutive rows of one column of x) by max(G, 64) columns (whole row tiles). Each
// sub-block is read twice while it sits in L1/L2, once from memory: pass 1 finds every row tile's
// amax and every column's amax; pass 2 converts each loaded vector twice, with its row tile's inv
// (straight to the row-wise output) and with the per-lane column inv (into a small row-major
// buffer), and the buffer goes to the column-wise output through 16 x 16 byte transposes in
// registers (unpack rounds; AVX-512 and AVX2 do 4 and 2 blocks per instruction).
// G x G: the block scales are shared, so the column-wise bytes are the row-wise bytes transposed:
// each band chunk is quantized (quantize.cc) and its bytes transposed while they are in cache.
// GCC 12 warns falsely about the _mm512_undefined_* inside inlined intrinsics (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#include <string.h>

#include <vector>

#include "quant_simd.h"
#include "simd.h"

namespace fp8k::cpu {
namespace {

// ---- byte transpose: dst[c * ds + r] = src[r * ss + c], r < nr, c < nc ----
// One round of unpacks moves the 8-bit (register, byte) index of each element left by one bit
// rotation; four rounds swap register and byte index: register j ends up holding column j.

inline void t16_sse2(const uint8_t* s, size_t ss, uint8_t* d, size_t ds) {
  __m128i x[16], y[16];
  for (int i = 0; i < 16; i++) x[i] = _mm_loadu_si128((const __m128i*)(s + i * ss));
  for (int round = 0; round < 4; round++) {
    for (int i = 0; i < 8; i++) {
      y[2 * i] = _mm_unpacklo_epi8(x[i], x[i + 8]);
      y[2 * i + 1] = _mm_unpackhi_epi8(x[i], x[i + 8]);
    }
    for (int i = 0; i < 16; i++) x[i] = y[i];
  }
  for (int j = 0; j < 16; j++) _mm_storeu_si128((__m128i*)(d + j * ds), x[j]);
}

// 16 rows x 32 columns: two 16 x 16 blocks, one per 128-bit lane.
FP8K_TARGET_AVX2 inline void t16x32_avx2(const uint8_t* s, size_t ss, uint8_t* d, size_t ds) {
  __m256i x[16], y[16];
  for (int i = 0; i < 16; i++) x[i] = _mm256_loadu_si256((const __m256i*)(s + i * ss));
  for (int round = 0; round < 4; round++) {
    for (int i = 0; i < 8; i++) {
      y[2 * i] = _mm256_unpacklo_epi8(x[i], x[i + 8]);
      y[2 * i + 1] = _mm256_unpackhi_epi8(x[i], x[i + 8]);
    }
    for (int i = 0; i < 16; i++) x[i] = y[i];
  }
  for (int j = 0; j < 16; j++) {
    _mm_storeu_si128((__m128i*)(d + j * ds), _mm256_castsi256_si128(x[j]));
    _mm_storeu_si128((__m128i*)(d + (16 + j) * ds), _mm256_extracti128_si256(x[j], 1));
  }
}

// 16 rows x 64 columns: four 16 x 16 blocks, one per 128-bit lane.
FP8K_TARGET_AVX512 inline void t16x64_avx512(const uint8_t* s, size_t ss, uint8_t* d, size_t ds) {
  __m512i x[16], y[16];
  for (int i = 0; i < 16; i++) x[i] = _mm512_loadu_si512(s + i * ss);
  for (int round = 0; round < 4; round++) {
    for (int i = 0; i < 8; i++) {
      y[2 * i] = _mm512_unpacklo_epi8(x[i], x[i + 8]);
      y[2 * i + 1] = _mm512_unpackhi_epi8(x[i], x[i + 8]);
    }
    for (int i = 0; i < 16; i++) x[i] = y[i];
  }
  for (int j = 0; j < 16; j++) {
    _mm_storeu_si128((__m128i*)(d + j * ds), _mm512_castsi512_si128(x[j]));
    _mm_storeu_si128((__m128i*)(d + (16 + j) * ds), _mm512_extracti32x4_epi32(x[j], 1));
    _mm_storeu_si128((__m128i*)(d + (32 + j) * ds), _mm512_extracti32x4_epi32(x[j], 2));
    _mm_storeu_si128((__m128i*)(d + (48 + j) * ds), _mm512_extracti32x4_epi32(x[j], 3));
  }
}

// 64 rows x 16 columns: the four 16-row groups in the four 128-bit lanes, so that register j ends
// up holding column j for all 64 rows: one full 64-byte line per output row (streamed if asked).
template <bool STREAM>
FP8K_TARGET_AVX512 inline void t64x16_avx512(const uint8_t* s, size_t ss, uint8_t* d, size_t ds) {
  __m512i x[16], y[16];
  for (int i = 0; i < 16; i++) {
    __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i*)(s + i * ss)));
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i*)(s + (16 + i) * ss)), 1);
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i*)(s + (32 + i) * ss)), 2);
    x[i] = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i*)(s + (48 + i) * ss)), 3);
  }
  for (int round = 0; round < 4; round++) {
    for (int i = 0; i < 8; i++) {
      y[2 * i] = _mm512_unpacklo_epi8(x[i], x[i + 8]);
      y[2 * i + 1] = _mm512_unpackhi_epi8(x[i], x[i + 8]);
    }
    for (int i = 0; i < 16; i++) x[i] = y[i];
  }
  for (int j = 0; j < 16; j++) {
    uint8_t* o = d + j * ds;
    if (STREAM && ((uintptr_t)o & 63) == 0)
      _mm512_stream_si512((__m512i*)o, x[j]);
    else
      _mm512_storeu_si512(o, x[j]);
  }
}

inline void t_edge(const uint8_t* s, size_t ss, uint8_t* d, size_t ds, size_t nr, size_t nc) {
  for (size_t c = 0; c < nc; c++)
    for (size_t r = 0; r < nr; r++) d[c * ds + r] = s[r * ss + c];
}

template <int LEVEL, bool STREAM>
void transpose_impl(const uint8_t* src, size_t ss, uint8_t* dst, size_t ds, size_t nr, size_t nc) {
  size_t r = 0;
  if (LEVEL >= FP8K_SIMD_AVX512 && nr >= 64) {
    // Column chunks outside, 64-row groups inside: an output row's lines leave one after another
    // (one DRAM page) rather than a whole pass of the other groups apart.
    const size_t r64 = nr / 64 * 64;
    size_t c = 0;
    for (; c + 16 <= nc; c += 16)
      for (r = 0; r < r64; r += 64) t64x16_avx512<STREAM>(src + r * ss + c, ss, dst + c * ds + r, ds);
    if (c < nc)
      for (r = 0; r < r64; r += 64) t_edge(src + r * ss + c, ss, dst + c * ds + r, ds, 64, nc - c);
    r = r64;
  }
  for (; r + 16 <= nr; r += 16) {
    const uint8_t* s = src + r * ss;
    uint8_t* d = dst + r;
    size_t c = 0;
    if (LEVEL >= FP8K_SIMD_AVX512)
      for (; c + 64 <= nc; c += 64) t16x64_avx512(s + c, ss, d + c * ds, ds);
    if (LEVEL >= FP8K_SIMD_AVX2)
      for (; c + 32 <= nc; c += 32) t16x32_avx2(s + c, ss, d + c * ds, ds);
    for (; c + 16 <= nc; c += 16) t16_sse2(s + c, ss, d + c * ds, ds);
    if (c < nc) t_edge(s + c, ss, d + c * ds, ds, 16, nc - c);
  }
  if (r < nr) t_edge(src + r * ss, ss, dst + r, ds, nr - r, nc);
}

FP8K_TARGET_AVX512 void transpose_avx512(const uint8_t* s, size_t ss, uint8_t* d, size_t ds, size_t nr, size_t nc) {
  transpose_impl<FP8K_SIMD_AVX512, false>(s, ss, d, ds, nr, nc);
}
FP8K_TARGET_AVX512 void transpose_avx512_nt(const uint8_t* s, size_t ss, uint8_t* d, size_t ds, size_t nr, size_t nc) {
  transpose_impl<FP8K_SIMD_AVX512, true>(s, ss, d, ds, nr, nc);
}
FP8K_TARGET_AVX2 void transpose_avx2(const uint8_t* s, size_t ss, uint8_t* d, size_t ds, size_t nr, size_t nc) {
  transpose_impl<FP8K_SIMD_AVX2, false>(s, ss, d, ds, nr, nc);
}
void transpose_sse2(const uint8_t* s, size_t ss, uint8_t* d, size_t ds, size_t nr, size_t nc) {
  transpose_impl<FP8K_SIMD_SCALAR, false>(s, ss, d, ds, nr, nc);
}

using Transpose = void (*)(const uint8_t*, size_t, uint8_t*, size_t, size_t, size_t);
Transpose transpose_for(int level, bool stream) {
  if (level >= FP8K_SIMD_AVX512) return stream ? transpose_avx512_nt : transpose_avx512;
  return level == FP8K_SIMD_AVX2 ? transpose_avx2 : transpose_sse2;
}

// ---- 1 x G ----

void cast_transpose_rows(const void* x, bool bf16, const fp8k_quant* p, uint8_t* q_row, float* s_row, uint8_t* q_col, float* s_col,
                         const QuantKernels& k, bool stream, Transpose tr, FirstBad& bad) {
  const size_t g = (size_t)p->tile_cols, M = p->rows, K = p->cols, elem = bf16 ? 2 : 4;
  // Columns per sub-block: whole row tiles, about 128 KiB of x (half a quantize chunk: x, its
  // byte buffer and the next sub-block's prefetched rows then share L2 better).
  const size_t unit = g < 64 ? 64 : g, half = block_chunk_cols(g, elem) / 2 / unit * unit;
  const size_t bc = half < unit ? unit : half;
  const size_t tpb = bc / g;                       // row tiles per sub-block row
  const size_t tcn = fp8k_cdiv(K, g), bands = fp8k_cdiv(M, g), chunks = fp8k_cdiv(K, bc);
  const size_t ts = bc + 64;  // tmp's row stride: off a multiple of 4 KiB, so the 64-row transpose loads spread over L1 sets
  const int level = fp8k_cpu_vector_level();
  parallel_units(bands * chunks, M * K, [&](size_t u0, size_t u1) {
    std::vector<uint32_t> rowmax(g * tpb);
    std::vector<uint32_t> colmax(bc);
    std::vector<float> invr(g * tpb), invl(bc), invp(bc);
    std::vector<uint8_t> kindr(g * tpb), kindc(bc), tmp(g * ts);
    std::vector<float> sr(g * tpb), scol(bc);
    AmaxScratch amax_scratch;
    for (size_t u = u0; u < u1; u++) {
      const size_t j = u / chunks, ch = u % chunks;
      const size_t r0 = j * g, r1 = r0 + g < M ? r0 + g : M, nr = r1 - r0;
      const size_t c0 = ch * bc, c1 = c0 + bc < K ? c0 + bc : K, w = c1 - c0;
      const size_t ntl = fp8k_cdiv(w, g);
      memset(colmax.data(), 0, bc * 4);
      const char* xs = static_cast<const char*>(x) + (r0 * K + c0) * elem;
      amax_rows(k, xs, bf16, K, nr, w, g, rowmax.data(), tpb, colmax.data(), amax_scratch);
      // Row tiles, in row-major tile order. Tiles past w (t >= ntl) hold stale maxima: their kinds
      // can only set special_r (a scan that finds nothing), never a code or scale.
      const bool special_r = tile_scales(level, rowmax.data(), false, nr * tpb, p, sr.data(), invr.data(), kindr.data()) != kTileFast;
      bool failed = false;
      if (special_r && p->strict)
        for (size_t r = 0; r < nr; r++)
          for (size_t t = 0; t < ntl; t++)
            if (kindr[r * tpb + t] == kTileNonFinite) {
              bad.note((r0 + r) * tcn + c0 / g + t);
              failed = true;
            }
      if (failed || (p->strict && bad.get() != SIZE_MAX)) continue;  // the call fails: only the scan goes on
      // Column tiles: [K, bands] scales.
      const bool special_c = tile_scales(level, colmax.data(), bf16, w, p, scol.data(), invl.data(), kindc.data()) != kTileFast;
      // The scale stores (one cache line each for s_col) are spread over the row loop below, so
      // that their misses overlap the conversion instead of filling the store buffer at once.
      const size_t cpr = fp8k_cdiv(w, nr);
      unpack_order(invl.data(), invp.data(), w);
      Prefetch pf;
      if (u + 1 < u1) {
        const size_t j1 = (u + 1) / chunks, ch1 = (u + 1) % chunks, n0 = ch1 * bc;
        pf.x = static_cast<const char*>(x) + (j1 * g * K + n0) * elem;
        pf.stride = K * elem;
        pf.rows = j1 * g + g < M ? g : M - j1 * g;
      }
      for (size_t r = 0; r < nr; r++) {
        const char* xr = xs + r * K * elem;
        uint8_t* qr = q_row + (r0 + r) * K + c0;
        for (size_t t = 0; t < ntl; t++) s_row[(r0 + r) * tcn + c0 / g + t] = sr[r * tpb + t];
        for (size_t c = r * cpr; c < (r + 1) * cpr && c < w; c++) s_col[(c0 + c) * bands + j] = scol[c];
        k.quant2(xr, qr, &invr[r * tpb], g, &tmp[r * ts], invl.data(), invp.data(), w, stream, pf.row(r));
        if (special_r && stream) _mm_sfence();  // the fix-ups overwrite streamed bytes
        if (special_r)
          for (size_t t = 0; t < ntl; t++) {
            const size_t i = r * tpb + t, a = t * g, b = (t + 1) * g < w ? (t + 1) * g : w;
            if (kindr[i] == kTileNonFinite)
              memset(qr + a, 0x7F, b - a);
            else if (kindr[i] == kTileSlow)
              for (size_t c = a; c < b; c++) qr[c] = fp8k_quantize_value(load_elem(xr, bf16, c), invr[i], p->format);
          }
      }
      if (special_c)
        for (size_t c = 0; c < w; c++) {
          if (kindc[c] == kTileNonFinite)
            for (size_t r = 0; r < nr; r++) tmp[r * ts + c] = 0x7F;
          else if (kindc[c] == kTileSlow)
            for (size_t r = 0; r < nr; r++) tmp[r * ts + c] = fp8k_quantize_value(load_elem(xs + r * K * elem, bf16, c), invl[c], p->format);
        }
      tr(tmp.data(), ts, q_col + c0 * M + r0, M, nr, w);
    }
    if (stream) _mm_sfence();
  });
}

// ---- G x G ----

// dst rows = src rows (nr rows of w bytes), with streamed stores where asked and aligned.
FP8K_TARGET_AVX512 void copy_rows_avx512(const uint8_t* s, size_t ss, uint8_t* d, size_t ds, size_t nr, size_t w) {
  for (size_t r = 0; r < nr; r++) {
    const uint8_t* sr = s + r * ss;
    uint8_t* dr = d + r * ds;
    size_t c = 0;
    if (((uintptr_t)dr & 63) == 0)
      for (; c + 64 <= w; c += 64) _mm512_stream_si512((__m512i*)(dr + c), _mm512_loadu_si512(sr + c));
    memcpy(dr + c, sr + c, w - c);
  }
}
void copy_rows(const uint8_t* s, size_t ss, uint8_t* d, size_t ds, size_t nr, size_t w, bool stream) {
  if (stream && fp8k_cpu_vector_level() >= FP8K_SIMD_AVX512) return copy_rows_avx512(s, ss, d, ds, nr, w);
  for (size_t r = 0; r < nr; r++) memcpy(d + r * ds, s + r * ss, w);
}

void cast_transpose_blocks(const void* x, bool bf16, const fp8k_quant* p, uint8_t* q_row, float* s_row, uint8_t* q_col, float* s_col,
                           const QuantKernels& k, bool stream, Transpose tr, FirstBad& bad) {
  const size_t g = (size_t)p->tile_cols, M = p->rows, K = p->cols;
  const size_t trn = fp8k_tile_rows_count(p), tcn = fp8k_tile_cols_count(p);
  const size_t unit = g < 64 ? 64 : g, half = block_chunk_cols(g, bf16 ? 2 : 4) / 2 / unit * unit, cw = half < unit ? unit : half;
  const size_t chunks = fp8k_cdiv(K, cw);
  parallel_units(trn * chunks, M * K, [&](size_t u0, size_t u1) {
    BlockScratch sc;
    const size_t ts = cw + 64;  // see cast_transpose_rows
    std::vector<uint8_t> tmp(g * ts);
    for (size_t u = u0; u < u1; u++) {
      const size_t t = u / chunks, ch = u % chunks;
      const size_t c0 = ch * cw, c1 = c0 + cw < K ? c0 + cw : K;
      Prefetch pf;
      if (u + 1 < u1) {
        const size_t t1 = (u + 1) / chunks, ch1 = (u + 1) % chunks, n0 = ch1 * cw;
        pf.x = static_cast<const char*>(x) + (t1 * g * K + n0) * (bf16 ? 2 : 4);
        pf.stride = K * (bf16 ? 2 : 4);
        pf.rows = t1 * g + g < M ? g : M - t1 * g;
      }
      // The chunk's codes go to a buffer (its stride spreads the transpose's loads over L1 sets),
      // then out twice: as rows (streamed) and transposed.
      if (!quantize_block_chunk(x, bf16, p, 0, t, c0, c1, tmp.data(), ts, s_row, k, sc, false, bad, pf)) break;
      for (size_t tc = c0 / g; tc < fp8k_cdiv(c1, g); tc++) s_col[tc * trn + t] = s_row[t * tcn + tc];
      const size_t r0 = t * g, r1 = r0 + g < M ? r0 + g : M;
      copy_rows(tmp.data(), ts, q_row + r0 * K + c0, K, r1 - r0, c1 - c0, stream);
      tr(tmp.data(), ts, q_col + c0 * M + r0, M, r1 - r0, c1 - c0);
    }
    if (stream) _mm_sfence();
  });
}

}  // namespace

int cast_transpose(const void* x, int x_dtype, const fp8k_quant* p, uint8_t* q_row, float* s_row, uint8_t* q_col, float* s_col,
                   fp8k_call* call) {
  if (p->batch != 1 || p->scale_layout != FP8K_LAYOUT_ROW)
    return fp8k_fail(call, FP8K_ERR_ARGUMENT, "castTranspose takes one matrix and row-major scales");
  if (int s = fp8k_check_quant_no_columns(p, "castTranspose", call)) return s;
  if (x_dtype != FP8K_F32 && x_dtype != FP8K_BF16)
    return fp8k_fail(call, FP8K_ERR_DTYPE, "castTranspose: input must be f32 or bf16 (got dtype %d)", x_dtype);
  const bool bf16 = x_dtype == FP8K_BF16;
  const int level = fp8k_cpu_vector_level();
  const QuantKernels& k = quant_kernels(level, p->format, bf16);
  FirstBad bad;
  const bool stream = 2 * p->rows * p->cols >= kStreamBytes;  // both outputs together
  const Transpose tr = transpose_for(level, stream);
  if (p->tile_rows == 1)
    cast_transpose_rows(x, bf16, p, q_row, s_row, q_col, s_col, k, stream, tr, bad);
  else
    cast_transpose_blocks(x, bf16, p, q_row, s_row, q_col, s_col, k, stream, tr, bad);
  if (bad.get() != SIZE_MAX) return fp8k_fail_nonfinite(p, bad.get(), call);
  return FP8K_OK;
}

}  // namespace fp8k::cpu
