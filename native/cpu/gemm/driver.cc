// SPEC §4 on the cpu backend. 'promoted' reads B packed (pack.cc: from packWeights, or packed for
// the call) and runs the tier of the SIMD level in force: amx (TDPBF16PS tiles, from 8 rows of A),
// avx512bf16 (vdpbf16ps), avx512 (f32 FMA), or the portable loops. 'exact' and 'limited' run SPEC's
// element functions (native/common/gemm_modes.h), as ref does, so they give ref's bits.
#include <memory>
#include <vector>

#include "../../common/gemm_packed.h"
#include "../ops.h"
#include "../simd.h"
#include "tiers.h"

namespace fp8k::cpu {

namespace {

// Below this many rows the AMX tier's tiles would be mostly empty: the rows go to vdpbf16ps, which reads
// one byte per weight at memory speed (M = 1: 78% of the copy on the Intel machine). From 8 rows the
// tiles (rows set to M) compute more than vdpbf16ps, which runs at half the FMA rate there.
constexpr size_t kAmxMinRows = 8;

// The AMX tier was written and checked against an emulation of the tiles on a CPU without them. The
// first time it would run, a 40 × 40 × 200 GEMM through it must match the vdpbf16ps tier (calcDiff
// < 1e-10, as SPEC's bar against 'exact'); if not, the process keeps to vdpbf16ps and gemm_path says why.
bool amx_checked() {
#if !FP8K_HAVE_AMX
  return false;
#else
  static const bool ok = [] {
    fp8k_gemm p{};
    p.m = 40, p.n = 40, p.k = 200;
    p.a_format = p.b_format = FP8K_FORMAT_E4M3;
    p.out_dtype = FP8K_F32;
    std::vector<uint8_t> a(p.m * p.k), b(p.n * p.k), packed(pack_b_bytes(&p));
    std::vector<float> sb(2, 0.25f), x(p.m * p.n), y(p.m * p.n);
    uint32_t s = 12345;
    for (auto* v : {&a, &b})
      for (auto& c : *v) {
        s = s * 1664525u + 1013904223u;
        c = (uint8_t)((s >> 24) % 0x7E) | (uint8_t)(s & 0x80);  // finite codes of both signs
      }
    fp8k_call call{};
    if (pack_b(b.data(), sb.data(), &p, packed.data(), &call)) return false;
    const PackedB pb(packed.data(), &p);
    // A's scales 0.3 (promoted per block) and 0.5 (powers of two: folded into the operands).
    for (float scale : {0.3f, 0.5f}) {
      std::vector<float> sa(p.m * 2, scale);
      promoted_amx(&p, a.data(), sa.data(), pb, nullptr, x.data());
      promoted_bf16(&p, a.data(), sa.data(), pb, nullptr, y.data());
      double xy = 0, sq = 0;
      for (size_t i = 0; i < x.size(); i++) xy += (double)x[i] * y[i], sq += (double)x[i] * x[i] + (double)y[i] * y[i];
      if (!(sq > 0 && 1 - 2 * xy / sq < 1e-10)) return false;
    }
    return true;
  }();
  return ok;
#endif
}

int tier(size_t m) {
  const int level = fp8k_cpu_simd_level();
  if (level == FP8K_SIMD_AMX && (m < kAmxMinRows || !amx_checked())) return FP8K_SIMD_AVX512_BF16;
  return level;
}

// 'exact' / 'limited' element by element over panels; a packed B is first laid out plain again.
void elementwise(const fp8k_gemm* p, const uint8_t* a, const float* sa, const uint8_t* b, const float* sb, const float* c, void* d) {
  fp8k_gemm q = *p;
  std::vector<uint8_t> plain;
  std::vector<float> plain_scales;
  if (p->b_packed) {
    const PackedB pb(b, p);
    plain.resize(p->n * p->k);
    plain_scales.resize(p->n * pb.kbs);
    for (size_t n = 0; n < p->n; n++) {
      for (size_t k = 0; k < p->k; k++) plain[n * p->k + k] = pb.code(n, k);
      for (size_t kb = 0; kb < pb.kbs; kb++) plain_scales[n * pb.kbs + kb] = pb.scale(n, kb);
    }
    q.layout = fp8k_gemm_a_transposed(p) ? FP8K_GEMM_TT : FP8K_GEMM_NT;
    q.b_scales = FP8K_B_LINES;
    b = plain.data();
    sb = plain_scales.data();
  }
  const fp8k_gemm_operands o{&q, a, b, sa, sb};
  over_panels(&q, kPanelCols, [&](size_t first, size_t last) {
    const size_t n1 = last * kPanelCols < q.n ? last * kPanelCols : q.n;
    for (size_t m = 0; m < q.m; m++)
      for (size_t n = first * kPanelCols; n < n1; n++) store_out(d, q.out_dtype, m * q.n + n, fp8k_gemm_element(o, c, m, n));
  });
}

}  // namespace

const char* gemm_path(void) {
  switch (tier(kAmxMinRows)) {
    case FP8K_SIMD_AMX: return "amx (TDPBF16PS, vdpbf16ps below 8 rows)";
    case FP8K_SIMD_AVX512_BF16:
      return fp8k_cpu_simd_level() == FP8K_SIMD_AMX ? "avx512bf16 (vdpbf16ps: the AMX tier failed its self-check)" : "avx512bf16 (vdpbf16ps)";
    case FP8K_SIMD_AVX512_VBMI:
    case FP8K_SIMD_AVX512: return "avx512 (f32 FMA)";
    default: return "portable (f32)";
  }
}

int gemm(const uint8_t* a, const float* sa, const uint8_t* b, const float* sb, const float* c, void* d, const fp8k_gemm* p,
         fp8k_call* call) {
  if (int s = fp8k_check_gemm(p, call)) return s;
  if (p->b_packed)
    if (int s = fp8k_packed_check(b, kPackTag, p, call)) return s;
  if (p->accumulate != FP8K_ACC_PROMOTED) {
    elementwise(p, a, sa, b, sb, c, d);
    return FP8K_OK;
  }
  std::unique_ptr<uint8_t[]> own;
  if (!p->b_packed) {
    own.reset(new (std::nothrow) uint8_t[pack_b_bytes(p)]);
    if (!own) return fp8k_fail(call, FP8K_ERR_OUT_OF_MEMORY, "gemm: no memory to pack B (%zu bytes)", pack_b_bytes(p));
    if (int s = pack_b(b, sb, p, own.get(), call)) return s;
    b = own.get();
  }
  const PackedB pb(b, p);
  switch (tier(p->m)) {
#if FP8K_HAVE_AMX
    case FP8K_SIMD_AMX: promoted_amx(p, a, sa, pb, c, d); break;
#endif
    case FP8K_SIMD_AVX512_BF16: promoted_bf16(p, a, sa, pb, c, d); break;
    case FP8K_SIMD_AVX512_VBMI:
    case FP8K_SIMD_AVX512: promoted_fma(p, a, sa, pb, c, d); break;
    default: promoted_portable(p, a, sa, pb, c, d);
  }
  return FP8K_OK;
}

}  // namespace fp8k::cpu
