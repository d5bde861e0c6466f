// Which SIMD tier the cpu backend runs: picked once from cpuid, capped by the
// env var FP8KIT_SIMD=scalar|avx2|avx512|avx512vbmi|avx512bf16|amx, overridable by tests.
// avx512vbmi is avx512 plus the byte permutes of AVX512_VBMI (Ice Lake, Zen 4 and later), which
// only the bf16 quantize kernels use; every other kernel runs its avx512 form there.
// avx512bf16 adds AVX512_BF16 (vdpbf16ps) and amx the AMX-BF16 tiles: only the GEMM has tiers for
// them; the other kernels run at fp8k_cpu_vector_level(), which stops at avx512vbmi.
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

enum { FP8K_SIMD_SCALAR = 0, FP8K_SIMD_AVX2 = 1, FP8K_SIMD_AVX512 = 2, FP8K_SIMD_AVX512_VBMI = 3, FP8K_SIMD_AVX512_BF16 = 4, FP8K_SIMD_AMX = 5 };

// The level in force: 0 scalar, 1 avx2, 2 avx512 (F+BW+VL), 3 avx512vbmi, 4 avx512bf16, 5 amx.
int fp8k_cpu_simd_level(void);
// The highest level this CPU (and OS) supports, whatever FP8KIT_SIMD or a forced level says.
int fp8k_cpu_hw_level(void);
// The level for kernels without bf16 or tile forms: the level in force, at most avx512vbmi.
int fp8k_cpu_vector_level(void);
// Why the default level is what it is, where a rule or the OS lowered it below what the CPU has ("" otherwise).
const char* fp8k_cpu_simd_reason(void);
// Forces a level (tests, benchmarks), capped at what this CPU has; a negative
// level goes back to the default (cpuid capped by FP8KIT_SIMD). Returns the level in force.
int fp8k_cpu_force_simd(int level);
// "scalar", "avx2", "avx512", "avx512vbmi", "avx512bf16", "amx".
const char* fp8k_cpu_simd_name(int level);

#ifdef __cplusplus
}
#endif

// The amx tier is built where the tile state can be asked for (Linux's arch_prctl); elsewhere the level
// stops at avx512bf16, and GCC 12's tile intrinsics pass a 32-bit stride on Windows (long) anyway.
#if defined(__linux__) && defined(__x86_64__)
#define FP8K_HAVE_AMX 1
#else
#define FP8K_HAVE_AMX 0
#endif

// Target attributes for the per-tier kernels: the portable build never uses -march.
#define FP8K_TARGET_AVX2 __attribute__((target("avx2")))
#define FP8K_TARGET_AVX512 __attribute__((target("avx2,avx512f,avx512bw,avx512vl")))
#define FP8K_TARGET_AVX512_VBMI __attribute__((target("avx2,avx512f,avx512bw,avx512vl,avx512vbmi")))
#define FP8K_TARGET_AVX512_BF16 __attribute__((target("avx2,avx512f,avx512bw,avx512vl,avx512vbmi,avx512bf16")))
#define FP8K_TARGET_AMX __attribute__((target("avx2,avx512f,avx512bw,avx512vl,avx512vbmi,avx512bf16,amx-tile,amx-bf16")))
