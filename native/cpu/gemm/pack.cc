// The cpu backend's packed B (layout in tiers.h): packWeights writes it once; a gemm given a plain B
// packs one per call the same way, so both give the same bits. B's layout (stored [N,K] or [K,N]) is
// undone here: every tier reads the packed form only. Where the CPU has AMX the bf16 tiles follow.
#include <string.h>

#include "../../common/gemm_packed.h"
#include "../ops.h"
#include "../simd.h"
#include "bf16_widen.h"

namespace fp8k::cpu {

PackedB::PackedB(const uint8_t* packed, const fp8k_gemm* p)
    : n(p->n), k(p->k), panels(fp8k_cdiv(p->n, kPanelCols)), kpairs(fp8k_cdiv(p->k, 2)), kbs(fp8k_cdiv(p->k, FP8K_GEMM_BLOCK)),
      steps(fp8k_cdiv(p->k, kStepK)), codes(packed + codes_offset()), scales(reinterpret_cast<const float*>(packed + scales_offset(p))) {
  fp8k_packed_header h;
  memcpy(&h, packed, sizeof h);
  if (h.bytes >= packed_bytes(p, true)) {
    uint32_t f;
    memcpy(&f, packed + bf16_offset(p), 4);
    folded = f != 0;
    bf16 = reinterpret_cast<const uint16_t*>(packed + bf16_offset(p) + 64);
  }
}

size_t PackedB::bf16_offset(const fp8k_gemm* p) {
  const size_t panels = fp8k_cdiv(p->n, kPanelCols), kbs = fp8k_cdiv(p->k, FP8K_GEMM_BLOCK);
  return scales_offset(p) + panels * kbs * kPanelCols * sizeof(float);
}

size_t packed_bytes(const fp8k_gemm* p, bool bf16) { return PackedB::bf16_offset(p) + (bf16 ? PackedB::bf16_bytes(p) : 0); }

bool amx_hardware() { return FP8K_HAVE_AMX && fp8k_cpu_hw_level() == FP8K_SIMD_AMX; }

size_t pack_b_bytes(const fp8k_gemm* p) { return packed_bytes(p, amx_hardware()); }

namespace {

void pack_panel(const uint8_t* b, const float* sb, const fp8k_gemm* p, uint8_t* codes, float* scales, size_t panel) {
  const size_t kpairs = fp8k_cdiv(p->k, 2), kbs = fp8k_cdiv(p->k, FP8K_GEMM_BLOCK);
  const size_t n0 = panel * kPanelCols, width = n0 + kPanelCols <= p->n ? kPanelCols : p->n - n0;
  uint8_t* out = codes + panel * kpairs * kPairBytes;
  // A column's two codes of a k pair are one 16-bit word of the pair (pair_byte keeps them adjacent).
  size_t word[kPanelCols];
  for (size_t j = 0; j < kPanelCols; j++) word[j] = pair_byte(2 * j) / 2;
  if (width < kPanelCols || p->k % 2) memset(out, 0, kpairs * kPairBytes);
  const size_t whole = p->k / 2;  // pairs with both codes inside K
  if (fp8k_gemm_b_transposed(p)) {  // [K, N]: the 32 columns of a row of k lie side by side
    for (size_t kp = 0; kp < kpairs; kp++) {
      const uint8_t* even = b + 2 * kp * p->n + n0;
      const uint8_t* odd = kp < whole ? even + p->n : nullptr;
      uint8_t* pair = out + kp * kPairBytes;
      for (size_t j = 0; j < width; j++) {
        pair[2 * word[j]] = even[j];
        pair[2 * word[j] + 1] = odd ? odd[j] : 0;
      }
    }
  } else {  // [N, K]: a column's K codes lie in a row; its pairs are 16-bit words of it
    // 256 pairs at a time (16 KiB of output, in L1) across the 32 rows, each row's next 512 bytes
    // fetched meanwhile: 32 short streams are more than the hardware prefetcher follows.
    for (size_t kp0 = 0; kp0 < whole; kp0 += 256) {
      const size_t kp1 = kp0 + 256 < whole ? kp0 + 256 : whole;
      for (size_t j = 0; j < width; j++) {
        const uint8_t* row = b + (n0 + j) * p->k;
        if (kp1 < whole)
          for (size_t o = 2 * kp1; o < 2 * kp1 + 512 && o < p->k; o += 64) __builtin_prefetch(row + o);
        uint8_t* dst = out + 2 * word[j];
        for (size_t kp = kp0; kp < kp1; kp++) {
          uint16_t w;
          memcpy(&w, row + 2 * kp, 2);
          memcpy(dst + kp * kPairBytes, &w, 2);
        }
      }
    }
    if (whole < kpairs)
      for (size_t j = 0; j < width; j++) out[whole * kPairBytes + 2 * word[j]] = b[(n0 + j) * p->k + p->k - 1];
  }
  float* s = scales + panel * kbs * kPanelCols;
  for (size_t kb = 0; kb < kbs; kb++)
    for (size_t j = 0; j < kPanelCols; j++) s[kb * kPanelCols + j] = j < width ? sb[fp8k_gemm_b_scale_index(p, n0 + j, kb)] : 0.0f;
}

}  // namespace

int pack_b_as(const uint8_t* b, const float* sb, const fp8k_gemm* p, uint8_t* packed, bool bf16, fp8k_call* call) {
  if (int s = fp8k_check_gemm(p, call)) return s;
  fp8k_packed_init(packed, kPackTag, p, packed_bytes(p, false));
  uint8_t* codes = packed + PackedB::codes_offset();
  float* scales = reinterpret_cast<float*>(packed + PackedB::scales_offset(p));
  const size_t panels = fp8k_cdiv(p->n, kPanelCols);
  over_tasks(panels, p->n * p->k, [&](size_t first, size_t last) {
    for (size_t panel = first; panel < last; panel++) pack_panel(b, sb, p, codes, scales, panel);
  });
  if (!bf16) return FP8K_OK;
  const PackedB fp8(packed, p);
  const uint32_t folded = b_scales_fold(fp8);
  uint8_t* head = packed + PackedB::bf16_offset(p);
  memset(head, 0, 64);
  memcpy(head, &folded, 4);
  fp8k_packed_init(packed, kPackTag, p, packed_bytes(p, true));
  const PackedB full(packed, p);
  const Bf16Tables w(p->b_format);
  const Regs t = regs(w);
  over_tasks(panels, p->n * p->k, [&](size_t first, size_t last) {
    for (size_t pn = first; pn < last; pn++) widen_b(t, full, pn, 0, full.kpairs, folded, const_cast<uint16_t*>(full.bf16_step(pn, 0)));
  });
  return FP8K_OK;
}

int pack_b(const uint8_t* b, const float* sb, const fp8k_gemm* p, uint8_t* packed, fp8k_call* call) {
  return pack_b_as(b, sb, p, packed, amx_hardware(), call);
}

}  // namespace fp8k::cpu
