// The backends this process knows: those built into the addon, then plugin slots.
#pragma once
#include <string>
#include <vector>

#include "../backend.h"

namespace fp8k::addon {

struct BackendEntry {
  std::string name;
  const fp8k_backend* backend;  // null for a plugin that is not loaded
  std::string reason;           // why it is unusable, empty when usable
};

std::vector<BackendEntry> list_backends();
// The named backend, or null if no backend has that name; `reason` says why it is unusable, if it is.
const fp8k_backend* find_backend(const std::string& name, bool* known, std::string* reason);
// Loads the plugin that provides backend `name` from the first of `paths` that works.
void load_plugin_backend(const std::string& name, const std::vector<std::string>& paths);

}  // namespace fp8k::addon
