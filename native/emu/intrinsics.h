// nvcc's device functions that have no g++ equivalent: bit tricks, float
// reinterpretation, explicitly rounded arithmetic, cache-hinted loads, fences.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

// Device code sees CUDA's min/max overloads in the global namespace.
#define FP8K_EMU_MINMAX(T)                               \
  inline T min(T a, T b) { return a < b ? a : b; }       \
  inline T max(T a, T b) { return a > b ? a : b; }
FP8K_EMU_MINMAX(int)
FP8K_EMU_MINMAX(unsigned int)
FP8K_EMU_MINMAX(long)
FP8K_EMU_MINMAX(unsigned long)
FP8K_EMU_MINMAX(long long)
FP8K_EMU_MINMAX(unsigned long long)
#undef FP8K_EMU_MINMAX
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline double max(double a, double b) { return fmax(a, b); }
inline unsigned int min(int a, unsigned int b) { return min((unsigned int)a, b); }
inline unsigned int min(unsigned int a, int b) { return min(a, (unsigned int)b); }
inline unsigned int max(int a, unsigned int b) { return max((unsigned int)a, b); }
inline unsigned int max(unsigned int a, int b) { return max(a, (unsigned int)b); }

template <class To, class From>
inline To fp8k_emu_bitcast(From v) {
  static_assert(sizeof(To) == sizeof(From), "size");
  To r;
  memcpy(&r, &v, sizeof r);
  return r;
}
inline int __float_as_int(float x) { return fp8k_emu_bitcast<int>(x); }
inline unsigned int __float_as_uint(float x) { return fp8k_emu_bitcast<unsigned int>(x); }
inline float __int_as_float(int x) { return fp8k_emu_bitcast<float>(x); }
inline float __uint_as_float(unsigned int x) { return fp8k_emu_bitcast<float>(x); }
inline long long __double_as_longlong(double x) { return fp8k_emu_bitcast<long long>(x); }
inline double __longlong_as_double(long long x) { return fp8k_emu_bitcast<double>(x); }

inline int __popc(unsigned int x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x ? __builtin_clz((unsigned)x) : 32; }
inline int __clzll(long long x) { return x ? __builtin_clzll((unsigned long long)x) : 64; }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline unsigned int __brev(unsigned int x) {
  x = (x >> 1 & 0x55555555u) | (x & 0x55555555u) << 1;
  x = (x >> 2 & 0x33333333u) | (x & 0x33333333u) << 2;
  x = (x >> 4 & 0x0F0F0F0Fu) | (x & 0x0F0F0F0Fu) << 4;
  return __builtin_bswap32(x);
}
inline unsigned int __byte_perm(unsigned int x, unsigned int y, unsigned int s) {
  const uint64_t v = (uint64_t)y << 32 | x;
  unsigned int r = 0;
  for (int i = 0; i < 4; ++i) r |= (unsigned)(v >> (8 * ((s >> (4 * i)) & 7)) & 0xFF) << (8 * i);
  return r;
}
inline unsigned int __funnelshift_l(unsigned int lo, unsigned int hi, unsigned int s) {
  return (unsigned int)((((uint64_t)hi << 32 | lo) << (s & 31)) >> 32);
}
inline unsigned int __funnelshift_r(unsigned int lo, unsigned int hi, unsigned int s) {
  return (unsigned int)(((uint64_t)hi << 32 | lo) >> (s & 31));
}

// IEEE round-to-nearest forms (what nvcc's __f*_rn guarantee; they are never fused).
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __frcp_rn(float a) { return 1.0f / a; }
inline float __fsqrt_rn(float a) { return sqrtf(a); }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline float __saturatef(float x) { return x != x ? 0.0f : x < 0.0f ? 0.0f : x > 1.0f ? 1.0f : x; }
inline int __float2int_rn(float x) { return (int)nearbyintf(x); }
inline int __float2int_rz(float x) { return (int)x; }
inline unsigned int __float2uint_rn(float x) { return (unsigned int)nearbyintf(x); }
inline float __int2float_rn(int x) { return (float)x; }
inline float __uint2float_rn(unsigned int x) { return (float)x; }
// Fast-math intrinsics: the device versions are approximate, these are libm's.
inline float __fdividef(float a, float b) { return a / b; }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __sinf(float x) { return sinf(x); }
inline float __cosf(float x) { return cosf(x); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }

// Cache-hinted loads and stores are plain accesses on the CPU.
template <class T> inline T __ldg(const T* p) { return *p; }
template <class T> inline T __ldcg(const T* p) { return *p; }
template <class T> inline T __ldca(const T* p) { return *p; }
template <class T> inline T __ldcs(const T* p) { return *p; }
template <class T> inline T __ldlu(const T* p) { return *p; }
template <class T> inline void __stcg(T* p, T v) { *p = v; }
template <class T> inline void __stcs(T* p, T v) { *p = v; }
template <class T> inline void __stwb(T* p, T v) { *p = v; }

// One fiber runs at a time and switches are compiler barriers: fences are no-ops.
inline void __threadfence() {}
inline void __threadfence_block() {}
inline void __threadfence_system() {}
inline void __nanosleep(unsigned int) {}
inline size_t __cvta_generic_to_shared(const void* p) { return (size_t)p; }
[[noreturn]] inline void __trap(::fp8k::emu::Loc loc = {}) { ::fp8k::emu::fault(loc, "__trap() called"); }
