#include "simd.h"

#include <atomic>
#include <stdlib.h>
#include <string.h>

namespace {

// What the CPU (and the OS, for the zmm state) supports. __builtin_cpu_supports
// checks XCR0 as well as cpuid.
int hardware_level() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl"))
    return __builtin_cpu_supports("avx512vbmi") ? FP8K_SIMD_AVX512_VBMI : FP8K_SIMD_AVX512;
  if (__builtin_cpu_supports("avx2")) return FP8K_SIMD_AVX2;
  return FP8K_SIMD_SCALAR;
}

// FP8KIT_SIMD caps the level; an unknown value is ignored.
int default_level(int hw) {
  const char* env = getenv("FP8KIT_SIMD");
  int cap = hw;
  if (env) {
    if (!strcmp(env, "scalar")) cap = FP8K_SIMD_SCALAR;
    else if (!strcmp(env, "avx2")) cap = FP8K_SIMD_AVX2;
    else if (!strcmp(env, "avx512")) cap = FP8K_SIMD_AVX512;
    else if (!strcmp(env, "avx512vbmi")) cap = FP8K_SIMD_AVX512_VBMI;
  }
  return cap < hw ? cap : hw;
}

int hw() {
  static const int level = hardware_level();
  return level;
}

// -1 until first use; then the level in force.
std::atomic<int> g_level{-1};

}  // namespace

extern "C" int fp8k_cpu_simd_level(void) {
  int level = g_level.load(std::memory_order_relaxed);
  if (level < 0) {
    int expected = -1;
    g_level.compare_exchange_strong(expected, default_level(hw()));
    level = g_level.load(std::memory_order_relaxed);
  }
  return level;
}

extern "C" int fp8k_cpu_force_simd(int level) {
  const int h = hw();
  const int l = level < 0 ? default_level(h) : (level < h ? level : h);
  g_level.store(l, std::memory_order_relaxed);
  return l;
}

extern "C" const char* fp8k_cpu_simd_name(int level) {
  switch (level) {
    case FP8K_SIMD_AVX512_VBMI: return "avx512vbmi";
    case FP8K_SIMD_AVX512: return "avx512";
    case FP8K_SIMD_AVX2: return "avx2";
    default: return "scalar";
  }
}
