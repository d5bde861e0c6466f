// Kernel-level check of the CUDA MoE kernels (native/cuda/{route,dispatch_layout,copy_rows,reduce_rows}.cuh,
// run by the cuda-emu backend) against native/ref, bit for bit, on seeded random inputs. Build (from the
// repository root):
//   g++ -std=c++17 -O2 -ffp-contract=off -fexceptions -I. test/moe_emu/driver.cc native/ref/{route,dispatch_layout,rows}.cc
//       native/common/{moe_check,quant_check,status}.cc native/emu/{backend,fiber,scheduler,warp,cp_async}.cc -o /tmp/moe_emu -lpthread
// Run: /tmp/moe_emu [seed]   (FP8KIT_EMU_ORDER=reverse for the reverse thread order). test/moe-emu.test.ts does both.
// Outputs are cuda-emu device memory (poisoned with 0xFF), so a kernel that skips a write shows.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "native/backend.h"
#include "native/common/fp8.h"
#include "native/ref/ref.h"

static std::mt19937_64 rng;
static int failures = 0, cases = 0;
static const fp8k_backend* emu;

static int uniform(int lo, int hi) { return lo + (int)(rng() % (uint64_t)(hi - lo + 1)); }
static float unit() { return std::uniform_real_distribution<float>(0.0f, 1.0f)(rng); }

template <class T>
struct Dev {  // a cuda-emu device buffer (0xFF-poisoned)
  T* p = nullptr;
  explicit Dev(size_t n) { emu->mem_alloc(reinterpret_cast<void**>(&p), n * sizeof(T) + 64, nullptr); }
  ~Dev() { emu->mem_free(p, nullptr); }
};

static void fail(const std::string& what) {
  failures++;
  printf("MISMATCH %s\n", what.c_str());
}

// Same status and, on failure, the same message.
static bool same_status(int sr, const fp8k_call& cr, int se, const fp8k_call& ce, const std::string& what) {
  if (sr != se || (sr && strcmp(cr.message, ce.message))) {
    fail(what + ": ref status " + std::to_string(sr) + " '" + cr.message + "', emu " + std::to_string(se) + " '" + ce.message + "'");
    return false;
  }
  return true;
}

template <class T>
static bool same_bits(const T* a, const T* b, size_t n, const char* name, const std::string& what) {
  for (size_t i = 0; i < n; i++)
    if (memcmp(&a[i], &b[i], sizeof(T))) {
      char buf[128];
      uint64_t x = 0, y = 0;
      memcpy(&x, &a[i], sizeof(T));
      memcpy(&y, &b[i], sizeof(T));
      snprintf(buf, sizeof buf, "%s[%zu]: ref %llx emu %llx -- ", name, i, (unsigned long long)x, (unsigned long long)y);
      fail(buf + what);
      return false;
    }
  return true;
}

// ---- route ------------------------------------------------------------------------------------------
// ties: logits (and bias) from a handful of values, so equal scores and equal group scores are common.
// bad: 0 none, 1 a non-finite logit or two, 2 a non-finite bias entry.
static void route_case(size_t T, int E, int G, int TG, int K, int sf, bool bias, bool bf16, bool ties, int bad) {
  cases++;
  fp8k_route p{};
  p.tokens = T, p.experts = E, p.groups = G, p.topk_groups = TG, p.topk = K, p.score_func = sf, p.has_bias = bias;
  p.route_scale = (rng() & 1) ? 2.5f : 1.0f + unit();
  char d[256];
  snprintf(d, sizeof d, "route T=%zu E=%d G=%d topkGroups=%d topk=%d %s%s %s%s bad=%d", T, E, G, TG, K, sf ? "softmax" : "sigmoid",
           bias ? " bias" : "", bf16 ? "bf16" : "f32", ties ? " ties" : "", bad);
  std::vector<float> lf(T * E), b(E);
  std::normal_distribution<float> nd(0.0f, 2.0f);
  for (auto& v : lf) v = ties ? (float)uniform(-3, 3) * 0.5f : nd(rng);
  for (auto& v : b) v = ties ? (float)uniform(-2, 2) * 0.25f : nd(rng) * 0.1f;
  if (bad == 1 && T) {
    auto bad_value = [] { return (rng() & 1) ? NAN : (rng() & 1) ? INFINITY : -INFINITY; };
    const size_t t = rng() % T;  // several in one row (the first is reported, whichever lane holds it), maybe one elsewhere
    for (int i = uniform(1, 10); i > 0; i--) lf[t * E + rng() % E] = bad_value();
    if (rng() & 1) lf[rng() % lf.size()] = bad_value();
  }
  if (bad == 2) b[rng() % E] = (rng() & 1) ? NAN : INFINITY;
  std::vector<uint16_t> lb(T * E);
  for (size_t i = 0; i < lf.size(); i++) lb[i] = fp8k_bf16_from_f32(lf[i]);
  const void* logits = bf16 ? (const void*)lb.data() : (const void*)lf.data();
  const int dtype = bf16 ? FP8K_BF16 : FP8K_F32;
  std::vector<int32_t> ri(T * K);
  std::vector<float> rw(T * K);
  fp8k_call cr{}, ce{};
  const int sr = fp8k::ref::route(logits, dtype, bias ? b.data() : nullptr, &p, ri.data(), rw.data(), &cr);
  Dev<int32_t> ei(T * K);
  Dev<float> ew(T * K);
  const int se = emu->route(logits, dtype, bias ? b.data() : nullptr, &p, ei.p, ew.p, &ce);
  if (!same_status(sr, cr, se, ce, d) || sr) return;
  if (same_bits(ri.data(), ei.p, T * K, "topkIdx", d)) same_bits(rw.data(), ew.p, T * K, "topkWeights", d);
}

static void route_cases() {
  struct Shape { int E, G, TG, K; };
  const Shape shapes[] = {{256, 8, 4, 8}, {24, 3, 2, 5}, {7, 1, 1, 3}, {64, 16, 3, 6}, {160, 32, 32, 33}, {1024, 64, 7, 13}, {96, 2, 1, 48}, {512, 4, 2, 8}};
  for (const Shape& s : shapes)
    for (int sf = 0; sf < 2; sf++)
      for (int bias = 0; bias < 2; bias++)
        for (int bf16 = 0; bf16 < 2; bf16++)
          for (int ties = 0; ties < 2; ties++) {
            const size_t T = s.E >= 1024 ? uniform(1, 6) : uniform(1, 45);
            route_case(T, s.E, s.G, s.TG, s.K, sf, bias, bf16, ties, 0);
          }
  // all logits equal: ids in ascending order, equal weights
  route_case(9, 256, 8, 4, 8, 0, false, false, true, 0);
  {
    cases++;
    fp8k_route p{9, 16, 4, 4, 2, FP8K_SCORE_SIGMOID, 2.5f, 0};
    std::vector<float> lf(9 * 16, 0.25f);
    Dev<int32_t> ei(9 * 4);
    Dev<float> ew(9 * 4);
    fp8k_call c{};
    if (emu->route(lf.data(), FP8K_F32, nullptr, &p, ei.p, ew.p, &c) || ei.p[0] != 0 || ei.p[1] != 1 || ei.p[2] != 2 || ei.p[3] != 3 ||
        ew.p[0] != 0.625f)
      fail("route: equal logits must pick the lowest ids 0, 1, 2, 3 with weight 2.5 / 4");
  }
  // non-finite logits / bias: the same error and message as ref (the first offending element)
  for (int i = 0; i < 36; i++) {
    const Shape& s = shapes[i % 4];
    route_case(uniform(1, 40), s.E, s.G, s.TG, s.K, i & 1, i & 2, i & 4, false, 1 + (i % 3 == 2));
  }
  route_case(0, 24, 3, 2, 5, 0, true, false, false, 2);  // no tokens, but a bad bias still fails
  route_case(0, 24, 3, 2, 5, 1, false, true, false, 0);
  {  // beyond the kernel's limits: refused
    cases++;
    fp8k_route p{2, 2048, 8, 8, 4, FP8K_SCORE_SIGMOID, 1.0f, 0};
    std::vector<float> lf(2 * 2048, 0.0f);
    Dev<int32_t> ei(16);
    Dev<float> ew(16);
    fp8k_call c{};
    if (emu->route(lf.data(), FP8K_F32, nullptr, &p, ei.p, ew.p, &c) != FP8K_ERR_ARGUMENT) fail("route: 2048 experts must be refused");
  }
}

// ---- dispatch_layout ----------------------------------------------------------------------------------
static void layout_case(size_t T, int K, int E, int nodes, int gpn, int bad) {
  cases++;
  fp8k_layout p{T, K, E, nodes, gpn};
  char d[160];
  snprintf(d, sizeof d, "dispatchLayout T=%zu topk=%d E=%d %dx%d bad=%d", T, K, E, nodes, gpn, bad);
  std::vector<int32_t> idx(T * K);
  const int pneg = uniform(0, 4);
  for (auto& v : idx) v = (int)(rng() % 8) < pneg ? -1 : uniform(0, E - 1);
  if (bad && T) {
    const int k = uniform(1, 3);
    for (int i = 0; i < k; i++) idx[rng() % idx.size()] = (rng() & 1) ? E + uniform(0, 5) : -2 - uniform(0, 5);
  }
  const size_t R = (size_t)nodes * gpn;
  std::vector<int32_t> rr(R), rn(nodes), re(E);
  std::vector<uint8_t> rh(T * R);
  fp8k_call cr{}, ce{};
  const int sr = fp8k::ref::dispatch_layout(idx.data(), &p, rr.data(), rn.data(), re.data(), rh.data(), &cr);
  Dev<int32_t> er(R), en(nodes), ee(E);
  Dev<uint8_t> eh(T * R);
  const int se = emu->dispatch_layout(idx.data(), &p, er.p, en.p, ee.p, eh.p, &ce);
  if (!same_status(sr, cr, se, ce, d) || sr) return;
  same_bits(rr.data(), er.p, R, "tokensPerRank", d) && same_bits(rn.data(), en.p, nodes, "tokensPerNode", d) &&
      same_bits(re.data(), ee.p, E, "tokensPerExpert", d) && same_bits(rh.data(), eh.p, T * R, "isTokenInRank", d);
}

static void layout_cases() {
  struct Shape { int K, E, nodes, gpn; };
  const Shape shapes[] = {{8, 256, 4, 8}, {8, 256, 1, 8}, {6, 24, 3, 2}, {1, 7, 1, 1}, {3, 12, 2, 3}, {8, 9216, 2, 4}, {9, 64, 8, 1}};
  for (const Shape& s : shapes)
    for (int rep = 0; rep < 3; rep++) layout_case(rep == 0 ? uniform(300, 700) : uniform(1, 80), s.K, s.E, s.nodes, s.gpn, 0);
  layout_case(0, 8, 256, 4, 8, 0);
  for (int i = 0; i < 8; i++) {
    const Shape& s = shapes[i % 5];
    layout_case(uniform(1, 400), s.K, s.E, s.nodes, s.gpn, 1);
  }
}

// ---- copy_rows / reduce_rows ---------------------------------------------------------------------------
// Sources as device buffers; `skew` bytes past the allocation's (256-aligned) start, to misalign them.
struct Sources {
  std::vector<Dev<uint8_t>*> bufs;
  std::vector<const void*> ptrs;
  std::vector<size_t> rows;
  ~Sources() {
    for (auto* b : bufs) delete b;
  }
};

static void make_sources(Sources& s, int count, size_t row_bytes, size_t skew, bool bf16) {
  for (int i = 0; i < count; i++) {
    const size_t rows = uniform(1, 12);
    auto* b = new Dev<uint8_t>(rows * row_bytes + skew);
    uint8_t* base = b->p + skew;
    for (size_t j = 0; j < rows * row_bytes; j++) base[j] = (uint8_t)rng();
    if (bf16)  // finite bf16 values of mixed magnitudes, some zeros of both signs
      for (size_t j = 0; j < rows * row_bytes / 2; j++) {
        const int k = uniform(0, 9);
        const float v = k == 0 ? 0.0f : k == 1 ? -0.0f : std::ldexp((unit() - 0.5f) * 4.0f, uniform(-12, 12));
        const uint16_t h = fp8k_bf16_from_f32(v);
        memcpy(base + 2 * j, &h, 2);
      }
    s.bufs.push_back(b);
    s.ptrs.push_back(base);
    s.rows.push_back(rows);
  }
}

static void copy_case(size_t row_bytes, size_t n, size_t src_skew, size_t dst_skew) {
  cases++;
  char d[128];
  snprintf(d, sizeof d, "copyRows rowBytes=%zu n=%zu srcSkew=%zu dstSkew=%zu", row_bytes, n, src_skew, dst_skew);
  Sources s;
  make_sources(s, uniform(1, 4), row_bytes, src_skew, false);
  std::vector<int32_t> src_of(n), row_of(n);
  for (size_t i = 0; i < n; i++) {
    src_of[i] = rng() % 5 == 0 ? -1 - (int)(rng() % 3) : uniform(0, (int)s.ptrs.size() - 1);
    row_of[i] = src_of[i] < 0 ? 0 : uniform(0, (int)s.rows[src_of[i]] - 1);
  }
  std::vector<uint8_t> ref(n * row_bytes);
  fp8k_call c{};
  fp8k::ref::copy_rows(s.ptrs.data(), s.ptrs.size(), row_bytes, src_of.data(), row_of.data(), n, ref.data(), &c);
  Dev<uint8_t> out(n * row_bytes + dst_skew);
  if (int st = emu->copy_rows(s.ptrs.data(), s.ptrs.size(), row_bytes, src_of.data(), row_of.data(), n, out.p + dst_skew, &c))
    return fail(std::string(d) + ": status " + std::to_string(st) + " " + c.message);
  same_bits(ref.data(), out.p + dst_skew, n * row_bytes, "dst", d);
}

static void reduce_case(size_t h, size_t n, bool weighted, size_t skew_elems, size_t y_skew) {
  cases++;
  char d[128];
  snprintf(d, sizeof d, "reduceRows h=%zu n=%zu %s skew=%zu ySkew=%zu", h, n, weighted ? "weights" : "no weights", skew_elems, y_skew);
  Sources s;
  make_sources(s, uniform(1, 4), h * 2, skew_elems * 2, true);
  std::vector<int32_t> offsets(n + 1, 0), src_of, row_of;
  std::vector<float> w;
  for (size_t i = 0; i < n; i++) {
    const int terms = rng() % 4 == 0 ? 0 : uniform(1, 9);  // empty sums among them
    offsets[i + 1] = offsets[i] + terms;
    for (int j = 0; j < terms; j++) {
      src_of.push_back(uniform(0, (int)s.ptrs.size() - 1));
      row_of.push_back(uniform(0, (int)s.rows[src_of.back()] - 1));
      w.push_back(rng() % 7 == 0 ? 0.0f : std::ldexp(unit() + 0.01f, uniform(-4, 2)));
    }
  }
  src_of.push_back(0), row_of.push_back(0), w.push_back(0);  // non-empty vectors
  std::vector<const uint16_t*> srcs;
  for (const void* p : s.ptrs) srcs.push_back(static_cast<const uint16_t*>(p));
  std::vector<uint16_t> ref(n * h);
  fp8k_call c{};
  fp8k::ref::reduce_rows(srcs.data(), srcs.size(), h, offsets.data(), src_of.data(), row_of.data(), weighted ? w.data() : nullptr, n, ref.data(), &c);
  Dev<uint16_t> out(n * h + y_skew);
  if (int st = emu->reduce_rows(srcs.data(), srcs.size(), h, offsets.data(), src_of.data(), row_of.data(), weighted ? w.data() : nullptr, n, out.p + y_skew, &c))
    return fail(std::string(d) + ": status " + std::to_string(st) + " " + c.message);
  same_bits(ref.data(), out.p + y_skew, n * h, "y", d);
}

static void row_cases() {
  const size_t sizes[] = {56, 7168 + 4, 7168, 224, 7, 16, 1, 130, 8};
  for (size_t rb : sizes)
    for (int v = 0; v < 3; v++) copy_case(rb, uniform(0, rb > 1000 ? 24 : 70), v == 1 ? uniform(1, 15) : 0, v == 2 ? uniform(1, 15) : 0);
  copy_case(7168, 0, 0, 0);
  const size_t hs[] = {7, 8, 64, 129, 7168, 1000};
  for (size_t h : hs)
    for (int weighted = 0; weighted < 2; weighted++)
      for (int v = 0; v < 2; v++) reduce_case(h, uniform(0, h > 1000 ? 10 : 40), weighted, v ? uniform(1, 7) : 0, v ? uniform(1, 7) : 0);
}

int main(int argc, char** argv) {
  const unsigned long long seed = argc > 1 ? strtoull(argv[1], nullptr, 10) : 12345;
  rng.seed(seed);
  emu = fp8k_backend_cuda_emu();
  const char* order = getenv("FP8KIT_EMU_ORDER");
  printf("moe_emu: seed %llu, %s thread order\n", seed, order && !strcmp(order, "reverse") ? "reverse" : "forward");
  route_cases();
  layout_cases();
  row_cases();
  printf("%s: %d cases, %d failures\n", failures ? "FAIL" : "OK", cases, failures);
  return failures ? 1 : 0;
}
