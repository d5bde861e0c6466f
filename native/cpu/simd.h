// Which SIMD tier the cpu backend runs: picked once from cpuid, capped by the
// env var FP8KIT_SIMD=scalar|avx2|avx512|avx512vbmi, overridable by tests.
// avx512vbmi is avx512 plus the byte permutes of AVX512_VBMI (Ice Lake, Zen 4 and later), which
// only the bf16 quantize kernels use; every other kernel runs its avx512 form there.
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

enum { FP8K_SIMD_SCALAR = 0, FP8K_SIMD_AVX2 = 1, FP8K_SIMD_AVX512 = 2, FP8K_SIMD_AVX512_VBMI = 3 };

// The level in force: 0 scalar, 1 avx2, 2 avx512 (F+BW+VL), 3 avx512vbmi.
int fp8k_cpu_simd_level(void);
// Forces a level (tests, benchmarks), capped at what this CPU has; a negative
// level goes back to the default (cpuid capped by FP8KIT_SIMD). Returns the level in force.
int fp8k_cpu_force_simd(int level);
// "scalar", "avx2", "avx512", "avx512vbmi".
const char* fp8k_cpu_simd_name(int level);

#ifdef __cplusplus
}
#endif

// Target attributes for the per-tier kernels: the portable build never uses -march.
#define FP8K_TARGET_AVX2 __attribute__((target("avx2")))
#define FP8K_TARGET_AVX512 __attribute__((target("avx2,avx512f,avx512bw,avx512vl")))
