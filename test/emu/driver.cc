// Runs the emulator's test kernels (g++ only) and checks them against plain C++.
//   driver run <test> <seed>   prints OK, or MISMATCH/FAULT with the reason
//   driver list                the test names
//   driver bench               speeds of the emulator
// Exit status: 0 OK, 1 mismatch, 3 fp8k::emu::Fault (message on stdout).
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "../../native/common/gemm_modes.h"
#include "../../native/emu/fiber.h"
#include "fault_kernels.cuh"
#include "kernels.cuh"
#include "ptx_kernels.cuh"

namespace {

std::mt19937_64 rng;
int rand_int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }
std::vector<float> rand_ints_f(size_t n, int lo, int hi) {
  std::vector<float> v(n);
  for (auto& e : v) e = (float)rand_int(lo, hi);
  return v;
}

struct Mismatch {
  std::string what;
};
template <class T>
void expect_eq(const char* what, const std::vector<T>& got, const std::vector<T>& want) {
  for (size_t i = 0; i < want.size(); ++i)
    if (memcmp(&got[i], &want[i], sizeof(T)) != 0) {
      char buf[256];
      snprintf(buf, sizeof buf, "%s[%zu]: got %.9g, want %.9g", what, i, (double)got[i], (double)want[i]);
      throw Mismatch{buf};
    }
}

bool block_sum() {
  const int n = 37 * 128 - 5, blocks = 37;
  auto x = rand_ints_f(n, -1000, 1000);
  std::vector<float> out(blocks), want(blocks, 0.0f);
  for (int i = 0; i < n; ++i) want[i / 128] += x[i];  // small integers: every order is exact
  FP8K_LAUNCH(block_sum_kernel, blocks, 128, 0, 0, x.data(), out.data(), n);
  expect_eq("sum", out, want);
  return true;
}

bool warp_max() {
  const int n = 8 * 96;
  std::vector<float> x(n), out(n / 32), want(n / 32, -INFINITY);
  std::vector<int> xi(n), outi(n / 32), wanti(n / 32, INT32_MIN);
  for (int i = 0; i < n; ++i) {
    x[i] = std::normal_distribution<float>()(rng);
    xi[i] = rand_int(-(1 << 30), 1 << 30);
    want[i / 32] = std::max(want[i / 32], x[i]);
    wanti[i / 32] = std::max(wanti[i / 32], xi[i]);
  }
  FP8K_LAUNCH(warp_max_kernel, 8, 96, 0, 0, x.data(), out.data(), xi.data(), outi.data());
  expect_eq("max", out, want);
  expect_eq("reduce_max", outi, wanti);
  return true;
}

bool vote() {
  const int n = 4 * 64;
  std::vector<float> x(n);
  for (auto& e : x) e = std::uniform_real_distribution<float>(-1, 1)(rng);
  std::vector<unsigned> out(4 * n / 32), want(4 * n / 32);
  for (int w = 0; w < n / 32; ++w) {
    unsigned b = 0;
    int any = 0, all = 1;
    for (int l = 0; l < 32; ++l) {
      b |= (x[w * 32 + l] > 0) << l;
      any |= x[w * 32 + l] > 0.9f;
      all &= x[w * 32 + l] > -0.9f;
    }
    want[4 * w] = b, want[4 * w + 1] = any, want[4 * w + 2] = all, want[4 * w + 3] = __builtin_popcount(b);
  }
  FP8K_LAUNCH(vote_kernel, 4, 64, 0, 0, x.data(), out.data());
  expect_eq("vote", out, want);
  return true;
}

bool scan() {
  const int n = 3 * 64;
  std::vector<int> x(n), sc(n), bc(n), wsc(n), wbc(n);
  for (auto& e : x) e = rand_int(-100, 100);
  for (int i = 0; i < n; ++i) {
    const int lane = i % 32, w = i - lane;
    wsc[i] = x[i] + (lane ? wsc[i - 1] : 0);
    wbc[i] = x[w + (lane & 16) + 3] + x[lane + 5 < 32 ? i + 5 : i];
  }
  FP8K_LAUNCH(scan_kernel, 3, 64, 0, 0, x.data(), sc.data(), bc.data());
  expect_eq("scan", sc, wsc);
  expect_eq("bcast", bc, wbc);
  return true;
}

bool atomics() {
  const int n = 1000;
  std::vector<int> x(n), hist(16), whist(16), mx(1, INT32_MIN), wmx(1, INT32_MIN);
  std::vector<float> sum(1), wsum(1);
  std::vector<unsigned> cas(1, 7), wcas(1, 7 + 3 * n);
  for (auto& e : x) e = rand_int(0, 1 << 20);
  for (int v : x) whist[v & 15]++, wmx[0] = std::max(wmx[0], v), wsum[0] += (float)(v % 100);
  FP8K_LAUNCH(atomics_kernel, (n + 255) / 256, 256, 0, 0, x.data(), n, hist.data(), mx.data(), sum.data(), cas.data());
  expect_eq("hist", hist, whist);
  expect_eq("max", mx, wmx);
  expect_eq("sum", sum, wsum);
  expect_eq("cas", cas, wcas);
  return true;
}

bool dynamic_smem() {
  const int blocks = 5, bs = 96;
  std::vector<int> x(blocks * bs), y(blocks * bs), npos(blocks), wy(blocks * bs), wpos(blocks);
  for (auto& e : x) e = rand_int(-50, 50);
  for (int b = 0; b < blocks; ++b)
    for (int t = 0; t < bs; ++t) wy[b * bs + t] = x[b * bs + bs - 1 - t], wpos[b] += x[b * bs + t] > 0;
  FP8K_LAUNCH(reverse_kernel, blocks, bs, bs * sizeof(int), 0, x.data(), y.data(), npos.data());
  expect_eq("reverse", y, wy);
  expect_eq("count", npos, wpos);
  return true;
}

bool transpose() {
  const int rows = 70, cols = 45;
  auto x = rand_ints_f(rows * cols, -9, 9);
  std::vector<float> y(rows * cols), want(rows * cols);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) want[c * rows + r] = x[r * cols + c];
  FP8K_LAUNCH(transpose_kernel, dim3((cols + 31) / 32, (rows + 31) / 32), dim3(32, 8), 0, 0, x.data(), y.data(), rows,
              cols);
  expect_eq("transpose", y, want);
  return true;
}

// Small integers in fp8, so every partial sum is exact and the result must
// match a plain matmul bit for bit whatever the summation order.
template <int FA, int FB>
bool mma_gemm() {
  const int M = 32, N = 32, K = 96;
  auto code = [](int v, int f) { return fp8k_from_f32((float)v, f, 1); };
  const int ra = FA == FP8K_FORMAT_E4M3 ? 12 : 7, rb = FB == FP8K_FORMAT_E4M3 ? 12 : 7;
  std::vector<uint8_t> A(M * K), Bt(N * K);
  for (auto& e : A) e = code(rand_int(-ra, ra), FA);
  for (auto& e : Bt) e = code(rand_int(-rb, rb), FB);
  auto C = rand_ints_f(M * N, -1000, 1000);
  std::vector<float> D(M * N), want(M * N);
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      float s = C[m * N + n];
      for (int k = 0; k < K; ++k) s += fp8k_to_f32(A[m * K + k], FA) * fp8k_to_f32(Bt[n * K + k], FB);
      want[m * N + n] = s;
    }
  const int warps = (M / 16) * (N / 8);
  FP8K_LAUNCH((mma_gemm_kernel<FA, FB>), warps / 4, 128, 0, 0, A.data(), Bt.data(), C.data(), D.data(), M, N, K);
  expect_eq("D", D, want);
  return true;
}

// FP8KIT_EMU_MMA / FP8KIT_EMU_MMA_BITS as this driver reads them: 0 for exact, else the bits.
int emu_mma_bits() {
  const char* mode = getenv("FP8KIT_EMU_MMA");
  if (!mode || strcmp(mode, "limited")) return 0;
  const char* b = getenv("FP8KIT_EMU_MMA_BITS");
  return b && *b ? atoi(b) : 14;
}

// SPEC §4 'limited', one K step, restated for the test (not accumulate.h's code): E = floor(log2|x|)
// by frexp over the nonzero products and C; each term becomes a whole number of units 2^(E-bits+1),
// cut toward zero by the conversion to int64; the integer sum, scaled back, rounded to f32 once.
// Every product zero: C as it was.
float limited_step_restated(const double* prod, int n, float c, int bits) {
  int e_max = INT_MIN;
  for (int i = 0; i < n; ++i)
    if (prod[i] != 0) {
      int e;
      frexp(prod[i], &e);  // |x| = f * 2^e with f in [0.5, 1): floor(log2|x|) = e - 1
      e_max = std::max(e_max, e - 1);
    }
  if (e_max == INT_MIN) return c;
  if (c != 0) {
    int e;
    frexp((double)c, &e);
    e_max = std::max(e_max, e - 1);
  }
  const double unit = ldexp(1.0, e_max - bits + 1);
  int64_t units = (int64_t)((double)c / unit);
  for (int i = 0; i < n; ++i) units += (int64_t)(prod[i] / unit);
  return (float)((double)units * unit);
}

// Random e4m3 fragments over the whole range (zeros, subnormals, 448; no NaN) and C of every size,
// through mma_gemm_kernel (K/32 chained MMAs), against the mode FP8KIT_EMU_MMA names, bit for bit.
bool mma_random() {
  const int M = 32, N = 16, K = 96, F = FP8K_FORMAT_E4M3, bits = emu_mma_bits();
  std::vector<uint8_t> A(M * K), Bt(N * K);
  auto byte = [] {
    const uint8_t v = (uint8_t)rand_int(0, 255);
    return (v & 0x7F) == 0x7F || rand_int(0, 7) == 0 ? (uint8_t)0 : v;
  };
  for (auto& e : A) e = byte();
  for (auto& e : Bt) e = byte();
  for (int k = 0; k < 32; ++k) A[3 * K + k] = 0;  // row 3, first step: every product zero
  std::vector<float> C(M * N), D(M * N), want(M * N);
  for (auto& e : C) e = rand_int(0, 5) == 0 ? 0.0f : std::ldexp(std::normal_distribution<float>()(rng), rand_int(-12, 16));
  int differ = 0;
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      float acc = C[m * N + n];
      for (int k0 = 0; k0 < K; k0 += 32) {
        double prod[32], exact = acc;
        for (int k = 0; k < 32; ++k) {
          prod[k] = (double)fp8k_to_f32(A[m * K + k0 + k], F) * (double)fp8k_to_f32(Bt[n * K + k0 + k], F);
          exact += prod[k];
        }
        const float lim = limited_step_restated(prod, 32, acc, bits ? bits : 14);
        differ += lim != (float)exact;
        acc = bits ? lim : (float)exact;
      }
      want[m * N + n] = acc;
    }
  FP8K_LAUNCH((mma_gemm_kernel<F, F>), 1, 128, 0, 0, A.data(), Bt.data(), C.data(), D.data(), M, N, K);
  expect_eq("D", D, want);
  printf("%s accumulation (%d bits), %d of %d MMA steps: limited differs from exact\n", bits ? "limited" : "exact", bits ? bits : 14,
         differ, M * N * K / 32);
  if (differ == 0) throw Mismatch{"the data does not tell limited from exact accumulation"};
  return true;
}

// Issue 11's planted fault: mma_promote_kernel at K = 4096 on all-positive e4m3 (values in [1, 2),
// unit scales), against ref's 'promoted' result (fp8k_gemm_element, the loop body of
// native/ref/gemm.cc). Under FP8KIT_EMU_MMA=limited the kernel must also equal ref's 'limited' with
// the same promotion (interval 128, or none) bit for bit. Fails above a relative error of 1e-3.
template <int PROMOTE>
bool mma_promotion() {
  const int M = 32, N = 16, K = 4096, F = FP8K_FORMAT_E4M3, bits = emu_mma_bits();
  std::vector<uint8_t> A(M * K), Bt(N * K);
  for (auto& e : A) e = (uint8_t)rand_int(0x30, 0x47);  // 0.5, 0.5625, ..., 3.75
  for (auto& e : Bt) e = (uint8_t)rand_int(0x30, 0x47);
  std::vector<float> sa(M * K / 128, 1.0f), sb(N * K / 128, 1.0f), D(M * N);
  FP8K_LAUNCH((mma_promote_kernel<PROMOTE>), 1, 32 * (M / 16) * (N / 8), 0, 0, A.data(), Bt.data(), D.data(), M, N, K);
  fp8k_gemm p{};
  p.m = M, p.n = N, p.k = K, p.layout = FP8K_GEMM_NT, p.a_format = F, p.b_format = F;
  p.a_scale_layout = FP8K_LAYOUT_ROW, p.b_scales = FP8K_B_LINES, p.accumulate = FP8K_ACC_PROMOTED;
  const fp8k_gemm_operands o{&p, A.data(), Bt.data(), sa.data(), sb.data()};
  double err = 0, peak = 0;
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      const float r = fp8k_gemm_element(o, nullptr, m, n);
      err = std::max(err, std::fabs((double)D[m * N + n] - r)), peak = std::max(peak, std::fabs((double)r));
    }
  const char* what = PROMOTE ? "promotes every 128" : "never promotes";
  printf("K = %d, MMA %s (%d bits), kernel %s: max|D - ref promoted| / max|ref promoted| = %.3g\n", K,
         bits ? "limited" : "exact", bits ? bits : 14, what, err / peak);
  if (bits) {
    p.accumulate = FP8K_ACC_LIMITED, p.accumulator_bits = bits, p.promotion_interval = PROMOTE ? 128 : 0;
    std::vector<float> want(M * N);
    for (int m = 0; m < M; ++m)
      for (int n = 0; n < N; ++n) want[m * N + n] = fp8k_gemm_element(o, nullptr, m, n);
    expect_eq(PROMOTE ? "D vs ref limited(promotionInterval 128)" : "D vs ref limited(no promotion)", D, want);
    printf("bit for bit ref 'limited' with %s\n", PROMOTE ? "promotionInterval 128" : "no promotion interval");
  }
  if (!(err / peak < 1e-3)) {
    char buf[160];
    snprintf(buf, sizeof buf, "kernel %s: relative error %.3g against ref promoted, above 1e-3", what, err / peak);
    throw Mismatch{buf};
  }
  return true;
}

// The registers ldmatrix hands each lane, placed back into a 16x16 matrix by
// the PTX layout, must give the tile back (transposed per 8x8 block for .trans).
template <int NM, bool T>
bool ldmatrix() {
  std::vector<uint16_t> x(256);
  for (auto& e : x) e = (uint16_t)rand_int(0, 65535);
  std::vector<uint32_t> regs(32 * 4);
  FP8K_LAUNCH((ldmatrix_kernel<NM, T>), 1, 32, 0, 0, x.data(), regs.data());
  std::vector<uint16_t> got(256, 0), want(256, 0);
  for (int m = 0; m < NM; ++m) {
    const int r0 = 8 * (m & 1), c0 = 8 * (m >> 1);
    for (int lane = 0; lane < 32; ++lane)
      for (int h = 0; h < 2; ++h) {
        const int row = lane / 4, col = 2 * (lane % 4) + h;  // fragment position
        const uint16_t v = (uint16_t)(regs[lane * 4 + m] >> (16 * h));
        got[(r0 + row) * 16 + c0 + col] = v;
      }
    for (int r = 0; r < 8; ++r)
      for (int c = 0; c < 8; ++c) want[(r0 + r) * 16 + c0 + c] = T ? x[(r0 + c) * 16 + c0 + r] : x[(r0 + r) * 16 + c0 + c];
  }
  expect_eq("ldmatrix", got, want);
  return true;
}

template <bool WAIT>
bool cp_async() {
  std::vector<uint32_t> x(64 * 4), y(64 * 4, 0), want(64 * 4);
  for (auto& e : x) e = (uint32_t)rng();
  const int tail = 5;
  for (int t = 0; t < 32; ++t)
    for (int s = 0; s < 2; ++s)
      for (int w = 0; w < 4; ++w) want[(32 * s + t) * 4 + w] = x[(32 * s + ((t + 1) & 31)) * 4 + w];
  // thread 31's second copy reads only `tail` bytes and zero-fills the rest: land in thread 30's read
  uint8_t* p = (uint8_t*)&want[(32 + 30) * 4];
  memset(p + tail, 0, 16 - tail);
  FP8K_LAUNCH(cp_async_kernel<WAIT>, 1, 32, 0, 0, (const uint4*)x.data(), (uint4*)y.data(), tail);
  expect_eq("cp.async", y, want);
  return true;
}

// profile_kernel (ptx_kernels.cuh): the ldmatrix results are chunk 0 of each row whatever the layout;
// the counts go to FP8KIT_EMU_PROFILE, which the test reads.
template <bool SWIZZLE, bool STRIDED>
bool profile() {
  std::vector<uint8_t> x(32 * 256);
  for (auto& e : x) e = (uint8_t)rng();
  std::vector<uint32_t> y(128, 0), want(128);
  for (int lane = 0; lane < 32; ++lane)
    for (int m = 0; m < 4; ++m) {
      // lane l of matrix m: row 8m + l/4 of the 32, bytes 4(l%4).. of its chunk 0 (row r's chunk 0 is source chunk 8r)
      const int row = 8 * m + lane / 4, idx = 8 * row;
      memcpy(&want[lane * 4 + m], &x[(STRIDED ? 32 * idx : 16 * idx) + 4 * (lane % 4)], 4);
    }
  FP8K_LAUNCH((profile_kernel<SWIZZLE, STRIDED>), 1, 32, 0, 0, x.data(), y.data());
  expect_eq("profile ldmatrix", y, want);
  return true;
}

// The planted early-landing cp.async faults (fault_kernels.cuh) and their fixed forms.
template <bool SYNC>
bool cp_async_double_buffer() {
  const int stages = 6;
  std::vector<uint32_t> x(stages * 64 * 4), y(stages * 64 * 2 * 4, 0), want(y.size());
  for (auto& e : x) e = (uint32_t)rng();
  for (int s = 0; s < stages; ++s)
    for (int t = 0; t < 64; ++t)
      for (int w = 0; w < 4; ++w) {
        want[((s * 64 + t) * 2) * 4 + w] = x[(s * 64 + ((t + 1) & 63)) * 4 + w];
        want[((s * 64 + t) * 2 + 1) * 4 + w] = x[(s * 64 + ((t + 63) & 63)) * 4 + w];
      }
  FP8K_LAUNCH(cp_async_double_buffer_kernel<SYNC>, 1, 64, 0, 0, (const uint4*)x.data(), (uint4*)y.data(), stages);
  expect_eq("cp.async double buffer", y, want);
  return true;
}

template <bool SYNC>
bool cp_async_publish() {
  std::vector<uint32_t> x(64 * 4), work(64 * 4, 0xFFFFFFFFu), y(64 * 2 * 4, 0), want(y.size());
  for (auto& e : x) e = (uint32_t)rng() & 0x7FFFFFFFu;  // never the 0xFFFFFFFF of fresh device memory
  for (int t = 0; t < 64; ++t)
    for (int w = 0; w < 4; ++w) {
      want[(2 * t) * 4 + w] = x[((t + 1) & 63) * 4 + w];
      want[(2 * t + 1) * 4 + w] = x[((t + 63) & 63) * 4 + w];
    }
  FP8K_LAUNCH(cp_async_publish_kernel<SYNC>, 1, 64, 0, 0, (const uint4*)x.data(), (uint4*)work.data(), (uint4*)y.data());
  expect_eq("cp.async publish", y, want);
  return true;
}

template <bool SYNC>
bool warp_exchange() {
  auto x = rand_ints_f(64, 1, 9);
  std::vector<float> y(64), want(64);
  for (int t = 0; t < 64; ++t) want[t] = x[t ^ 1];
  if (SYNC) FP8K_LAUNCH(warp_exchange_kernel, 1, 64, 0, 0, x.data(), y.data());
  else FP8K_LAUNCH(missing_syncwarp_kernel, 1, 64, 0, 0, x.data(), y.data());
  expect_eq("y", y, want);
  return true;
}

bool cvt() {
  const int n = 4096;
  std::vector<float> x(2 * n);
  for (auto& e : x) e = std::normal_distribution<float>(0, 300)(rng);
  x[0] = NAN, x[1] = INFINITY, x[2] = -1e9f;
  std::vector<uint16_t> e4(n), e5(n), w4(n), w5(n);
  for (int i = 0; i < n; ++i) {
    w4[i] = (uint16_t)(fp8k_from_f32(x[2 * i + 1], FP8K_FORMAT_E4M3, 1) << 8 | fp8k_from_f32(x[2 * i], FP8K_FORMAT_E4M3, 1));
    w5[i] = (uint16_t)(fp8k_from_f32(x[2 * i + 1], FP8K_FORMAT_E5M2, 1) << 8 | fp8k_from_f32(x[2 * i], FP8K_FORMAT_E5M2, 1));
  }
  FP8K_LAUNCH(cvt_kernel, n / 128, 128, 0, 0, x.data(), e4.data(), e5.data(), n);
  expect_eq("e4m3x2", e4, w4);
  expect_eq("e5m2x2", e5, w5);
  return true;
}

// ---- planted faults: each must end in a Fault (or a wrong result, for missing-sync)
bool missing_sync() {
  auto x = rand_ints_f(128, 1, 9);
  std::vector<float> y(128), want(128);
  for (int t = 0; t < 128; ++t) want[t] = x[(t + 1) & 127];
  FP8K_LAUNCH(missing_sync_kernel, 1, 128, 0, 0, x.data(), y.data());
  expect_eq("y", y, want);
  return true;
}
bool write_write() {
  auto x = rand_ints_f(128, 1, 9);
  std::vector<float> y(128);
  FP8K_LAUNCH(write_write_kernel, 1, 128, 0, 0, x.data(), y.data());
  return true;
}
bool shfl_mask() {
  std::vector<float> x(32, 1.0f), y(32);
  FP8K_LAUNCH(shfl_mask_kernel, 1, 32, 0, 0, x.data(), y.data());
  return true;
}
bool partial_barrier() {
  std::vector<float> y(128);
  FP8K_LAUNCH(partial_barrier_kernel, 1, 128, 0, 0, y.data());
  return true;
}
bool divergent_barrier() {
  std::vector<float> y(128);
  FP8K_LAUNCH(divergent_barrier_kernel, 1, 128, 0, 0, y.data());
  return true;
}
bool deadlock() {
  std::vector<float> y(64);
  FP8K_LAUNCH(deadlock_kernel, 1, 64, 0, 0, y.data());
  return true;
}
bool oob() {
  std::vector<float> y(100);
  FP8K_LAUNCH(oob_kernel, 1, 128, 0, 0, y.data(), 100);
  return true;
}
bool bad_config() {
  std::vector<float> y(1);
  FP8K_LAUNCH(oob_kernel, 1, 2048, 0, 0, y.data(), 0);
  return true;
}

// Launch limits and alignment: each of these is refused or faults on the GPU.
template <bool STORE>
bool misaligned16() {
  std::vector<float> x(4 * 32 + 4, 1.0f), y(4 * 32 + 4);
  if (STORE) FP8K_LAUNCH(misaligned_store16_kernel, 1, 32, 0, 0, x.data(), y.data());
  else FP8K_LAUNCH(misaligned_load16_kernel, 1, 32, 0, 0, x.data(), y.data());
  return true;
}
// `kib` KiB of dynamic shared memory, after opting in to `optin_kib` KiB (0: no cudaFuncSetAttribute).
template <int THREADS, int KIB, int OPTIN_KIB>
bool big_smem() {
  const int n = KIB * 1024 / 4;
  std::vector<float> y(1);
  if (OPTIN_KIB) cudaFuncSetAttribute(big_smem_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, OPTIN_KIB * 1024);
  FP8K_LAUNCH(big_smem_kernel, 1, THREADS, (size_t)KIB * 1024, 0, y.data(), n);
  if (y[0] != (float)(n - 1)) throw Mismatch{"big_smem: wrong result"};
  return true;
}

// Launches from two OS threads at once (the addon's libuv pool does that).
bool concurrent() {
  bool ok[2] = {false, false};
  std::string err[2];
  auto work = [&](int k) {
    try {
      for (int i = 0; i < 20; ++i) block_sum(), transpose(), mma_gemm<FP8K_FORMAT_E4M3, FP8K_FORMAT_E4M3>();
      ok[k] = true;
    } catch (const Mismatch& m) {
      err[k] = m.what;
    }
  };
  std::thread a(work, 0), b(work, 1);
  a.join(), b.join();
  if (!ok[0] || !ok[1]) throw Mismatch{err[0] + err[1]};
  return true;
}

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Pure context-switch cost: two fibers ping-pong through the scheduler context.
fp8k::emu::Context g_main, g_fib;
long g_switches = 0;
void ping(void*) {
  for (;;) {
    ++g_switches;
    fp8k::emu::fiber_switch(g_fib, g_main);
  }
}

int bench() {
  {
    fp8k::emu::Stack st;
    st.allocate(64 * 1024);
    fp8k::emu::fiber_init(g_fib, st, ping, nullptr);
    const int n = 2000000;
    auto t0 = Clock::now();
    for (int i = 0; i < n; ++i) fp8k::emu::fiber_switch(g_main, g_fib);
    const double s = seconds_since(t0);
    printf("context switch: %.1f ns (one direction, %d round trips)\n", s / (2.0 * n) * 1e9, n);
    st.release();
  }
  {
    const int blocks = 4000;
    std::vector<float> x(blocks * 128, 1.0f), out(blocks);
    FP8K_LAUNCH(bench_kernel, 10, 128, 0, 0, x.data(), out.data());  // warm the stacks
    auto t0 = Clock::now();
    FP8K_LAUNCH(bench_kernel, blocks, 128, 0, 0, x.data(), out.data());
    const double s = seconds_since(t0);
    printf("128-thread block, 4 barriers + 5 shuffles: %.0f blocks/s (%.1f us/block)\n", blocks / s, s / blocks * 1e6);
  }
  {
    const int blocks = 4000;
    std::vector<float> x(blocks * 128, 1.0f), out(blocks);
    auto t0 = Clock::now();
    FP8K_LAUNCH(block_sum_kernel, blocks, 128, 0, 0, x.data(), out.data(), blocks * 128);
    const double s = seconds_since(t0);
    printf("block_sum (shared-memory tree, 8 barriers): %.0f blocks/s (%.1f us/block)\n", blocks / s, s / blocks * 1e6);
  }
  {
    const int blocks = 200, iters = 20;
    std::vector<float> out(blocks * 32);
    auto t0 = Clock::now();
    FP8K_LAUNCH(mma_bench_kernel, blocks, 32, 0, 0, out.data(), iters);
    const double s = seconds_since(t0);
    printf("mma.m16n8k32 e4m3: %.2f us per warp-instruction\n", s / (blocks * iters) * 1e6);
  }
  return 0;
}

const std::map<std::string, std::function<bool()>> kTests = {
    {"block_sum", block_sum},
    {"warp_max", warp_max},
    {"vote", vote},
    {"scan", scan},
    {"atomics", atomics},
    {"dynamic_smem", dynamic_smem},
    {"transpose", transpose},
    {"mma_e4m3", mma_gemm<FP8K_FORMAT_E4M3, FP8K_FORMAT_E4M3>},
    {"mma_e5m2", mma_gemm<FP8K_FORMAT_E5M2, FP8K_FORMAT_E5M2>},
    {"mma_e4m3_e5m2", mma_gemm<FP8K_FORMAT_E4M3, FP8K_FORMAT_E5M2>},
    {"mma_e5m2_e4m3", mma_gemm<FP8K_FORMAT_E5M2, FP8K_FORMAT_E4M3>},
    {"mma_random", mma_random},
    {"mma_promote_128", mma_promotion<4>},
    {"mma_never_promote", mma_promotion<0>},
    {"ldmatrix_x1", ldmatrix<1, false>},
    {"ldmatrix_x2", ldmatrix<2, false>},
    {"ldmatrix_x4", ldmatrix<4, false>},
    {"ldmatrix_x1_trans", ldmatrix<1, true>},
    {"ldmatrix_x2_trans", ldmatrix<2, true>},
    {"ldmatrix_x4_trans", ldmatrix<4, true>},
    {"profile_swizzled", profile<true, false>},
    {"profile_unswizzled", profile<false, false>},
    {"profile_strided", profile<true, true>},
    {"cp_async", cp_async<true>},
    {"cp_async_missing_wait", cp_async<false>},
    {"cp_async_double_buffer", cp_async_double_buffer<true>},
    {"cp_async_double_buffer_nosync", cp_async_double_buffer<false>},
    {"cp_async_publish", cp_async_publish<true>},
    {"cp_async_publish_nosync", cp_async_publish<false>},
    {"warp_exchange", warp_exchange<true>},
    {"cvt", cvt},
    {"concurrent", concurrent},
    {"missing_sync", missing_sync},
    {"missing_syncwarp", warp_exchange<false>},
    {"write_write", write_write},
    {"shfl_mask", shfl_mask},
    {"partial_barrier", partial_barrier},
    {"divergent_barrier", divergent_barrier},
    {"deadlock", deadlock},
    {"oob", oob},
    {"bad_config", bad_config},
    {"misaligned_load16", misaligned16<false>},
    {"misaligned_store16", misaligned16<true>},
    {"threads_1024", big_smem<1024, 4, 0>},
    {"threads_1025", big_smem<1025, 4, 0>},
    {"smem_48k", big_smem<128, 48, 0>},
    {"smem_64k_no_optin", big_smem<128, 64, 0>},
    {"smem_64k_optin", big_smem<128, 64, 64>},
    {"smem_100k_optin", big_smem<128, 100, 100>},
    {"smem_228k_optin", big_smem<128, 228, 228>},
    {"smem_32k_128_threads", big_smem<128, 32, 0>},
};

}  // namespace

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IONBF, 0);
  const std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "list") {
    for (auto& t : kTests) printf("%s\n", t.first.c_str());
    return 0;
  }
  if (cmd == "bench") return bench();
  if (cmd != "run" || argc < 4 || !kTests.count(argv[2])) {
    fprintf(stderr, "usage: driver list | bench | run <test> <seed>\n");
    return 2;
  }
  rng.seed(strtoull(argv[3], nullptr, 10));
  try {
    kTests.at(argv[2])();
    printf("OK\n");
    return 0;
  } catch (const Mismatch& m) {
    printf("MISMATCH: %s\n", m.what.c_str());
    return 1;
  } catch (const fp8k::emu::Fault& f) {
    printf("FAULT: %s\n", f.what());
    return 3;
  }
}
