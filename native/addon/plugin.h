// Backends that live in their own shared library (the CUDA plugin), loaded with dlopen on demand
// so the addon never links the CUDA runtime.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "../backend.h"

namespace fp8k::addon {

struct PluginSlot {
  std::string name;                      // the backend name it provides ("cuda")
  const fp8k_backend* backend = nullptr; // set once loaded
  std::string reason;                    // why not, while backend is null
};

// Opens the first of `paths` (RTLD_LOCAL) whose `entry` function returns a table that `refuse` takes
// ("" takes it; otherwise why not). That library stays loaded for the life of the process; the others
// are closed. Returns the table, or nullptr with `missing` (paths not there) and `tried` ("path: why"
// for each found one, "; " between) filled in.
const void* open_first(const std::vector<std::string>& paths, const char* entry, const std::function<std::string(const void*)>& refuse, std::string& missing,
                       std::string& tried);

// Tries `paths` in order until one loads; records what happened to each.
// A library that fails to load, lacks the entry point or speaks another ABI leaves the slot empty.
void load_plugin(PluginSlot& slot, const std::vector<std::string>& paths);

}  // namespace fp8k::addon
