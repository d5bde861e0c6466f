#include "../backend.h"

namespace fp8k::ref {
int cast_to_fp8(const void*, int, uint8_t*, size_t, int, int, fp8k_error*);
int cast_from_fp8(const uint8_t*, int, void*, int, size_t, fp8k_error*);
int convert(const void*, int, void*, int, size_t, fp8k_error*);
}  // namespace fp8k::ref

static int probe(char*, size_t) { return 1; }
static const char* describe(void) { return "scalar reference"; }

extern "C" const fp8k_backend* fp8k_backend_ref(void) {
  static const fp8k_backend table = {
      FP8K_ABI_VERSION, "ref", probe, describe,
      fp8k::ref::cast_to_fp8, fp8k::ref::cast_from_fp8, fp8k::ref::convert,
  };
  return &table;
}
