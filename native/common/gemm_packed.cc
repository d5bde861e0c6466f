#include "gemm_packed.h"

#include <string.h>

extern "C" void fp8k_packed_init(void* packed, const char* tag, const fp8k_gemm* p, size_t bytes) {
  fp8k_packed_header h{};
  memcpy(h.magic, "fp8kB", 5);
  strncpy(h.magic + 5, tag, 3);
  h.n = p->n;
  h.k = p->k;
  h.format = p->b_format;
  h.b_scales = p->b_scales;
  h.bytes = bytes;
  memcpy(packed, &h, sizeof h);
}

extern "C" int fp8k_packed_check(const void* packed, const char* tag, const fp8k_gemm* p, fp8k_call* call) {
  fp8k_packed_header h;
  memcpy(&h, packed, sizeof h);
  if (memcmp(h.magic, "fp8kB", 5) != 0) return fp8k_fail(call, FP8K_ERR_ARGUMENT, "b is not a packed B (from packWeights)");
  if (strncmp(h.magic + 5, tag, 3) != 0)
    return fp8k_fail(call, FP8K_ERR_ARGUMENT, "b was packed by another backend ('%.3s'; this one packs as '%s')", h.magic + 5, tag);
  if (h.n != p->n || h.k != p->k || h.format != p->b_format)
    return fp8k_fail(call, FP8K_ERR_ARGUMENT, "packed b holds N = %llu, K = %llu, format %d; the call needs N = %zu, K = %zu, format %d",
                     (unsigned long long)h.n, (unsigned long long)h.k, h.format, p->n, p->k, p->b_format);
  return FP8K_OK;
}
