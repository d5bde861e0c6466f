#include "copy.h"

#include <string.h>

#include "parallel.h"

void fp8k_cpu_copy(void* dst, const void* src, size_t bytes) {
  // Same split as the kernels (byte granularity; 1 MiB grain).
  fp8k_parallel_for(bytes, size_t(1) << 20, [=](size_t b, size_t e) {
    memcpy(static_cast<char*>(dst) + b, static_cast<const char*>(src) + b, e - b);
  });
}
