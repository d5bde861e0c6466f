// The cuda-emu backend where the emulator is not built (Windows, macOS: scripts/sources.cjs): listed,
// with the reason, and never usable. The emulator's fibers are a System V x86-64 switch in ELF assembly
// or ucontext; a Windows port would need the Win32 fiber API and its exception and stack bookkeeping,
// a macOS one Mach-O assembly or a switch for arm64.
#include <stdio.h>

#include "../../backend.h"

static int probe(char* reason, size_t cap) {
  snprintf(reason, cap, "the CUDA emulator is not built on this platform (its fiber switch is ELF assembly or ucontext); it runs on Linux");
  return 0;
}

extern "C" const fp8k_backend* fp8k_backend_cuda_emu(void) {
  static const fp8k_backend table = [] {
    fp8k_backend t = {};
    t.abi_version = FP8K_ABI_VERSION;
    t.name = "cuda-emu";
    t.probe = probe;
    return t;
  }();
  return &table;
}
