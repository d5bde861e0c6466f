// What the cpu GEMM's files share: the packed B every 'promoted' tier reads (pack.cc), the widening
// tables, the output store and the split over threads. driver.cc picks a tier from the SIMD level.
#pragma once
#include <functional>

#include "../../common/gemm_modes.h"
#include "../parallel.h"

namespace fp8k::cpu {

// The cpu backend's packed B: panels of 32 columns (zero past N); in a panel, K in pairs (a zero code
// past K), each pair 64 bytes: (column j, k even) and (column j, k odd) side by side, which is the
// order vdpbf16ps and the AMX tiles take, stored in the byte order the widening's in-lane unpack
// restores (pair_byte); then each panel's scales, [K block][32 columns] f32 (zero past N).
constexpr size_t kPanelCols = 32, kPairBytes = 64;
constexpr const char* kPackTag = "cp1";

// Where element e (2·column + k parity) of a k pair sits among its 64 bytes: unpacklo/unpackhi of
// bytes interleave within 128-bit lanes, so lane L keeps elements 8L…8L+7 in its low half and
// 32+8L…32+8L+7 in its high half.
inline size_t pair_byte(size_t e) { return e < 32 ? (e / 8) * 16 + e % 8 : ((e - 32) / 8) * 16 + 8 + (e - 32) % 8; }

// On a CPU with AMX the packing also holds B widened to bf16 as the tiles take it (widen_b), after the
// scales: a 64-byte header (whether the scales were folded in) and [panels][steps of 16 pairs][16
// pairs][128 bytes]: 2 bytes a weight more, for tiles that would otherwise widen B again and again.
struct PackedB {
  size_t n, k, panels, kpairs, kbs, steps;
  const uint8_t* codes;  // [panels][kpairs][64]
  const float* scales;   // [panels][kbs][32]
  const uint16_t* bf16 = nullptr;  // the tiles' form, or none
  bool folded = false;             // bf16 holds each weight times its scale (all powers of two)
  PackedB(const uint8_t* packed, const fp8k_gemm* p);
  static size_t codes_offset() { return 64; }
  static size_t scales_offset(const fp8k_gemm* p) { return codes_offset() + fp8k_cdiv(p->n, kPanelCols) * fp8k_cdiv(p->k, 2) * kPairBytes; }
  static size_t bf16_offset(const fp8k_gemm* p);  // where the bf16 form's header starts
  static size_t bf16_bytes(const fp8k_gemm* p) { return 64 + fp8k_cdiv(p->n, kPanelCols) * fp8k_cdiv(p->k, 32) * 16 * 128; }
  // The bf16 tiles of pairs [16 s, 16 s + 16) of panel pn.
  const uint16_t* bf16_step(size_t pn, size_t s) const { return bf16 + (pn * steps + s) * 16 * 64; }
  const uint8_t* pair(size_t panel, size_t kp) const { return codes + (panel * kpairs + kp) * kPairBytes; }
  const float* panel_scales(size_t panel, size_t kb) const { return scales + (panel * kbs + kb) * kPanelCols; }
  uint8_t code(size_t col, size_t kk) const { return pair(col / kPanelCols, kk / 2)[pair_byte((col % kPanelCols) * 2 + kk % 2)]; }
  float scale(size_t col, size_t kb) const { return panel_scales(col / kPanelCols, kb)[col % kPanelCols]; }
};

// The packed size with or without the bf16 form; pack_b_bytes adds it where the CPU has AMX.
size_t packed_bytes(const fp8k_gemm* p, bool bf16);
int pack_b_as(const uint8_t* b, const float* sb, const fp8k_gemm* p, uint8_t* packed, bool bf16, fp8k_call* call);
bool amx_hardware();

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

// fn(first, last) over `tasks` independent pieces (panels, tiles) touching `elems` elements in all,
// split over the threads where that many elements are worth a thread, as for the other kernels.
inline void over_tasks(size_t tasks, size_t elems, const std::function<void(size_t, size_t)>& fn) {
  if (elems >= FP8K_PARALLEL_MIN)
    fp8k_parallel_tasks(tasks, fn);
  else
    fn(0, tasks);
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

// SPEC §4 'promoted' over the whole output from a packed B, one function per tier. The portable and
// fma tiers equal ref bit for bit (lanes across columns, each block sum over k in order); the bf16 tier
// sums each k pair as vdpbf16ps does (two f32 roundings); the amx tier's TDPBF16PS rounds less often
// than after every product, so its sums follow no simple f32 order (deterministic all the same).
void promoted_portable(const fp8k_gemm* p, const uint8_t* a, const float* sa, const PackedB& b, const float* c, void* d);
void promoted_fma(const fp8k_gemm* p, const uint8_t* a, const float* sa, const PackedB& b, const float* c, void* d);
void promoted_bf16(const fp8k_gemm* p, const uint8_t* a, const float* sa, const PackedB& b, const float* c, void* d);
void promoted_amx(const fp8k_gemm* p, const uint8_t* a, const float* sa, const PackedB& b, const float* c, void* d);

}  // namespace fp8k::cpu
