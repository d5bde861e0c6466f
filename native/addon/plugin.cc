#include "plugin.h"

#include <dlfcn.h>
#include <sys/stat.h>

namespace fp8k::addon {

using EntryFn = const fp8k_backend* (*)(void);

static bool exists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}

void load_plugin(PluginSlot& slot, const std::vector<std::string>& paths) {
  if (slot.backend) return;
  std::string tried, missing;
  for (const std::string& p : paths) {
    if (!exists(p)) {
      missing += (missing.empty() ? "" : ", ") + p;
      continue;
    }
    // RTLD_LOCAL: the plugin's static cudart stays private to it.
    void* lib = dlopen(p.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      tried += (tried.empty() ? " " : "; ") + p + ": " + dlerror();
      continue;
    }
    auto entry = reinterpret_cast<EntryFn>(dlsym(lib, "fp8k_plugin_backend"));
    const fp8k_backend* b = entry ? entry() : nullptr;
    if (!b) {
      tried += (tried.empty() ? " " : "; ") + p + ": no fp8k_plugin_backend entry point";
    } else if (b->abi_version != FP8K_ABI_VERSION) {
      tried += (tried.empty() ? " " : "; ") + p + ": backend ABI " + std::to_string(b->abi_version) + ", this addon speaks " + std::to_string(FP8K_ABI_VERSION);
    } else if (!b->probe || !b->name || slot.name != b->name) {
      tried += (tried.empty() ? " " : "; ") + p + ": does not provide the '" + slot.name + "' backend";
    } else {
      slot.backend = b;  // kept loaded for the life of the process
      slot.reason.clear();
      return;
    }
    dlclose(lib);
  }
  if (tried.empty())
    slot.reason = "the " + slot.name + " plugin is not built (looked for " + missing + "); build it in the fp8kit package directory (node_modules/fp8kit in a project) with `npm run build:" +
                  slot.name + "` (needs nvcc, cmake and the cmake-js package: npm install cmake-js), or point FP8KIT_CUDA_PLUGIN at a built fp8kit_cuda.so";
  else
    slot.reason = "the " + slot.name + " plugin failed to load:" + tried;
}

}  // namespace fp8k::addon
