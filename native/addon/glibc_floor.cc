// The glibc functions the statically linked C++ runtime calls whose symbols are newer than glibc 2.28
// (glibc_floor.h says why): defined here, hidden, so that its references bind to these, which call the
// versions every glibc has. No glibc header is included: the declarations would clash.
#include "glibc_floor.h"

#if defined(__linux__) && defined(__GLIBC__) && defined(FP8K_GLIBC_FIRST)

#define FP8K_HIDDEN extern "C" __attribute__((visibility("hidden")))

// name(params) → old@FIRST(args): a function every glibc has, of the same name (FP8K_OLD) or not.
#define FP8K_VIA(ret, name, params, old, old_params, args)               \
  extern "C" ret fp8k_glibc_##old old_params;                           \
  __asm__(".symver fp8k_glibc_" #old "," #old "@" FP8K_GLIBC_FIRST);    \
  FP8K_HIDDEN ret name params { return fp8k_glibc_##old args; }
#define FP8K_OLD(ret, name, params, args) FP8K_VIA(ret, name, params, name, params, args)

// The pthread functions glibc 2.34 gave new versions.

FP8K_OLD(int, pthread_create, (unsigned long* t, const void* attr, void* (*fn)(void*), void* arg), (t, attr, fn, arg))
FP8K_OLD(int, pthread_detach, (unsigned long t), (t))
FP8K_OLD(int, pthread_join, (unsigned long t, void** ret), (t, ret))
FP8K_OLD(int, pthread_once, (int* once, void (*fn)(void)), (once, fn))
FP8K_OLD(int, pthread_key_create, (unsigned* key, void (*dtor)(void*)), (key, dtor))
FP8K_OLD(int, pthread_key_delete, (unsigned key), (key))
FP8K_OLD(void*, pthread_getspecific, (unsigned key), (key))
FP8K_OLD(int, pthread_setspecific, (unsigned key, const void* v), (key, v))

// The stat family became symbols in 2.33 (the 64 forms are what node-gyp's _FILE_OFFSET_BITS=64 calls);
// before, they were __xstat and kin with the stat version.
FP8K_VIA(int, stat, (const char* p, void* st), __xstat, (int, const char*, void*), (FP8K_GLIBC_STAT_VER, p, st))
FP8K_VIA(int, stat64, (const char* p, void* st), __xstat64, (int, const char*, void*), (FP8K_GLIBC_STAT_VER, p, st))
FP8K_VIA(int, fstat, (int fd, void* st), __fxstat, (int, int, void*), (FP8K_GLIBC_STAT_VER, fd, st))
FP8K_VIA(int, fstat64, (int fd, void* st), __fxstat64, (int, int, void*), (FP8K_GLIBC_STAT_VER, fd, st))

// arc4random (2.36; std::random_device): from getrandom (2.25), as glibc's own does.
extern "C" long getrandom(void* buf, unsigned long n, unsigned flags);
FP8K_HIDDEN unsigned arc4random(void) {
  unsigned v = 0;
  while (getrandom(&v, sizeof v, 0) != (long)sizeof v) {
  }
  return v;
}

// GCC's headers read __libc_single_threaded (2.32) to skip atomics in a process without threads;
// always 0 ("threads may exist") here, so reference counts are always atomic.
extern "C" {
__attribute__((visibility("hidden"))) char __libc_single_threaded = 0;
}

#endif
