// Context switch and stacks for the emulator's fibers (see fiber.h).
#include "fiber.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <new>

namespace fp8k {
namespace emu {

void Stack::allocate(size_t bytes) {
  const size_t page = (size_t)sysconf(_SC_PAGESIZE);
  bytes = (bytes + page - 1) & ~(page - 1);
  void* p = mmap(nullptr, bytes + page, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  mprotect(p, page, PROT_NONE);  // guard page: stacks grow down into it
  base = (char*)p + page;
  size = bytes;
}

void Stack::release() {
  if (!base) return;
  const size_t page = (size_t)sysconf(_SC_PAGESIZE);
  munmap(base - page, size + page);
  base = nullptr;
  size = 0;
}

#ifdef FP8K_EMU_UCONTEXT

namespace {
// makecontext passes int arguments only: split the two pointers.
void uc_entry(int fn_hi, int fn_lo, int arg_hi, int arg_lo) {
  auto join = [](int hi, int lo) { return (uintptr_t)(uint32_t)hi << 32 | (uint32_t)lo; };
  auto fn = (void (*)(void*))join(fn_hi, fn_lo);
  fn((void*)join(arg_hi, arg_lo));
}
}  // namespace

void fiber_init(Context& ctx, const Stack& stack, void (*fn)(void*), void* arg) {
  getcontext(&ctx.uc);
  ctx.uc.uc_stack.ss_sp = stack.base;
  ctx.uc.uc_stack.ss_size = stack.size;
  ctx.uc.uc_link = nullptr;
  const uint64_t f = (uintptr_t)fn, a = (uintptr_t)arg;
  makecontext(&ctx.uc, (void (*)())uc_entry, 4, (int)(f >> 32), (int)f, (int)(a >> 32), (int)a);
}

void fiber_switch(Context& from, Context& to) { swapcontext(&from.uc, &to.uc); }

#else

// fp8k_emu_switch(void** save_sp, void* new_sp): push the callee-saved registers,
// MXCSR and the x87 control word, swap stack pointers, pop, return on the new stack.
// fp8k_emu_start: first return target of a new fiber; calls r13(r12) with a 16-byte
// aligned stack and rbp = 0 so frame-pointer unwinders stop here.
asm(R"(
  .text
  .globl fp8k_emu_switch
  .hidden fp8k_emu_switch
  .type fp8k_emu_switch,@function
  .p2align 4
fp8k_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size fp8k_emu_switch, .-fp8k_emu_switch

  .globl fp8k_emu_start
  .hidden fp8k_emu_start
  .type fp8k_emu_start,@function
  .p2align 4
fp8k_emu_start:
  xorl %ebp, %ebp
  movq %r12, %rdi
  callq *%r13
  ud2
  .size fp8k_emu_start, .-fp8k_emu_start
)");

extern "C" void fp8k_emu_switch(void** save_sp, void* new_sp);
extern "C" void fp8k_emu_start();

void fiber_init(Context& ctx, const Stack& stack, void (*fn)(void*), void* arg) {
  // Frame popped by fp8k_emu_switch: [mxcsr|fpcw][r15][r14][r13][r12][rbx][rbp][ret].
  // After `ret` the stack pointer is `top`, 16-byte aligned, as fp8k_emu_start needs.
  uintptr_t top = ((uintptr_t)(stack.base + stack.size)) & ~(uintptr_t)15;
  uint64_t* sp = (uint64_t*)top - 8;
  uint32_t mxcsr;
  uint16_t fpcw;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(fpcw));
  sp[0] = (uint64_t)mxcsr | (uint64_t)fpcw << 32;
  sp[1] = 0;                 // r15
  sp[2] = 0;                 // r14
  sp[3] = (uintptr_t)fn;     // r13
  sp[4] = (uintptr_t)arg;    // r12
  sp[5] = 0;                 // rbx
  sp[6] = 0;                 // rbp
  sp[7] = (uintptr_t)&fp8k_emu_start;
  ctx.sp = sp;
}

void fiber_switch(Context& from, Context& to) { fp8k_emu_switch(&from.sp, to.sp); }

#endif

}  // namespace emu
}  // namespace fp8k
