// CUDA atomics for the emulator. Only one fiber runs at a time and a fiber is
// never preempted between two of its instructions, so a plain read-modify-write
// is atomic here. Not instrumented in the racecheck build (-fsanitize=thread):
// atomics do not race.
#pragma once
#include <cstring>

#define FP8K_EMU_NO_RACECHECK __attribute__((no_sanitize("thread")))

#define FP8K_EMU_ATOMIC(name, T, expr)               \
  FP8K_EMU_NO_RACECHECK inline T name(T* p, T v) {   \
    T old = *p;                                      \
    *p = (expr);                                     \
    return old;                                      \
  }
#define FP8K_EMU_ATOMIC_INT(name, expr)                 \
  FP8K_EMU_ATOMIC(name, int, expr)                      \
  FP8K_EMU_ATOMIC(name, unsigned int, expr)             \
  FP8K_EMU_ATOMIC(name, unsigned long long, expr)

FP8K_EMU_ATOMIC_INT(atomicAdd, old + v)
FP8K_EMU_ATOMIC(atomicAdd, float, old + v)
FP8K_EMU_ATOMIC(atomicAdd, double, old + v)
FP8K_EMU_ATOMIC(atomicSub, int, old - v)
FP8K_EMU_ATOMIC(atomicSub, unsigned int, old - v)
FP8K_EMU_ATOMIC_INT(atomicExch, v)
FP8K_EMU_ATOMIC(atomicExch, float, v)
FP8K_EMU_ATOMIC_INT(atomicMax, old > v ? old : v)
FP8K_EMU_ATOMIC(atomicMax, long long, old > v ? old : v)
FP8K_EMU_ATOMIC_INT(atomicMin, old < v ? old : v)
FP8K_EMU_ATOMIC(atomicMin, long long, old < v ? old : v)
FP8K_EMU_ATOMIC_INT(atomicAnd, old & v)
FP8K_EMU_ATOMIC_INT(atomicOr, old | v)
FP8K_EMU_ATOMIC_INT(atomicXor, old ^ v)
FP8K_EMU_ATOMIC(atomicInc, unsigned int, old >= v ? 0u : old + 1)
FP8K_EMU_ATOMIC(atomicDec, unsigned int, (old == 0 || old > v) ? v : old - 1)
#undef FP8K_EMU_ATOMIC_INT
#undef FP8K_EMU_ATOMIC

template <class T>
FP8K_EMU_NO_RACECHECK inline T fp8k_emu_atomic_cas(T* p, T compare, T v) {
  T old = *p;
  if (old == compare) *p = v;
  return old;
}
inline int atomicCAS(int* p, int c, int v) { return fp8k_emu_atomic_cas(p, c, v); }
inline unsigned int atomicCAS(unsigned int* p, unsigned int c, unsigned int v) { return fp8k_emu_atomic_cas(p, c, v); }
inline unsigned long long atomicCAS(unsigned long long* p, unsigned long long c, unsigned long long v) {
  return fp8k_emu_atomic_cas(p, c, v);
}
inline unsigned short atomicCAS(unsigned short* p, unsigned short c, unsigned short v) { return fp8k_emu_atomic_cas(p, c, v); }
