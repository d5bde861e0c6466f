// Memory straight from the OS for the output pool: mmap where there is one, VirtualAlloc on Windows.
#pragma once

#include <stddef.h>

namespace fp8k::addon {

// `bytes` of zeroed pages; from 2 MiB (then a multiple of 2 MiB) at a 2 MiB boundary, advised for huge
// pages, where the OS allows it. nullptr when refused.
void* map_pages(size_t bytes);
void unmap_pages(void* p, size_t bytes);
// The contents are no longer needed: the OS may take the pages under memory pressure (they then read
// back as zeros) without the mapping going away.
void discard_pages(void* p, size_t bytes);
// Small buffers, 64-byte aligned; nullptr when refused.
void* aligned_malloc(size_t bytes);
void aligned_free(void* p);

}  // namespace fp8k::addon
