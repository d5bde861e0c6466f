// mma.sync.aligned.m16n8k32.row.col.f32.{e4m3,e5m2}.{e4m3,e5m2}.f32 (sm_89+):
// D[16x8] = A[16x32] * B[32x8] + C, one warp, fp8 inputs, f32 accumulate.
// Fragments (PTX ISA, "Matrix Fragments for mma.m16n8k32"), g = lane>>2, t = lane&3:
//   A: a[0..3] hold bytes a0..a15 (low byte first); a_i is at
//      row g + 8*((i>>2)&1), col 4t + (i&3) + 16*(i>=8)
//   B: b[0..1] hold bytes b0..b7; b_i is at k = 4t + (i&3) + 16*(i>=4), n = g
//   C/D: c_i is at row g + 8*(i>=2), col 2t + (i&1)
// The emulation is a warp collective: all 32 lanes post their fragments and one
// combine computes D. Each fp8 product is exact (at most 8 significant bits per
// operand). How the 32 products of an output element and its C are added is
// chosen by the environment, read at every emulated instruction:
//   FP8KIT_EMU_MMA=exact (default)  summed in double and rounded once to f32.
//     That equals the device wherever the sums are exact (small integers: how
//     the tests pin the layout); elsewhere the device's narrower accumulator
//     differs, and a kernel that never promotes its accumulator passes.
//   FP8KIT_EMU_MMA=limited  SPEC §4 'limited', the Hopper FP8 tensor-core
//     accumulator (DeepSeek-V3 report §3.3): the instruction is one 32-element
//     K step, so the 32 products and C are aligned to the largest exponent among
//     them, truncated toward zero to FP8KIT_EMU_MMA_BITS (default 14) bits, and
//     summed exactly, then rounded to f32 — fp8k_limited_step of
//     native/common/accumulate.h, the same code as the CPU backends' 'limited'
//     mode, so a kernel that promotes every 128 of K as SPEC's promotionInterval
//     does gives ref's 'limited' bits.
// Any other value, or bits outside [1, 30] (SPEC's accumulatorBits range), is a Fault.
#pragma once
#include "ptx_common.cuh"
#include <stdlib.h>
#include <string.h>

#include "../../common/accumulate.h"
#include "../../common/fp8.h"

#if !defined(__CUDACC__)
namespace fp8k {
namespace emu {

struct MmaPost {
  const uint32_t* a;
  const uint32_t* b;
  const float* c;
  float* d;
};

// fp8 -> f32 by table: the combine decodes 768 bytes per instruction.
template <int F>
inline const float* fp8_table() {
  static const struct T {
    float v[256];
    T() {
      for (int i = 0; i < 256; ++i) v[i] = fp8k_to_f32((uint8_t)i, F);
    }
  } t;
  return t.v;
}

// FP8KIT_EMU_MMA / FP8KIT_EMU_MMA_BITS: 0 for exact, else the accumulator's bits.
inline int mma_limited_bits(const Loc& loc) {
  const char* mode = getenv("FP8KIT_EMU_MMA");
  if (!mode || !*mode || !strcmp(mode, "exact")) return 0;
  if (strcmp(mode, "limited")) fault(loc, "mma.sync.m16n8k32: FP8KIT_EMU_MMA=%s (expected exact or limited)", mode);
  const char* e = getenv("FP8KIT_EMU_MMA_BITS");
  if (!e || !*e) return 14;
  char* end;
  const long bits = strtol(e, &end, 10);
  if (*end || bits < 1 || bits > 30) fault(loc, "mma.sync.m16n8k32: FP8KIT_EMU_MMA_BITS=%s (expected an integer from 1 to 30)", e);
  return (int)bits;
}

template <int FA, int FB>
inline void mma_m16n8k32_combine(void* const* pp, unsigned, const Loc& loc) {
  MmaPost* const* p = reinterpret_cast<MmaPost* const*>(pp);
  const float* ta = fp8_table<FA>();
  const float* tb = fp8_table<FB>();
  float A[16][32], B[32][8];
  double C[16][8];
  for (int lane = 0; lane < 32; ++lane) {
    const int g = lane >> 2, t = lane & 3;
    for (int i = 0; i < 16; ++i)
      A[g + 8 * ((i >> 2) & 1)][4 * t + (i & 3) + 16 * (i >= 8)] =
          ta[(uint8_t)(p[lane]->a[i >> 2] >> (8 * (i & 3)))];
    for (int i = 0; i < 8; ++i)
      B[4 * t + (i & 3) + 16 * (i >= 4)][g] = tb[(uint8_t)(p[lane]->b[i >> 2] >> (8 * (i & 3)))];
    for (int i = 0; i < 4; ++i) C[g + 8 * (i >= 2)][2 * t + (i & 1)] = p[lane]->c[i];
  }
  // All of C is read before any D is written: d and c may be the same registers.
  const int bits = mma_limited_bits(loc);
  for (int m = 0; m < 16; ++m)
    for (int n = 0; n < 8; ++n) {
      if (bits) {
        double terms[32];
        for (int k = 0; k < 32; ++k) terms[k] = (double)A[m][k] * (double)B[k][n];
        C[m][n] = (double)fp8k_limited_step((float)C[m][n], terms, 32, bits);
        continue;
      }
      double s = C[m][n];
      for (int k = 0; k < 32; ++k) s += (double)A[m][k] * (double)B[k][n];
      C[m][n] = (double)(float)s;
    }
  for (int lane = 0; lane < 32; ++lane) {
    const int g = lane >> 2, t = lane & 3;
    for (int i = 0; i < 4; ++i) p[lane]->d[i] = (float)C[g + 8 * (i >= 2)][2 * t + (i & 1)];
  }
}

template <int FA, int FB>
struct MmaOp {
  static const Collective op;
};
template <int FA, int FB>
const Collective MmaOp<FA, FB>::op = {"mma.sync.m16n8k32", mma_m16n8k32_combine<FA, FB>};

}  // namespace emu
}  // namespace fp8k
#define FP8K_MMA_EMU(FA, FB)                                    \
  ::fp8k::emu::MmaPost post{a, b, c, d};                        \
  ::fp8k::emu::warp_collective(::fp8k::emu::MmaOp<FA, FB>::op, 0xFFFFFFFFu, &post, loc);
#endif

#define FP8K_MMA_ASM(ta, tb)                                                                       \
  asm volatile("mma.sync.aligned.m16n8k32.row.col.f32." ta "." tb ".f32 "                          \
               "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%11,%12,%13};"                         \
               : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])                                    \
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]),      \
                 "f"(c[1]), "f"(c[2]), "f"(c[3]))

namespace fp8k {
namespace ptx {

#if defined(__CUDA_ARCH__)
#define FP8K_MMA_BODY(ta, tb, FA, FB) FP8K_MMA_ASM(ta, tb);
#elif !defined(__CUDACC__)
#define FP8K_MMA_BODY(ta, tb, FA, FB) FP8K_MMA_EMU(FA, FB)
#else
#define FP8K_MMA_BODY(ta, tb, FA, FB)
#endif

#define FP8K_MMA_WRAPPER(name, ta, tb, FA, FB)                                                       \
  FP8K_PTX_DEV void name(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2],               \
                         const float (&c)[4] FP8K_PTX_LOC) {                                          \
    FP8K_MMA_BODY(ta, tb, FA, FB)                                                                     \
  }

FP8K_MMA_WRAPPER(mma_m16n8k32_e4m3_e4m3, "e4m3", "e4m3", FP8K_FORMAT_E4M3, FP8K_FORMAT_E4M3)
FP8K_MMA_WRAPPER(mma_m16n8k32_e5m2_e5m2, "e5m2", "e5m2", FP8K_FORMAT_E5M2, FP8K_FORMAT_E5M2)
FP8K_MMA_WRAPPER(mma_m16n8k32_e4m3_e5m2, "e4m3", "e5m2", FP8K_FORMAT_E4M3, FP8K_FORMAT_E5M2)
FP8K_MMA_WRAPPER(mma_m16n8k32_e5m2_e4m3, "e5m2", "e4m3", FP8K_FORMAT_E5M2, FP8K_FORMAT_E4M3)

#undef FP8K_MMA_WRAPPER
#undef FP8K_MMA_BODY

// The wrapper for formats known at compile time (FP8K_FORMAT_E4M3 / _E5M2 for A and for B).
#if defined(__CUDACC__)
#define FP8K_MMA_LOC
#else
#define FP8K_MMA_LOC , loc
#endif
template <int FA, int FB>
FP8K_PTX_DEV void mma_m16n8k32(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2], const float (&c)[4] FP8K_PTX_LOC) {
  if constexpr (FA == FP8K_FORMAT_E4M3 && FB == FP8K_FORMAT_E4M3) mma_m16n8k32_e4m3_e4m3(d, a, b, c FP8K_MMA_LOC);
  else if constexpr (FA == FP8K_FORMAT_E4M3) mma_m16n8k32_e4m3_e5m2(d, a, b, c FP8K_MMA_LOC);
  else if constexpr (FB == FP8K_FORMAT_E4M3) mma_m16n8k32_e5m2_e4m3(d, a, b, c FP8K_MMA_LOC);
  else mma_m16n8k32_e5m2_e5m2(d, a, b, c FP8K_MMA_LOC);
}
#undef FP8K_MMA_LOC

}  // namespace ptx
}  // namespace fp8k
