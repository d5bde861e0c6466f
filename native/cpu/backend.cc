// The cpu backend: SIMD kernels (AVX-512 / AVX2 / scalar, chosen at run time) over threads.
#include <string>

#include "../backend.h"
#include "ops.h"
#include "simd.h"

static int probe(char*, size_t) { return 1; }
// The SIMD level, the GEMM tier it runs, and why the level is below what the CPU has, if it is.
static const char* describe(void) {
  static thread_local std::string text;
  const char* reason = fp8k_cpu_simd_reason();
  text = std::string(fp8k_cpu_simd_name(fp8k_cpu_simd_level())) + "; gemm " + fp8k::cpu::gemm_path() + (*reason ? std::string("; ") + reason : "");
  return text.c_str();
}

static fp8k_backend make_table() {
  fp8k_backend t{};  // host memory: the device entries stay NULL
  t.abi_version = FP8K_ABI_VERSION;
  t.name = "cpu";
  t.probe = probe;
  t.describe = describe;
  t.cast_to_fp8 = fp8k::cpu::cast_to_fp8;
  t.cast_from_fp8 = fp8k::cpu::cast_from_fp8;
  t.convert = fp8k::cpu::convert;
  t.quantize = fp8k::cpu::quantize;
  t.dequantize = fp8k::cpu::dequantize;
  t.cast_transpose = fp8k::cpu::cast_transpose;
  t.gemm = fp8k::cpu::gemm;
  t.pack_b_bytes = fp8k::cpu::pack_b_bytes;
  t.pack_b = fp8k::cpu::pack_b;
  t.route = fp8k::cpu::route;
  t.dispatch_layout = fp8k::cpu::dispatch_layout;
  t.copy_rows = fp8k::cpu::copy_rows;
  t.reduce_rows = fp8k::cpu::reduce_rows;
  return t;
}

extern "C" const fp8k_backend* fp8k_backend_cpu(void) {
  static const fp8k_backend table = make_table();
  return &table;
}
