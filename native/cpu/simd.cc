#include "simd.h"

#include <cpuid.h>
#ifdef __linux__
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include <atomic>
#include <stdlib.h>
#include <string.h>

namespace {

const char* g_reason = "";

bool cpuid_bit(unsigned leaf, unsigned sub, int reg, int bit) {
  unsigned r[4] = {0, 0, 0, 0};
  if (!__get_cpuid_count(leaf, sub, &r[0], &r[1], &r[2], &r[3])) return false;
  return (r[reg] >> bit) & 1;
}

bool intel() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  __get_cpuid(0, &a, &b, &c, &d);
  return b == 0x756e6547 && d == 0x49656e69 && c == 0x6c65746e;  // "GenuineIntel"
}

// Linux hands out the AMX tile state only on request, once per process (ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA).
bool amx_permitted() {
#ifdef __linux__
  return syscall(SYS_arch_prctl, 0x1023, 18) == 0;
#else
  return false;
#endif
}

// What the CPU (and the OS, for the zmm and tile state) supports. __builtin_cpu_supports checks XCR0 as
// well as cpuid. avx512bf16 needs vbmi too (its GEMM widens fp8 codes with vpermi2b): Cooper Lake,
// which has bf16 without vbmi, stays at avx512.
int hardware_level() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) {
    if (!__builtin_cpu_supports("avx512vbmi")) return FP8K_SIMD_AVX512;
    if (!cpuid_bit(7, 1, 0, 5)) return FP8K_SIMD_AVX512_VBMI;  // AVX512_BF16: leaf 7.1 EAX bit 5
    if (!cpuid_bit(7, 0, 3, 24) || !cpuid_bit(7, 0, 3, 22)) return FP8K_SIMD_AVX512_BF16;  // AMX-TILE, AMX-BF16: leaf 7.0 EDX
    if (!amx_permitted()) {
      g_reason = "the CPU has AMX but Linux refused the tile state (arch_prctl ARCH_REQ_XCOMP_PERM)";
      return FP8K_SIMD_AVX512_BF16;
    }
    return FP8K_SIMD_AMX;
  }
  if (__builtin_cpu_supports("avx2")) return FP8K_SIMD_AVX2;
  return FP8K_SIMD_SCALAR;
}

// FP8KIT_SIMD caps the level; an unknown value is ignored. Without it, an Intel CPU that cannot run
// AMX stops at avx512vbmi: vdpbf16ps ran at half the f32 FMA rate on this project's Intel machine
// (142 against 276 GFLOP/s), where AMD Zen 4 runs it at twice the FMA rate (433-465 against 227 GFLOP/s
// measured on this project's AMD machine, native/cpu/peak.cc).
int default_level(int hw) {
  const char* env = getenv("FP8KIT_SIMD");
  int cap = hw;
  if (env) {
    if (!strcmp(env, "scalar")) cap = FP8K_SIMD_SCALAR;
    else if (!strcmp(env, "avx2")) cap = FP8K_SIMD_AVX2;
    else if (!strcmp(env, "avx512")) cap = FP8K_SIMD_AVX512;
    else if (!strcmp(env, "avx512vbmi")) cap = FP8K_SIMD_AVX512_VBMI;
    else if (!strcmp(env, "avx512bf16")) cap = FP8K_SIMD_AVX512_BF16;
    else if (!strcmp(env, "amx")) cap = FP8K_SIMD_AMX;
  }
  if (hw == FP8K_SIMD_AVX512_BF16 && cap >= hw && intel()) {
    cap = FP8K_SIMD_AVX512_VBMI;
    if (!*g_reason) g_reason = "Intel without AMX: its vdpbf16ps is slower than f32 FMA, so the GEMM runs FMA (FP8KIT_SIMD=avx512bf16 forces it)";
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

extern "C" int fp8k_cpu_hw_level(void) { return hw(); }

extern "C" int fp8k_cpu_force_simd(int level) {
  const int h = hw();
  const int l = level < 0 ? default_level(h) : (level < h ? level : h);
  g_level.store(l, std::memory_order_relaxed);
  return l;
}

extern "C" int fp8k_cpu_vector_level(void) {
  const int level = fp8k_cpu_simd_level();
  return level < FP8K_SIMD_AVX512_VBMI ? level : FP8K_SIMD_AVX512_VBMI;
}

extern "C" const char* fp8k_cpu_simd_reason(void) {
  hw();
  return g_reason;
}

extern "C" const char* fp8k_cpu_simd_name(int level) {
  switch (level) {
    case FP8K_SIMD_AMX: return "amx";
    case FP8K_SIMD_AVX512_BF16: return "avx512bf16";
    case FP8K_SIMD_AVX512_VBMI: return "avx512vbmi";
    case FP8K_SIMD_AVX512: return "avx512";
    case FP8K_SIMD_AVX2: return "avx2";
    default: return "scalar";
  }
}
