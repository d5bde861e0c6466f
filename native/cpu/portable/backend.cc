// The cpu backend where there is no x86-64 (linux-arm64, macOS on Apple silicon): the scalar reference
// kernels under the name "cpu", so every program that asks for the default backend runs, with ref's
// bits. The SIMD tiers (native/cpu/*.cc) are x86-64 code and are not compiled here (scripts/sources.cjs).
#include <math.h>
#include <string.h>

#include "../../backend.h"
#include "../copy.h"
#include "../ops.h"
#include "../peak.h"
#include "../simd.h"

static const char kWhy[] = "no SIMD tier for this architecture: the cpu backend runs the scalar reference kernels";

static int probe(char*, size_t) { return 1; }
static const char* describe(void) { return "scalar (the ref kernels; the SIMD tiers are x86-64 only)"; }

extern "C" const fp8k_backend* fp8k_backend_cpu(void) {
  static const fp8k_backend table = [] {
    fp8k_backend t = *fp8k_backend_ref();
    t.name = "cpu";
    t.probe = probe;
    t.describe = describe;
    return t;
  }();
  return &table;
}

extern "C" int fp8k_cpu_simd_level(void) { return FP8K_SIMD_SCALAR; }
extern "C" int fp8k_cpu_vector_level(void) { return FP8K_SIMD_SCALAR; }
extern "C" const char* fp8k_cpu_simd_reason(void) { return kWhy; }
extern "C" int fp8k_cpu_force_simd(int) { return FP8K_SIMD_SCALAR; }
extern "C" const char* fp8k_cpu_simd_name(int) { return "scalar"; }
void fp8k_cpu_copy(void* dst, const void* src, size_t bytes) { memcpy(dst, src, bytes); }
double fp8k_cpu_peak_gflops(int) { return NAN; }  // no peak measured without the x86 kernels
namespace fp8k::cpu {
const char* gemm_path(void) { return "scalar (ref)"; }
}  // namespace fp8k::cpu
