#include "ref.h"

static int probe(char*, size_t) { return 1; }
static const char* describe(void) { return "scalar reference"; }

static fp8k_backend make_table() {
  fp8k_backend t{};  // host memory: the device entries stay NULL
  t.abi_version = FP8K_ABI_VERSION;
  t.name = "ref";
  t.probe = probe;
  t.describe = describe;
  t.cast_to_fp8 = fp8k::ref::cast_to_fp8;
  t.cast_from_fp8 = fp8k::ref::cast_from_fp8;
  t.convert = fp8k::ref::convert;
  t.quantize = fp8k::ref::quantize;
  t.dequantize = fp8k::ref::dequantize;
  t.cast_transpose = fp8k::ref::cast_transpose;
  t.gemm = fp8k::ref::gemm;
  t.pack_b_bytes = fp8k::ref::pack_b_bytes;
  t.pack_b = fp8k::ref::pack_b;
  t.route = fp8k::ref::route;
  t.dispatch_layout = fp8k::ref::dispatch_layout;
  t.copy_rows = fp8k::ref::copy_rows;
  t.reduce_rows = fp8k::ref::reduce_rows;
  return t;
}

extern "C" const fp8k_backend* fp8k_backend_ref(void) {
  static const fp8k_backend table = make_table();
  return &table;
}
