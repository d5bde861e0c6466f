// The instruction peaks `fp8kit bench gemm` sets the GEMM against, on the threads the cpu backend uses:
// f32 FMA (AVX-512, else AVX2), vdpbf16ps and the AMX TDPBF16PS tile product. Each thread runs
// independent accumulator chains started from different values (identical chains would be merged by
// the compiler into one, and the loop would measure one instruction's latency instead).
#include <immintrin.h>

#include <atomic>
#include <chrono>

#include "amx_tiles.h"
#include "parallel.h"
#include "peak.h"
#include "simd.h"

namespace {

constexpr long kIters = 1 << 22;

FP8K_TARGET_AVX512 float fma512(long n) {
  __m512 a[12];
  for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps(1.0f + i);
  const __m512 x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(0.001f);
  for (long i = 0; i < n; i++)
#pragma GCC unroll 12
    for (int j = 0; j < 12; j++) a[j] = _mm512_fmadd_ps(a[j], x, y);
  __m512 s = a[0];
  for (int i = 1; i < 12; i++) s = _mm512_add_ps(s, a[i]);
  return _mm512_cvtss_f32(s);
}

__attribute__((target("avx2,fma"))) float fma256(long n) {
  __m256 a[12];
  for (int i = 0; i < 12; i++) a[i] = _mm256_set1_ps(1.0f + i);
  const __m256 x = _mm256_set1_ps(0.999f), y = _mm256_set1_ps(0.001f);
  for (long i = 0; i < n; i++)
#pragma GCC unroll 12
    for (int j = 0; j < 12; j++) a[j] = _mm256_fmadd_ps(a[j], x, y);
  __m256 s = a[0];
  for (int i = 1; i < 12; i++) s = _mm256_add_ps(s, a[i]);
  alignas(32) float o[8];
  _mm256_store_ps(o, s);
  return o[0] + o[7];
}

FP8K_TARGET_AVX512_BF16 float dpbf16(long n) {
  __m512 a[12];
  for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps(1.0f + i);
  const __m512bh x = (__m512bh)_mm512_set1_epi32(0x3f803f80), y = (__m512bh)_mm512_set1_epi32(0x3a003a00);
  for (long i = 0; i < n; i++)
#pragma GCC unroll 12
    for (int j = 0; j < 12; j++) a[j] = _mm512_dpbf16_ps(a[j], x, y);
  __m512 s = a[0];
  for (int i = 1; i < 12; i++) s = _mm512_add_ps(s, a[i]);
  return _mm512_cvtss_f32(s);
}

#if FP8K_HAVE_AMX
// 4 accumulator tiles from 2 A and 2 B tiles loaded once: the 2 × 2 micro-kernel's inner loop without its loads.
FP8K_TARGET_AMX float amx(long n) {
  const TileConfig cfg = tiles_16x64();
  _tile_loadconfig(&cfg);
  alignas(64) uint16_t src[16 * 32];
  for (int i = 0; i < 16 * 32; i++) src[i] = 0x3f80;
  alignas(64) float out[16 * 16];
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  _tile_loadd(4, src, 64);
  _tile_loadd(5, src, 64);
  _tile_loadd(6, src, 64);
  _tile_loadd(7, src, 64);
  for (long i = 0; i < n / 16; i++) {
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  _tile_stored(0, out, 64);
  _tile_release();
  return out[0];
}
#endif

}  // namespace

double fp8k_cpu_peak_gflops(int kind) {
  const int level = fp8k_cpu_simd_level();
  float (*fn)(long) = nullptr;
  double flops = 0;  // per iteration of fn
  if (kind == FP8K_PEAK_FMA && level >= FP8K_SIMD_AVX512) fn = fma512, flops = 12 * 32;
  else if (kind == FP8K_PEAK_FMA && level >= FP8K_SIMD_AVX2 && __builtin_cpu_supports("fma")) fn = fma256, flops = 12 * 16;
  else if (kind == FP8K_PEAK_BF16 && level >= FP8K_SIMD_AVX512_BF16) fn = dpbf16, flops = 12 * 64;
#if FP8K_HAVE_AMX
  else if (kind == FP8K_PEAK_AMX && level >= FP8K_SIMD_AMX) fn = amx, flops = 4.0 * 16 * 16 * 32 * 2 / 16;
#endif
  if (!fn) return 0;
  const int threads = fp8k_parallel_threads();
  std::atomic<float> sink{0};
  fn(kIters / 16);  // warm-up: clocks and, for AMX, the tile state
  const auto t0 = std::chrono::steady_clock::now();
  fp8k_parallel_tasks((size_t)threads, [&](size_t first, size_t last) {
    for (size_t i = first; i < last; i++) sink = sink + fn(kIters);
  });
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return threads * (double)kIters * flops / s / 1e9;
}
