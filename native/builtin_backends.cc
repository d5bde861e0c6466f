#include "backend.h"

extern "C" const fp8k_backend* const* fp8k_builtin_backends(size_t* count) {
  static const fp8k_backend* const list[] = {fp8k_backend_ref(), fp8k_backend_cpu(), fp8k_backend_cuda_emu()};
  *count = sizeof list / sizeof list[0];
  return list;
}
