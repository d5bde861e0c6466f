// Backends that live in their own shared library (the CUDA plugin), loaded with dlopen on demand
// so the addon never links the CUDA runtime.
#pragma once
#include <string>
#include <vector>

#include "../backend.h"

namespace fp8k::addon {

struct PluginSlot {
  std::string name;                      // the backend name it provides ("cuda")
  const fp8k_backend* backend = nullptr; // set once loaded
  std::string reason;                    // why not, while backend is null
};

// Tries `paths` in order until one loads; records what happened to each.
// A library that fails to load, lacks the entry point or speaks another ABI leaves the slot empty.
void load_plugin(PluginSlot& slot, const std::vector<std::string>& paths);

}  // namespace fp8k::addon
