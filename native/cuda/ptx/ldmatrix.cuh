// ldmatrix.sync.aligned.m8n8.{x1,x2,x4}[.trans].shared.b16 (sm_75+): a warp
// loads one, two or four 8x8 matrices of 16-bit elements from shared memory.
// Lane 8*m + r gives the address of row r of matrix m (16 bytes, 16-aligned;
// lanes past 8*num are ignored). Lane l receives in r[m] the two elements
// (row l/4, cols 2*(l%4), 2*(l%4)+1) of matrix m, the lower column in the low
// half; with .trans, those of the transposed matrix: (rows 2*(l%4), 2*(l%4)+1,
// col l/4). 8-bit data has no .trans form.
#pragma once
#include "ptx_common.cuh"

#if !defined(__CUDACC__)
#include <cstring>
namespace fp8k {
namespace emu {

struct LdmatrixPost {
  const unsigned char* row;
  uint32_t* r;
};

template <int N, bool T>
inline void ldmatrix_combine(void* const* pp, unsigned, const Loc& loc) {
  LdmatrixPost* const* p = reinterpret_cast<LdmatrixPost* const*>(pp);
  for (int lane = 0; lane < 8 * N; ++lane)
    if ((uintptr_t)p[lane]->row % 16 || !in_shared(p[lane]->row, 16))
      fault(loc, "ldmatrix: lane %d's row address %p is not 16-byte aligned shared memory", lane,
            (const void*)p[lane]->row);
  if (g_profile) {
    const unsigned char* rows[32];
    for (int lane = 0; lane < 8 * N; ++lane) rows[lane] = p[lane]->row;
    profile_shared_rows(rows, 8 * N, 16);
  }
  for (int lane = 0; lane < 32; ++lane)
    for (int m = 0; m < N; ++m) {
      uint16_t e[2];
      for (int h = 0; h < 2; ++h) {
        const int row = T ? 2 * (lane & 3) + h : lane >> 2, col = T ? lane >> 2 : 2 * (lane & 3) + h;
        memcpy(&e[h], p[8 * m + row]->row + 2 * col, 2);
      }
      p[lane]->r[m] = (uint32_t)e[0] | (uint32_t)e[1] << 16;
    }
}

template <int N, bool T>
struct LdmatrixOp {
  static const Collective op;
};
template <int N, bool T>
const Collective LdmatrixOp<N, T>::op = {"ldmatrix", ldmatrix_combine<N, T>};

}  // namespace emu
}  // namespace fp8k
#endif

namespace fp8k {
namespace ptx {

#if defined(__CUDA_ARCH__)
#define FP8K_LDM_ADDR const unsigned s = (unsigned)__cvta_generic_to_shared(smem_row);
#define FP8K_LDM(N, T, ...) FP8K_LDM_ADDR asm volatile(__VA_ARGS__);
#elif !defined(__CUDACC__)
#define FP8K_LDM(N, T, ...)                                                                 \
  ::fp8k::emu::LdmatrixPost post{static_cast<const unsigned char*>(smem_row), r};          \
  ::fp8k::emu::warp_collective(::fp8k::emu::LdmatrixOp<N, T>::op, 0xFFFFFFFFu, &post, loc);
#else
#define FP8K_LDM(N, T, ...)
#endif

FP8K_PTX_DEV void ldmatrix_x1(uint32_t (&r)[1], const void* smem_row FP8K_PTX_LOC) {
  FP8K_LDM(1, false, "ldmatrix.sync.aligned.m8n8.x1.shared.b16 {%0}, [%1];" : "=r"(r[0]) : "r"(s))
}
FP8K_PTX_DEV void ldmatrix_x2(uint32_t (&r)[2], const void* smem_row FP8K_PTX_LOC) {
  FP8K_LDM(2, false, "ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];" : "=r"(r[0]), "=r"(r[1]) : "r"(s))
}
FP8K_PTX_DEV void ldmatrix_x4(uint32_t (&r)[4], const void* smem_row FP8K_PTX_LOC) {
  FP8K_LDM(4, false, "ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
           : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(s))
}
FP8K_PTX_DEV void ldmatrix_x1_trans(uint32_t (&r)[1], const void* smem_row FP8K_PTX_LOC) {
  FP8K_LDM(1, true, "ldmatrix.sync.aligned.m8n8.x1.trans.shared.b16 {%0}, [%1];" : "=r"(r[0]) : "r"(s))
}
FP8K_PTX_DEV void ldmatrix_x2_trans(uint32_t (&r)[2], const void* smem_row FP8K_PTX_LOC) {
  FP8K_LDM(2, true, "ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];" : "=r"(r[0]), "=r"(r[1]) : "r"(s))
}
FP8K_PTX_DEV void ldmatrix_x4_trans(uint32_t (&r)[4], const void* smem_row FP8K_PTX_LOC) {
  FP8K_LDM(4, true, "ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
           : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(s))
}

#undef FP8K_LDM
#undef FP8K_LDM_ADDR

}  // namespace ptx
}  // namespace fp8k
