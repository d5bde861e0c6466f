// One fiber per emulated CUDA thread: a stack and a saved stack pointer.
// x86-64 uses a hand-written switch (callee-saved registers + SP, ~tens of ns);
// elsewhere, or with -DFP8K_EMU_UCONTEXT, glibc ucontext (it saves the signal
// mask with a system call, ~10x slower).
#pragma once
#include <cstddef>

#if !defined(__x86_64__) && !defined(FP8K_EMU_UCONTEXT)
#define FP8K_EMU_UCONTEXT 1
#endif
#ifdef FP8K_EMU_UCONTEXT
#include <ucontext.h>
#endif

namespace fp8k {
namespace emu {

// mmap'ed stack with a PROT_NONE guard page below it, so an overflow faults
// instead of silently overwriting the neighbouring fiber's stack.
struct Stack {
  char* base = nullptr;   // lowest usable byte (just above the guard page)
  size_t size = 0;        // usable bytes
  void allocate(size_t bytes);  // throws std::bad_alloc
  void release();
};

struct Context {
#ifdef FP8K_EMU_UCONTEXT
  ucontext_t uc;
#else
  void* sp = nullptr;
#endif
};

// Prepares `ctx` so that switching to it calls fn(arg) on `stack`. fn must never return.
void fiber_init(Context& ctx, const Stack& stack, void (*fn)(void*), void* arg);
// Saves the running context into `from` and resumes `to`.
void fiber_switch(Context& from, Context& to);

}  // namespace emu
}  // namespace fp8k
