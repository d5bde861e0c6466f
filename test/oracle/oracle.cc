// The numerics oracle (SPEC §1): every built-in backend — and the cpu backend at every SIMD
// level this CPU has — against NVIDIA's cuda_fp8.h host code. Host backends see all 2^32 f32 bit
// patterns; device backends (operations on device memory, e.g. cuda-emu, whose emulated kernels
// are far too slow for 2^32) see every f32 pattern with one of six low halves (0000 0001 7FFF 8000
// 8001 FFFF: every exponent, sign, and the rounding cases). All backends see all 2^16 bf16 inputs
// and all 256 codes of each format. f32 <-> bf16 is checked against common/fp8.h.
//
// Build: g++ -O2 -std=c++17 -pthread -I<cuda>/include test/oracle/oracle.cc native/common/*.cc
//        native/ref/*.cc native/cpu/*.cc [native/emu/*.cc -ffp-contract=off] native/builtin_backends.cc
// Prints one line per (target, check) and "oracle: N mismatches"; exit code 1 on any mismatch.
// Env ORACLE_THREADS sets the worker count (default: all cores, at least 2).
#include <cuda_fp8.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "../../native/backend.h"
#include "../../native/common/fp8.h"
#include "../../native/cpu/simd.h"

namespace {

const size_t kChunk = size_t(1) << 24;  // f32 inputs per chunk: 64 MiB of input
const int kShow = 5;                      // mismatches printed per check

// One (backend, simd level) pair under test.
struct Target {
  std::string name;
  const fp8k_backend* backend;
  int simd;     // cpu backend only; -1 otherwise
  bool device;  // operations take device pointers (mem_alloc is set)
};

// A running count for one output line.
struct Check {
  std::string label;
  unsigned long long inputs = 0, mismatches = 0;
};

int g_threads = 2;

// fn(begin, end) over [0, n) split across g_threads threads.
void split(size_t n, const std::function<void(size_t, size_t)>& fn) {
  std::vector<std::thread> pool;
  const size_t per = (n + g_threads - 1) / g_threads;
  for (int t = 1; t < g_threads; t++) {
    const size_t b = t * per, e = b + per < n ? b + per : n;
    if (b < e) pool.emplace_back([&fn, b, e] { fn(b, e); });
  }
  fn(0, per < n ? per : n);
  for (auto& th : pool) th.join();
}

void select(const Target& t) {
  if (t.simd >= 0) fp8k_cpu_force_simd(t.simd);
}

void check_status(const std::string& what, int status, const fp8k_call& call) {
  if (status != FP8K_OK) {
    printf("%s: status %d: %s\n", what.c_str(), status, call.message);
    fflush(stdout);
    exit(1);
  }
}

// Runs op(device_in, device_out) on host buffers: for a device backend through its device
// memory (upload, run, synchronize, download), for a host backend directly.
int run(const Target& t, const void* in, size_t in_bytes, void* out, size_t out_bytes, fp8k_call* call,
        const std::function<int(const void*, void*)>& op) {
  if (!t.device) return op(in, out);
  const fp8k_backend* b = t.backend;
  void *din = nullptr, *dout = nullptr;
  int s = b->mem_alloc(&din, in_bytes, call);
  if (s == FP8K_OK) s = b->mem_alloc(&dout, out_bytes, call);
  if (s == FP8K_OK) s = b->mem_upload(din, in, in_bytes, call);
  if (s == FP8K_OK) s = op(din, dout);
  if (s == FP8K_OK) s = b->synchronize(call);
  if (s == FP8K_OK) s = b->mem_download(out, dout, out_bytes, call);
  if (din) b->mem_free(din, call);
  if (dout) b->mem_free(dout, call);
  return s;
}

int cast_to(const Target& t, const void* x, int dtype, uint8_t* q, size_t n, int format, int sat, fp8k_call* call) {
  return run(t, x, n * (dtype == FP8K_BF16 ? 2 : 4), q, n, call, [&](const void* dx, void* dq) {
    return t.backend->cast_to_fp8(dx, dtype, static_cast<uint8_t*>(dq), n, format, sat, call);
  });
}

int cast_from(const Target& t, const uint8_t* q, int format, void* y, int dtype, size_t n, fp8k_call* call) {
  return run(t, q, n, y, n * (dtype == FP8K_BF16 ? 2 : 4), call, [&](const void* dq, void* dy) {
    return t.backend->cast_from_fp8(static_cast<const uint8_t*>(dq), format, dy, dtype, n, call);
  });
}

int convert(const Target& t, const void* x, int xd, void* y, int yd, size_t n, fp8k_call* call) {
  return run(t, x, n * (xd == FP8K_BF16 ? 2 : 4), y, n * (yd == FP8K_BF16 ? 2 : 4), call,
             [&](const void* dx, void* dy) { return t.backend->convert(dx, xd, dy, yd, n, call); });
}

// Counts differing elements; prints the first few with the input bits.
template <typename In, typename Out>
void compare(Check& c, const In* in, const Out* got, const Out* want, size_t n) {
  c.inputs += n;
  if (!memcmp(got, want, n * sizeof(Out))) return;
  for (size_t i = 0; i < n; i++) {
    if (got[i] == want[i]) continue;
    if (c.mismatches < kShow)
      printf("  %s: input 0x%0*llx got 0x%0*llx want 0x%0*llx\n", c.label.c_str(), (int)sizeof(In) * 2,
             (unsigned long long)in[i], (int)sizeof(Out) * 2, (unsigned long long)got[i], (int)sizeof(Out) * 2,
             (unsigned long long)want[i]);
    c.mismatches++;
  }
}

struct Variant {
  int format, saturate;
  const char* name;  // "e4m3 sat"
};
const Variant kVariants[4] = {{FP8K_FORMAT_E4M3, 1, "e4m3 sat"},
                              {FP8K_FORMAT_E4M3, 0, "e4m3 nosat"},
                              {FP8K_FORMAT_E5M2, 1, "e5m2 sat"},
                              {FP8K_FORMAT_E5M2, 0, "e5m2 nosat"}};

uint8_t nvidia_cast(float x, const Variant& v) {
  return __nv_cvt_float_to_fp8(x, v.saturate ? __NV_SATFINITE : __NV_NOSAT,
                               v.format == FP8K_FORMAT_E5M2 ? __NV_E5M2 : __NV_E4M3);
}

uint32_t nvidia_to_f32(uint8_t code, int format) {
  const __half h(__nv_cvt_fp8_to_halfraw(code, format == FP8K_FORMAT_E5M2 ? __NV_E5M2 : __NV_E4M3));
  return fp8k_f32_bits(__half2float(h));
}

// checks[k]: 0..3 f32 -> fp8 variants, 4..7 bf16 -> fp8, 8 f32 -> bf16, 9 bf16 -> f32,
// 10..11 fp8 -> f32, 12..13 fp8 -> bf16.
const int kChecks = 14;
bool has(const Target& t, int k) {
  const fp8k_backend* b = t.backend;
  return k < 8 ? b->cast_to_fp8 != nullptr : k < 10 ? b->convert != nullptr : b->cast_from_fp8 != nullptr;
}

// The f32 inputs in[0..n): NVIDIA's bytes (want[4]) and fp8.h's bf16 (want16), over the threads.
void expected(const uint32_t* in, size_t n, uint8_t* const want[4], uint16_t* want16) {
  split(n, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; i++) {
      const float f = fp8k_bits_f32(in[i]);
      for (int v = 0; v < 4; v++) want[v][i] = nvidia_cast(f, kVariants[v]);
      want16[i] = fp8k_bf16_from_f32(f);
    }
  });
}

// f32 -> fp8 (4 variants) and f32 -> bf16 of in[0..n) on one target. Host targets run split over
// the threads and compare with memcmp there; the element report runs only where a part differs.
void check_f32(const Target& t, std::vector<Check>& checks, const uint32_t* in, size_t n, uint8_t* const want[4],
               const uint16_t* want16, uint8_t* const got[4], uint16_t* got16) {
  std::atomic<unsigned> differs{0};  // bit k: check k differs somewhere
  auto part = [&](size_t b, size_t e) {
    fp8k_call call{};
    for (int v = 0; v < 4; v++) {
      if (!has(t, v)) continue;
      check_status(checks[v].label,
                   cast_to(t, in + b, FP8K_F32, got[v] + b, e - b, kVariants[v].format, kVariants[v].saturate, &call),
                   call);
      if (memcmp(got[v] + b, want[v] + b, e - b)) differs |= 1u << v;
    }
    if (has(t, 8)) {
      check_status(checks[8].label, convert(t, in + b, FP8K_F32, got16 + b, FP8K_BF16, e - b, &call), call);
      if (memcmp(got16 + b, want16 + b, (e - b) * 2)) differs |= 1u << 8;
    }
  };
  if (t.device) part(0, n);  // a device backend runs its own parallelism
  else split(n, part);
  for (int v = 0; v < 4; v++) {
    if (!has(t, v)) continue;
    if (differs & (1u << v)) compare(checks[v], in, got[v], want[v], n);
    else checks[v].inputs += n;
  }
  if (has(t, 8)) {
    if (differs & (1u << 8)) compare(checks[8], in, got16, want16, n);
    else checks[8].inputs += n;
  }
}

}  // namespace

int main() {
  if (const char* env = getenv("ORACLE_THREADS")) g_threads = atoi(env);
  else g_threads = (int)std::thread::hardware_concurrency();
  if (g_threads < 2) g_threads = 2;
  const auto t0 = std::chrono::steady_clock::now();

  std::vector<Target> targets;
  size_t count = 0;
  const fp8k_backend* const* list = fp8k_builtin_backends(&count);
  for (size_t i = 0; i < count; i++) {
    const fp8k_backend* b = list[i];
    char reason[256] = "";
    if (!b->probe(reason, sizeof reason)) {
      printf("%s: unavailable (%s)\n", b->name, reason);
      continue;
    }
    const bool device = b->mem_alloc != nullptr;
    if (!strcmp(b->name, "cpu")) {
      for (int level = FP8K_SIMD_AVX512_VBMI; level >= FP8K_SIMD_SCALAR; level--)
        if (fp8k_cpu_force_simd(level) == level)
          targets.push_back({std::string("cpu/") + fp8k_cpu_simd_name(level), b, level, device});
      fp8k_cpu_force_simd(-1);
    } else {
      targets.push_back({b->name, b, -1, device});
    }
  }
  printf("oracle: targets");
  for (auto& t : targets) printf(" %s%s", t.name.c_str(), t.device ? " (device: sampled f32)" : "");
  printf(" (%d threads)\n", g_threads);
  fflush(stdout);

  std::vector<std::vector<Check>> checks(targets.size(), std::vector<Check>(kChecks));
  for (size_t t = 0; t < targets.size(); t++) {
    for (int v = 0; v < 4; v++) {
      checks[t][v].label = targets[t].name + " f32->" + kVariants[v].name;
      checks[t][4 + v].label = targets[t].name + " bf16->" + kVariants[v].name;
    }
    checks[t][8].label = targets[t].name + " f32->bf16";
    checks[t][9].label = targets[t].name + " bf16->f32";
    checks[t][10].label = targets[t].name + " e4m3->f32";
    checks[t][11].label = targets[t].name + " e5m2->f32";
    checks[t][12].label = targets[t].name + " e4m3->bf16";
    checks[t][13].label = targets[t].name + " e5m2->bf16";
  }

  std::vector<uint32_t> x(kChunk);
  std::vector<uint8_t> want_v[4], got_v[4];
  uint8_t *want[4], *got[4];
  for (int v = 0; v < 4; v++) {
    want_v[v].resize(kChunk), got_v[v].resize(kChunk);
    want[v] = want_v[v].data(), got[v] = got_v[v].data();
  }
  std::vector<uint16_t> want16(kChunk), got16(kChunk);

  // ---- Host targets: all 2^32 f32 bit patterns, a chunk at a time; NVIDIA's bytes once per chunk. ----
  bool any_host = false;
  for (auto& t : targets) any_host |= !t.device;
  for (uint64_t base = 0; any_host && base < (uint64_t(1) << 32); base += kChunk) {
    split(kChunk, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; i++) x[i] = (uint32_t)(base + i);
    });
    expected(x.data(), kChunk, want, want16.data());
    for (size_t t = 0; t < targets.size(); t++) {
      if (targets[t].device) continue;
      select(targets[t]);
      check_f32(targets[t], checks[t], x.data(), kChunk, want, want16.data(), got, got16.data());
    }
  }

  // ---- Device targets: every f32 pattern with one of six low halves. ----
  {
    const uint32_t lows[] = {0x0000, 0x0001, 0x7FFF, 0x8000, 0x8001, 0xFFFF};
    const size_t n = 6 << 16;
    for (size_t i = 0; i < n; i++) x[i] = (uint32_t)((i / 6) << 16) | lows[i % 6];
    bool computed = false;
    for (size_t t = 0; t < targets.size(); t++) {
      if (!targets[t].device) continue;
      if (!computed) expected(x.data(), n, want, want16.data()), computed = true;
      check_f32(targets[t], checks[t], x.data(), n, want, want16.data(), got, got16.data());
    }
  }

  // ---- All 2^16 bf16 inputs: bf16 -> fp8 is f32 -> fp8 of the (exact) bf16 value. ----
  {
    const size_t n = 1 << 16;
    std::vector<uint16_t> h(n);
    std::vector<uint32_t> want32(n), got32(n);
    std::vector<uint8_t> w8[4], g8(n);
    for (size_t i = 0; i < n; i++) h[i] = (uint16_t)i, want32[i] = (uint32_t)i << 16;
    for (int v = 0; v < 4; v++) {
      w8[v].resize(n);
      for (size_t i = 0; i < n; i++) w8[v][i] = nvidia_cast(fp8k_bf16_to_f32(h[i]), kVariants[v]);
    }
    for (size_t t = 0; t < targets.size(); t++) {
      select(targets[t]);
      fp8k_call call{};
      for (int v = 0; v < 4; v++) {
        if (!has(targets[t], 4 + v)) continue;
        check_status(checks[t][4 + v].label,
                     cast_to(targets[t], h.data(), FP8K_BF16, g8.data(), n, kVariants[v].format,
                             kVariants[v].saturate, &call),
                     call);
        compare(checks[t][4 + v], h.data(), g8.data(), w8[v].data(), n);
      }
      if (has(targets[t], 9)) {
        check_status(checks[t][9].label, convert(targets[t], h.data(), FP8K_BF16, got32.data(), FP8K_F32, n, &call), call);
        compare(checks[t][9], h.data(), got32.data(), want32.data(), n);
      }
    }
  }

  // ---- All 256 codes of each format back to f32 (NVIDIA's fp8 -> half -> float) and to bf16. ----
  {
    uint8_t codes[256];
    for (int i = 0; i < 256; i++) codes[i] = (uint8_t)i;
    for (int format = 0; format < 2; format++) {
      uint32_t want32[256], got32[256];
      uint16_t want16b[256], got16b[256];
      for (int i = 0; i < 256; i++) {
        want32[i] = nvidia_to_f32(codes[i], format);
        want16b[i] = fp8k_bf16_from_f32(fp8k_bits_f32(want32[i]));
      }
      for (size_t t = 0; t < targets.size(); t++) {
        if (!has(targets[t], 10)) continue;
        select(targets[t]);
        fp8k_call call{};
        check_status(checks[t][10 + format].label, cast_from(targets[t], codes, format, got32, FP8K_F32, 256, &call), call);
        compare(checks[t][10 + format], codes, got32, want32, 256);
        check_status(checks[t][12 + format].label, cast_from(targets[t], codes, format, got16b, FP8K_BF16, 256, &call), call);
        compare(checks[t][12 + format], codes, got16b, want16b, 256);
      }
    }
  }

  fp8k_cpu_force_simd(-1);
  unsigned long long total = 0;
  for (size_t t = 0; t < targets.size(); t++)
    for (int k = 0; k < kChecks; k++) {
      if (!has(targets[t], k)) continue;  // a backend without the operation gets no line
      const Check& c = checks[t][k];
      printf("%s: %llu inputs, %llu mismatches\n", c.label.c_str(), c.inputs, c.mismatches);
      total += c.mismatches;
    }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  printf("oracle: %llu mismatches (%.1f s)\n", total, secs);
  return total ? 1 : 0;
}
