#include "pages.h"

#include <stdint.h>
#include <stdlib.h>

#ifdef _WIN32
#include <malloc.h>
#include <windows.h>
#else
#include <sys/mman.h>
#endif

namespace fp8k::addon {

namespace {
constexpr size_t kHuge = size_t(2) << 20;
}

#ifdef _WIN32

// Windows has no transparent huge pages (large pages need a privilege), and a region is freed whole, so
// there is nothing to trim: VirtualAlloc's 64 KiB alignment it is.
void* map_pages(size_t bytes) { return VirtualAlloc(nullptr, bytes, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE); }
void unmap_pages(void* p, size_t) { VirtualFree(p, 0, MEM_RELEASE); }
void discard_pages(void* p, size_t bytes) { VirtualAlloc(p, bytes, MEM_RESET, PAGE_READWRITE); }
void* aligned_malloc(size_t bytes) { return _aligned_malloc(bytes ? bytes : 64, 64); }
void aligned_free(void* p) { _aligned_free(p); }

#else

// From 2 MiB: over-map, trim both ends.
void* map_pages(size_t bytes) {
  if (bytes < kHuge) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? nullptr : p;
  }
  void* raw = mmap(nullptr, bytes + kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  uintptr_t base = reinterpret_cast<uintptr_t>(raw), aligned = (base + kHuge - 1) & ~(kHuge - 1);
  if (aligned > base) munmap(raw, aligned - base);
  if (size_t tail = base + kHuge - aligned) munmap(reinterpret_cast<void*>(aligned + bytes), tail);
  void* p = reinterpret_cast<void*>(aligned);
  // castTranspose's transposed writes touch 16 pages 4 KiB apart per 64 x 16 piece; on 4 KiB pages each
  // is a TLB miss (castTranspose 0.86-0.96 of the time on huge pages). Linux's default THP mode is
  // madvise; where the advice is refused nothing changes.
#ifdef MADV_HUGEPAGE
  madvise(p, bytes, MADV_HUGEPAGE);
#endif
  return p;
}

void unmap_pages(void* p, size_t bytes) { munmap(p, bytes); }

void discard_pages(void* p, size_t bytes) {
#ifdef MADV_FREE
  madvise(p, bytes, MADV_FREE);
#else
  (void)p, (void)bytes;
#endif
}

void* aligned_malloc(size_t bytes) {
  void* p = nullptr;
  return posix_memalign(&p, 64, bytes ? bytes : 64) == 0 ? p : nullptr;
}
void aligned_free(void* p) { free(p); }

#endif

}  // namespace fp8k::addon
