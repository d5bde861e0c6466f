// B's packed fp8 pairs as the AMX tier's bf16 tiles: packWeights stores them so on AMX machines
// (pack.cc), and the tier widens a K chunk at a time where a packed B has none or M is small.
#include "bf16_widen.h"

namespace fp8k::cpu {

FP8K_TARGET_AVX512_BF16 void widen_b(const Regs& t, const PackedB& b, size_t pn, size_t kp0, size_t kp1, bool fold, uint16_t* out) {
  constexpr size_t kBlockPairs = FP8K_GEMM_BLOCK / 2;
  __m512i shift0 = _mm512_setzero_si512(), shift1 = shift0;
  for (size_t kp = kp0; kp < kp1; kp++) {
    if (fold && (kp == kp0 || kp % kBlockPairs == 0)) {
      // The 32 columns' exponents for this K block, each twice (a column's even and odd k).
      alignas(64) int16_t e[2 * kPanelCols];
      const float* s = b.panel_scales(pn, kp / kBlockPairs);
      for (size_t j = 0; j < kPanelCols; j++) e[2 * j] = e[2 * j + 1] = (int16_t)(j < b.n - pn * kPanelCols ? fold_exponent(s[j]) * 128 : 0);
      shift0 = _mm512_load_si512(e);
      shift1 = _mm512_load_si512(e + kPanelCols);
    }
    __m512bh b0, b1;
    widen_pair(t, b.pair(pn, kp), &b0, &b1);
    __m512i v0 = (__m512i)b0, v1 = (__m512i)b1;
    if (fold) v0 = fold_vec(v0, shift0), v1 = fold_vec(v1, shift1);
    _mm512_store_si512(out + (kp - kp0) * 64, v0);
    _mm512_store_si512(out + (kp - kp0) * 64 + 32, v1);
  }
  for (size_t kp = kp1; (kp - kp0) % (kStepK / 2); kp++) {
    _mm512_store_si512(out + (kp - kp0) * 64, _mm512_setzero_si512());
    _mm512_store_si512(out + (kp - kp0) * 64 + 32, _mm512_setzero_si512());
  }
}

bool b_scales_fold(const PackedB& b) {
  for (size_t pn = 0; pn < b.panels; pn++)
    for (size_t kb = 0; kb < b.kbs; kb++)
      for (size_t j = 0; j < kPanelCols && pn * kPanelCols + j < b.n; j++)
        if (fold_exponent(b.panel_scales(pn, kb)[j]) == kNoFold) return false;
  return true;
}

}  // namespace fp8k::cpu
