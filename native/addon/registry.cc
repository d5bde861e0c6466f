#include "registry.h"

namespace fp8k::addon {

std::vector<const fp8k_backend*> all_backends() {
  size_t n = 0;
  const fp8k_backend* const* list = fp8k_builtin_backends(&n);
  return std::vector<const fp8k_backend*>(list, list + n);
}

const fp8k_backend* find_backend(const std::string& name) {
  for (const fp8k_backend* b : all_backends())
    if (name == b->name) return b;
  return nullptr;
}

bool backend_usable(const fp8k_backend* b, std::string* reason) {
  char buf[512] = {0};
  if (b->probe(buf, sizeof buf)) return true;
  if (reason) *reason = buf;
  return false;
}

}  // namespace fp8k::addon
