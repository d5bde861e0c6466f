// Development driver: the CUDA quantization kernels (native/cuda, run by the cuda-emu backend) against
// native/ref on random data, bit for bit. Build (from the repository root):
//   g++ -std=c++17 -O2 -ffp-contract=off -fexceptions -I. test/quant_emu/driver.cc native/ref/{cast,quantize,dequantize,cast_transpose}.cc
//       native/common/{quant_check,status}.cc native/emu/{backend,fiber,scheduler,warp,cp_async}.cc -o /tmp/quant_emu -lpthread
// Run: /tmp/quant_emu [seed] [quick]   (FP8KIT_EMU_ORDER=reverse for the reverse thread order)
// test/kernels-racecheck.test.ts builds it with the kernels under racecheck (native/emu/racecheck.cc).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "native/backend.h"
#include "native/common/quant_check.h"
#include "native/ref/ref.h"

static std::mt19937_64 rng;
static int failures = 0, cases = 0;

static float rnd_value(int kind) {
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  const float sign = (rng() & 1) ? -1.0f : 1.0f;
  switch (kind) {
    case 0: return sign * u(rng) * 4.0f;
    case 1: return sign * std::ldexp(1.0f + u(rng), (int)(rng() % 50) - 30);  // wide range
    case 2: return (rng() % 3 == 0) ? 0.0f : sign * std::ldexp(1.0f + u(rng), (int)(rng() % 20) - 140);  // f32 subnormal-ish
    default: return sign * std::ldexp(u(rng), 10);
  }
}

struct Case {
  size_t batch, rows, cols;
  int tr, g, format, sf, layout;
  float eps;
  int strict, bf16, nonfinite;  // nonfinite: 0 none, 1 NaN, 2 +inf, 3 -inf
};

static std::string describe(const Case& c) {
  char b[256];
  snprintf(b, sizeof b, "b=%zu %zux%zu tile %dx%d fmt=%d sf=%d layout=%d eps=%g strict=%d %s nonfinite=%d", c.batch, c.rows, c.cols,
           c.tr, c.g, c.format, c.sf, c.layout, c.eps, c.strict, c.bf16 ? "bf16" : "f32", c.nonfinite);
  return b;
}

static bool same_f32(const float* a, const float* b, size_t n, const char* what, const Case& c) {
  for (size_t i = 0; i < n; i++)
    if (memcmp(&a[i], &b[i], 4)) {
      printf("MISMATCH %s[%zu]: ref %g (%08x) emu %g (%08x) -- %s\n", what, i, a[i], fp8k_f32_bits(a[i]), b[i], fp8k_f32_bits(b[i]),
             describe(c).c_str());
      return false;
    }
  return true;
}
static bool same_u8(const uint8_t* a, const uint8_t* b, size_t n, const char* what, const Case& c) {
  for (size_t i = 0; i < n; i++)
    if (a[i] != b[i]) {
      printf("MISMATCH %s[%zu]: ref %02x emu %02x -- %s\n", what, i, a[i], b[i], describe(c).c_str());
      return false;
    }
  return true;
}

static void run_case(const Case& c, bool do_ct) {
  const fp8k_backend* emu = fp8k_backend_cuda_emu();
  cases++;
  const size_t n = c.batch * c.rows * c.cols;
  std::vector<float> xf(n);
  const int kind = rng() % 4;
  for (auto& v : xf) v = rnd_value(kind);
  // some all-zero tiles and some tiny ones
  if (n && rng() % 2) for (size_t i = 0; i < n / 5; i++) xf[rng() % n] = 0.0f;
  if (c.nonfinite && n) {
    const int k = 1 + rng() % 3;
    for (int i = 0; i < k; i++) xf[rng() % n] = c.nonfinite == 1 ? NAN : c.nonfinite == 2 ? INFINITY : -INFINITY;
  }
  std::vector<uint16_t> xb(n);
  for (size_t i = 0; i < n; i++) {
    xb[i] = fp8k_bf16_from_f32(xf[i]);
    if (c.bf16) xf[i] = fp8k_bf16_to_f32(xb[i]);
  }
  // an offset input (misaligned rows when the emu gets x + 1) is exercised by the odd shapes instead
  const void* x = c.bf16 ? (const void*)xb.data() : (const void*)xf.data();
  const int dt = c.bf16 ? FP8K_BF16 : FP8K_F32;
  fp8k_quant p{c.batch, c.rows, c.cols, c.tr, c.g, c.format, c.sf, c.layout, c.eps, c.strict};
  const size_t ns = fp8k_scale_count(&p);
  std::vector<uint8_t> q1(n, 0xFF), q2(n, 0xFF);
  std::vector<float> s1(ns + 1, -1.0f), s2(ns + 1, -2.0f);
  fp8k_call k1{}, k2{};
  const int r1 = fp8k::ref::quantize(x, dt, &p, q1.data(), s1.data(), &k1);
  const int r2 = emu->quantize(x, dt, &p, q2.data(), s2.data(), &k2);
  bool ok = true;
  if (r1 != r2 || (r1 && strcmp(k1.message, k2.message))) {
    printf("MISMATCH quantize status: ref %d '%s' emu %d '%s' -- %s\n", r1, k1.message, r2, k2.message, describe(c).c_str());
    ok = false;
  } else if (!r1) {
    ok = same_u8(q1.data(), q2.data(), n, "q", c) && same_f32(s1.data(), s2.data(), ns, "scales", c);
    if (ok) {  // dequantize, f32 and bf16
      for (int yd : {FP8K_F32, FP8K_BF16}) {
        const size_t es = yd == FP8K_F32 ? 4 : 2;
        std::vector<uint8_t> y1(n * es + 1, 0), y2(n * es + 1, 0xEE);
        const int d1 = fp8k::ref::dequantize(q1.data(), s1.data(), &p, y1.data(), yd, &k1);
        const int d2 = emu->dequantize(q1.data(), s1.data(), &p, y2.data(), yd, &k2);
        if (d1 != d2 || memcmp(y1.data(), y2.data(), n * es)) {
          printf("MISMATCH dequantize (%s) status %d %d -- %s\n", yd == FP8K_F32 ? "f32" : "bf16", d1, d2, describe(c).c_str());
          ok = false;
        }
      }
    }
  }
  if (ok && do_ct && c.batch == 1 && c.layout == FP8K_LAYOUT_ROW) {
    const fp8k_quant t = fp8k_transposed(&p);
    const size_t nsc = c.tr == 1 ? fp8k_scale_count(&t) : ns;
    std::vector<uint8_t> a1(n, 0xFF), a2(n, 0xFF), b1(n, 0xFF), b2(n, 0xFF);
    std::vector<float> sa1(ns, -1.f), sa2(ns, -2.f), sb1(nsc, -1.f), sb2(nsc, -2.f);
    const int c1 = fp8k::ref::cast_transpose(x, dt, &p, a1.data(), sa1.data(), b1.data(), sb1.data(), &k1);
    const int c2 = emu->cast_transpose(x, dt, &p, a2.data(), sa2.data(), b2.data(), sb2.data(), &k2);
    if (c1 != c2 || (c1 && strcmp(k1.message, k2.message))) {
      printf("MISMATCH castTranspose status: ref %d '%s' emu %d '%s' -- %s\n", c1, k1.message, c2, k2.message, describe(c).c_str());
      ok = false;
    } else if (!c1) {
      ok = same_u8(a1.data(), a2.data(), n, "ct.q_row", c) && same_f32(sa1.data(), sa2.data(), ns, "ct.s_row", c) &&
           same_u8(b1.data(), b2.data(), n, "ct.q_col", c) && same_f32(sb1.data(), sb2.data(), nsc, "ct.s_col", c);
    }
  }
  if (getenv("QE_VERBOSE")) printf("%s r=%d %s\n", ok ? "ok" : "FAIL", r1, describe(c).c_str());
  if (!ok) failures++;
}

int main(int argc, char** argv) {
  const unsigned long long seed = argc > 1 ? strtoull(argv[1], nullptr, 10) : 12345;
  const bool quick = argc > 2 && !strcmp(argv[2], "quick");
  rng.seed(seed);
  printf("quant_emu: seed %llu\n", seed);
  const int gs[] = {16, 32, 64, 128, 256, 512, 1024};
  const size_t dims[] = {1, 2, 3, 15, 16, 17, 31, 100, 128, 130, 200, 257};
  // 1 x G: every G, formats, scale formats, layouts, dtypes, odd shapes
  for (int g : gs) {
    for (int iter = 0; iter < (quick ? 6 : 16); iter++) {
      Case c{};
      c.batch = rng() % 4 == 0 ? 1 + rng() % 3 : 1;
      c.rows = dims[rng() % 12];
      c.cols = rng() % 3 == 0 ? (size_t)g * (1 + rng() % 3) : dims[rng() % 12] + (g > 128 ? rng() % (2 * g) : 0);
      c.tr = 1, c.g = g, c.format = rng() % 2, c.sf = rng() % 2;
      c.layout = c.batch == 1 && rng() % 3 == 0 ? FP8K_LAYOUT_MN_MAJOR : FP8K_LAYOUT_ROW;
      c.eps = rng() % 4 == 0 ? 1e-30f : 1e-4f;
      c.bf16 = rng() % 2, c.nonfinite = rng() % 4 == 0 ? 1 + rng() % 3 : 0, c.strict = c.nonfinite ? rng() % 2 : rng() % 4 == 0;
      if (c.rows * c.cols * c.batch > 300000) c.rows = 1 + 300000 / (c.cols * c.batch);
      run_case(c, true);
    }
  }
  // G x G
  for (int g : gs) {
    for (int iter = 0; iter < (quick ? 4 : 10); iter++) {
      Case c{};
      c.batch = rng() % 4 == 0 ? 1 + rng() % 2 : 1;
      const size_t lim = g <= 128 ? 300 : 2 * g + 40;
      c.rows = rng() % 3 == 0 ? (size_t)g : 1 + rng() % lim;
      c.cols = rng() % 3 == 0 ? (size_t)g * 2 : 1 + rng() % lim;
      if (g >= 512) c.rows = 1 + rng() % (g + 20), c.cols = 1 + rng() % 300;
      c.tr = g, c.g = g, c.format = rng() % 2, c.sf = rng() % 2, c.layout = FP8K_LAYOUT_ROW;
      c.eps = rng() % 4 == 0 ? 1e-30f : 1e-4f;
      c.bf16 = rng() % 2, c.nonfinite = rng() % 4 == 0 ? 1 + rng() % 3 : 0, c.strict = c.nonfinite ? rng() % 2 : 0;
      run_case(c, true);
    }
  }
  // mn-major must reject batch > 1 and G x G like the ref (status compare)
  run_case(Case{2, 5, 40, 1, 16, 0, 0, FP8K_LAYOUT_MN_MAJOR, 1e-4f, 0, 0, 0}, true);
  run_case(Case{1, 5, 40, 16, 16, 0, 0, FP8K_LAYOUT_MN_MAJOR, 1e-4f, 0, 0, 0}, true);
  run_case(Case{1, 5, 40, 1, 48, 0, 0, FP8K_LAYOUT_ROW, 1e-4f, 0, 0, 0}, true);
  printf("%s: %d cases, %d failures\n", failures ? "FAIL" : "OK", cases, failures);
  return failures ? 1 : 0;
}
