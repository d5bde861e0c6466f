// Instruction peaks for the GEMM benchmark (peak.cc).
#pragma once

enum { FP8K_PEAK_FMA = 0, FP8K_PEAK_BF16 = 1, FP8K_PEAK_AMX = 2 };

// GFLOP/s of `kind` on every cpu-backend thread for a few milliseconds; 0 where the SIMD level in
// force does not run it.
double fp8k_cpu_peak_gflops(int kind);
