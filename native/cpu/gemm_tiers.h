// What the cpu GEMM's tiers share (gemm.cc picks one from the SIMD level in force).
#pragma once
#include <functional>

#include "../common/gemm_modes.h"
#include "parallel.h"

namespace fp8k::cpu {

// The f32 value of every code of a format: exact, subnormals included.
struct Widen {
  float table[256];
  explicit Widen(int format) {
    for (int c = 0; c < 256; c++) table[c] = fp8k_to_f32((uint8_t)c, format);
  }
};

// Output element i as f32, or rounded to bf16.
inline void store_out(void* d, int dtype, size_t i, float v) {
  if (dtype == FP8K_BF16)
    static_cast<uint16_t*>(d)[i] = fp8k_bf16_from_f32(v);
  else
    static_cast<float*>(d)[i] = v;
}

// fn(first, last) over the output's column panels of `width` columns, split over the threads unless
// the GEMM is below about a million multiply-adds, where a thread costs more than it saves.
inline void over_panels(const fp8k_gemm* p, size_t width, const std::function<void(size_t, size_t)>& fn) {
  const size_t panels = fp8k_cdiv(p->n, width);
  if ((double)p->m * p->n * p->k >= 1e6)
    fp8k_parallel_tasks(panels, fn);
  else
    fn(0, panels);
}

// SPEC §4 'promoted' over the whole output, equal to ref bit for bit (gemm_avx512.cc).
void gemm_promoted_avx512(const fp8k_gemm_operands& o, const float* c, void* d);

}  // namespace fp8k::cpu
