// Host memory for outputs and staging copies. From 64 KiB up a buffer is a mapping of its own (from
// 2 MiB up 2 MiB aligned and advised onto transparent huge pages), kept after it is dropped in a
// bounded, process-wide cache, so that the next buffer of the same size class reuses pages that are
// already faulted in. Thread-safe: Promise
// forms allocate and free on the libuv pool, and worker_threads share the cache.
#pragma once
#include <stddef.h>
#include <stdint.h>

namespace fp8k::addon {

struct PoolStats {
  size_t cached_bytes, cached_buffers, limit_bytes;
  uint64_t hits, misses, evictions;
};

PoolStats pool_stats();
// Unmaps every cached buffer (the memory goes back to the OS); returns the bytes released.
size_t pool_release();

// One host allocation: 64-byte aligned, not zero-filled. Throws std::bad_alloc when the OS refuses.
class HostBuffer {
 public:
  explicit HostBuffer(size_t bytes);
  ~HostBuffer();
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;
  void* data() const { return ptr_; }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_;
  size_t bytes_;
  size_t capacity_;  // 0: malloc'd; else a pooled mapping of this many bytes
};

}  // namespace fp8k::addon
