// The AMX tier (native/cpu/gemm/amx.cc) on emulated tiles (emulate.h) against SPEC §4 'exact' on
// random FP8 operands: every layout of A, 1D2D and 1D1D B, K and M tails (M from 1, below 16, several
// row blocks and panel groups), bf16 and f32 out, C; B's tiles from the packing's bf16 form or widened
// per chunk (the two must give the same bits), scales promoted per block or, all powers of two, folded.
// Prints one line per case and "amx: N failures"; exits non-zero on a failure.
#define FP8K_AMX_EMULATE "../../../test/amx/emulate.h"
#include "../../native/cpu/gemm/amx.cc"
#include "../../native/cpu/ops.h"

#include <math.h>

#include <random>
#include <vector>

int main(int argc, char** argv) {
  const unsigned seed = argc > 1 ? (unsigned)strtoul(argv[1], nullptr, 10) : 1;
  std::mt19937 rng(seed);
  printf("amx emulation seed %u\n", seed);
  // Codes of finite values only (e4m3 has NaN, e5m2 also infinities).
  auto code = [&](int format) {
    uint8_t c;
    do c = (uint8_t)rng(); while (!isfinite(fp8k_to_f32(c, format)));
    return c;
  };
  bool pow2 = false;
  auto scale = [&]() { return ldexpf(pow2 ? 1.0f : 1.0f + (float)(rng() % 1000) / 1000.0f, (int)(rng() % 9) - 4); };
  int failures = 0, cases = 0;
  const size_t shapes[][3] = {{1, 1, 1},      {8, 40, 256},    {13, 33, 200},   {31, 33, 31},    {32, 32, 32},
                              {33, 70, 130},  {70, 64, 600},   {130, 70, 300},  {300, 40, 129},  {64, 100, 1030},
                              {600, 300, 520}};
  for (const auto& sh : shapes)
    for (int layout : {FP8K_GEMM_NT, FP8K_GEMM_TN})
      for (int lines : {0, 1}) {
        // Over every 16 cases, each combination of layout, B's scaling, B's form and the scales' kind.
        pow2 = ((cases >> 3) ^ (cases >> 1)) & 1;  // scales: per block, or folded
        const bool tiles = ((cases >> 2) ^ cases) & 1;  // B's bf16 form in the packing, or widened per chunk
        fp8k_gemm p{};
        p.m = sh[0], p.n = sh[1], p.k = sh[2];
        p.layout = layout;
        p.a_format = FP8K_FORMAT_E4M3, p.b_format = rng() % 2 ? FP8K_FORMAT_E5M2 : FP8K_FORMAT_E4M3;
        p.b_scales = lines ? FP8K_B_LINES : FP8K_B_BLOCKS;
        p.out_dtype = cases % 2 ? FP8K_BF16 : FP8K_F32;
        p.has_c = cases % 3 == 0;
        std::vector<uint8_t> a(p.m * p.k), b(p.n * p.k);
        for (auto& x : a) x = code(p.a_format);
        for (auto& x : b) x = code(p.b_format);
        std::vector<float> sa(fp8k_gemm_a_scale_count(&p)), sb(fp8k_gemm_b_scale_count(&p)), c(p.m * p.n);
        for (auto& x : sa) x = scale();
        for (auto& x : sb) x = scale();
        for (auto& x : c) x = (float)((int)(rng() % 2001) - 1000);
        std::vector<uint8_t> packed(fp8k::cpu::packed_bytes(&p, tiles)), other(fp8k::cpu::packed_bytes(&p, !tiles));
        fp8k_call call{};
        if (fp8k::cpu::pack_b_as(b.data(), sb.data(), &p, packed.data(), tiles, &call) ||
            fp8k::cpu::pack_b_as(b.data(), sb.data(), &p, other.data(), !tiles, &call)) {
          printf("pack failed: %s\n", call.message);
          return 2;
        }
        p.b_packed = 1;
        const fp8k::cpu::PackedB pb(packed.data(), &p), po(other.data(), &p);
        if (!pb.bf16 != !tiles || (tiles && pb.folded != pow2)) {
          printf("FAIL the packing's bf16 form: present %d folded %d\n", !!pb.bf16, pb.bf16 ? (int)pb.folded : -1);
          return 2;
        }
        std::vector<uint32_t> d(p.m * p.n), d2(p.m * p.n);
        fp8k::cpu::promoted_amx(&p, a.data(), sa.data(), pb, p.has_c ? c.data() : nullptr, d.data());
        fp8k::cpu::promoted_amx(&p, a.data(), sa.data(), po, p.has_c ? c.data() : nullptr, d2.data());
        const bool same = d == d2;
        // 'exact' on the same operands, B read back through the unpacked layout.
        fp8k_gemm q = p;
        q.b_packed = 0;
        q.accumulate = FP8K_ACC_EXACT;
        const fp8k_gemm_operands o{&q, a.data(), b.data(), sa.data(), sb.data()};
        double xy = 0, sq = 0;
        for (size_t m = 0; m < p.m; m++)
          for (size_t n = 0; n < p.n; n++) {
            const double want = fp8k_gemm_exact(o, m, n) + (p.has_c ? c[m * p.n + n] : 0.0);
            const size_t i = m * p.n + n;
            float got;
            if (p.out_dtype == FP8K_BF16)
              got = fp8k_bf16_to_f32(reinterpret_cast<uint16_t*>(d.data())[i]);
            else
              memcpy(&got, &d[i], 4);
            xy += got * want;
            sq += (double)got * got + want * want;
          }
        const double diff = sq == 0 ? 0 : 1 - 2 * xy / sq;
        const double bar = p.out_dtype == FP8K_BF16 ? 1e-4 : 1e-10;
        const bool ok = diff < bar && same;
        failures += !ok;
        cases++;
        printf("%s [%zu, %zu, %zu] %s B %s out %s%s, B %s, scales %s: calcDiff %.3g (bar %.0e)%s\n", ok ? "ok" : "FAIL", p.m, p.n, p.k,
               layout == FP8K_GEMM_NT ? "nt" : "tn", lines ? "1x128" : "128x128", p.out_dtype == FP8K_BF16 ? "bf16" : "f32", p.has_c ? " +C" : "",
               tiles ? "bf16 tiles" : "widened", pow2 ? "folded" : "promoted", diff, bar, same ? "" : "; the other B form gave other bits");
      }
  printf("amx: %d cases, %d failures, %ld tile products\n", cases, failures, amx_emu::dp_count);
  return failures ? 1 : 0;
}
