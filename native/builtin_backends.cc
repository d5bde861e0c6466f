#include "backend.h"

extern "C" const fp8k_backend* const* fp8k_builtin_backends(size_t* count) {
  static const fp8k_backend* const list[] = {fp8k_backend_ref(), fp8k_backend_cpu()};
  *count = sizeof list / sizeof list[0];
  return list;
}
