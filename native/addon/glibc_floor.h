// Force-included in every Linux build of the addon (binding.gyp, scripts/cross-build.cjs), so that a
// prebuild made on a new glibc loads wherever Node 20 runs (glibc 2.28 and later), not only where it was
// built. glibc 2.34 merged libdl and libpthread into libc and gave their functions new symbol versions,
// and a link takes the newest, which older glibc lacks. The directives below bind the addon's own libdl
// calls to the versions every glibc since x86-64's and aarch64's first has (in 2.34+ the same functions);
// glibc_floor.cc defines, hidden, the others the addon or the C++ runtime (linked in statically,
// scripts/static-cxx.cjs) calls, on top of the old versions: pthread's, the stat family, arc4random.
// Checked by test/glibc.test.ts: the addon's symbol versions, and a run on Debian 11's glibc 2.31.
#pragma once

#ifdef __linux__
#include <features.h>  // __GLIBC__ (this header comes before any other)
#endif
#if defined(__linux__) && defined(__GLIBC__)
#if defined(__x86_64__)
#define FP8K_GLIBC_FIRST "GLIBC_2.2.5"
#define FP8K_GLIBC_DLADDR1 "GLIBC_2.3.3"
#define FP8K_GLIBC_STAT_VER 1  // _STAT_VER_LINUX
#elif defined(__aarch64__)
#define FP8K_GLIBC_FIRST "GLIBC_2.17"
#define FP8K_GLIBC_DLADDR1 "GLIBC_2.17"
#define FP8K_GLIBC_STAT_VER 0  // _STAT_VER_KERNEL
#endif
#ifdef FP8K_GLIBC_FIRST
__asm__(".symver dlopen,dlopen@" FP8K_GLIBC_FIRST);
__asm__(".symver dlsym,dlsym@" FP8K_GLIBC_FIRST);
__asm__(".symver dlclose,dlclose@" FP8K_GLIBC_FIRST);
__asm__(".symver dlerror,dlerror@" FP8K_GLIBC_FIRST);
__asm__(".symver dladdr,dladdr@" FP8K_GLIBC_FIRST);
__asm__(".symver dladdr1,dladdr1@" FP8K_GLIBC_DLADDR1);
#endif
#endif
