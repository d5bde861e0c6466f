// Plugins that are broken in the ways a real one could be, for test/plugin.test.ts.
// FAKE_KIND selects: 1 wrong ABI version, 2 a probe that throws, 3 a working plugin that is
// not the cuda backend, 4 a well-formed cuda plugin that reports no device.
#include <stdio.h>

#include <stdexcept>

#include "../../native/backend.h"

static int probe_throws(char*, size_t) { throw std::runtime_error("boom"); }
static int probe_no_device(char* reason, size_t cap) {
  snprintf(reason, cap, "no CUDA device (fake plugin)");
  return 0;
}

extern "C" __attribute__((visibility("default"))) const fp8k_backend* fp8k_plugin_backend(void) {
  static fp8k_backend t{};
  t.abi_version = FAKE_KIND == 1 ? 999 : FP8K_ABI_VERSION;
  t.name = FAKE_KIND == 3 ? "rocm" : "cuda";
  t.probe = FAKE_KIND == 2 ? probe_throws : probe_no_device;
  return &t;
}
