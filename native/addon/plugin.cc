#include "plugin.h"

#include <sys/stat.h>

#include "dl.h"

namespace fp8k::addon {

static bool exists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}

const void* open_first(const std::vector<std::string>& paths, const char* entry, const std::function<std::string(const void*)>& refuse, std::string& missing,
                       std::string& tried) {
  for (const std::string& p : paths) {
    if (!exists(p)) {
      missing += (missing.empty() ? "" : ", ") + p;
      continue;
    }
    // RTLD_LOCAL: a plugin's static runtime (cudart) stays private to it.
    void* lib = dl::open(p, false);
    if (!lib) {
      tried += (tried.empty() ? "" : "; ") + p + ": " + dl::error();
      continue;
    }
    using EntryFn = const void* (*)(void);
    auto fn = reinterpret_cast<EntryFn>(dl::sym(lib, entry));
    const void* table = fn ? fn() : nullptr;
    const std::string why = table ? refuse(table) : std::string("no ") + entry + " entry point";
    if (why.empty()) return table;  // kept loaded for the life of the process
    tried += (tried.empty() ? "" : "; ") + p + ": " + why;
    dl::close(lib);
  }
  return nullptr;
}

void load_plugin(PluginSlot& slot, const std::vector<std::string>& paths) {
  if (slot.backend) return;
  std::string tried, missing;
  auto refuse = [&](const void* t) -> std::string {
    const fp8k_backend* b = static_cast<const fp8k_backend*>(t);
    if (b->abi_version != FP8K_ABI_VERSION) return "backend ABI " + std::to_string(b->abi_version) + ", this addon speaks " + std::to_string(FP8K_ABI_VERSION);
    if (!b->probe || !b->name || slot.name != b->name) return "does not provide the '" + slot.name + "' backend";
    return "";
  };
  if (const void* b = open_first(paths, "fp8k_plugin_backend", refuse, missing, tried)) {
    slot.backend = static_cast<const fp8k_backend*>(b);
    slot.reason.clear();
    return;
  }
#ifdef _WIN32
  if (tried.empty())
    slot.reason = "the " + slot.name + " plugin is built on Linux only (looked for " + missing + "); on Windows fp8kit runs ref and cpu";
#else
  if (tried.empty())
    slot.reason = "the " + slot.name + " plugin is not built (looked for " + missing + "); build it in the fp8kit package directory (node_modules/fp8kit in a project) with `npm run build:" +
                  slot.name + "` (needs nvcc, cmake and the cmake-js package: npm install cmake-js), or point FP8KIT_CUDA_PLUGIN at a built fp8kit_cuda.so";
#endif
  else
    slot.reason = "the " + slot.name + " plugin failed to load: " + tried;
}

}  // namespace fp8k::addon
