// The cuda-emu entries' wrapper: an emulated kernel's Fault or an allocation failure as the call's error.
#pragma once
#include <new>

#include "../backend.h"
#include "runtime.h"

namespace fp8k::emu {

// A kernel fault (bad barrier, bad mask, deadlock) is a bug in fp8kit: report it with its source line.
template <class F>
int guarded(fp8k_call* c, const char* op, F&& f) {
  try {
    f();
    return FP8K_OK;
  } catch (const fp8k::emu::Fault& e) {
    return fp8k_fail(c, FP8K_ERR_INTERNAL, "%s: emulated kernel fault: %s", op, e.what());
  } catch (const std::bad_alloc&) {
    return fp8k_fail(c, FP8K_ERR_OUT_OF_MEMORY, "%s: out of memory", op);
  }
}

}  // namespace fp8k::emu
