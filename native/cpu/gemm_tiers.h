// The cpu GEMM's SIMD tiers (gemm.cc picks one from the SIMD level in force).
#pragma once
#include "../common/gemm_modes.h"

namespace fp8k::cpu {

// SPEC §4 'promoted' over the whole output, equal to ref bit for bit (gemm_avx512.cc).
void gemm_promoted_avx512(const fp8k_gemm_operands& o, const float* c, void* d);

}  // namespace fp8k::cpu
