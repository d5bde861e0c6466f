#include "registry.h"

#include <mutex>

#include "plugin.h"

namespace fp8k::addon {

static std::mutex mu;
static std::vector<PluginSlot> slots = {{"cuda", nullptr, "plugin not loaded yet"}};

static std::string probe(const fp8k_backend* b) {
  char buf[512] = {0};
  try {
    if (b->probe(buf, sizeof buf)) return "";
  } catch (...) {
    return "its probe threw an exception";
  }
  return buf[0] ? buf : "unavailable";
}

std::vector<BackendEntry> list_backends() {
  std::vector<BackendEntry> out;
  size_t n = 0;
  const fp8k_backend* const* builtin = fp8k_builtin_backends(&n);
  for (size_t i = 0; i < n; i++) out.push_back({builtin[i]->name, builtin[i], probe(builtin[i])});
  std::lock_guard<std::mutex> lock(mu);
  for (const PluginSlot& s : slots) out.push_back({s.name, s.backend, s.backend ? probe(s.backend) : s.reason});
  return out;
}

// Called by every operation: probes only the backend asked for.
const fp8k_backend* find_backend(const std::string& name, bool* known, std::string* reason) {
  *known = true;
  size_t n = 0;
  const fp8k_backend* const* builtin = fp8k_builtin_backends(&n);
  for (size_t i = 0; i < n; i++)
    if (name == builtin[i]->name) {
      *reason = probe(builtin[i]);
      return builtin[i];
    }
  std::lock_guard<std::mutex> lock(mu);
  for (const PluginSlot& s : slots)
    if (name == s.name) {
      *reason = s.backend ? probe(s.backend) : s.reason;
      return s.backend;
    }
  *known = false;
  return nullptr;
}

void load_plugin_backend(const std::string& name, const std::vector<std::string>& paths) {
  std::lock_guard<std::mutex> lock(mu);
  for (PluginSlot& s : slots)
    if (s.name == name) load_plugin(s, paths);
}

}  // namespace fp8k::addon
