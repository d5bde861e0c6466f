#include "pool.h"

#include <stdlib.h>

#include <chrono>
#include <list>
#include <mutex>
#include <new>
#include <system_error>
#include <thread>

#include "pages.h"

namespace fp8k::addon {

namespace {

constexpr size_t kHuge = size_t(2) << 20;
// From here up buffers are mappings of their own, in size classes of 64 KiB (below 2 MiB) or 2 MiB.
constexpr size_t kPooled = size_t(64) << 10;
constexpr size_t kDefaultLimitMiB = 512;

// FP8KIT_POOL_MB: the cache's bound in MiB (0 disables it); anything else that is not a number
// leaves the default.
size_t limit_from_env() {
  const char* v = getenv("FP8KIT_POOL_MB");
  if (!v || !*v) return kDefaultLimitMiB << 20;
  char* end = nullptr;
  unsigned long long mib = strtoull(v, &end, 10);
  if (*end || mib > (SIZE_MAX >> 21)) return kDefaultLimitMiB << 20;
  return size_t(mib) << 20;
}

struct Mapping {
  void* ptr;
  size_t capacity;
  int64_t cached_at = 0;  // steady-clock ns
  bool lazy = false;      // discard_pages given
};

// A cached buffer unused for this long becomes the kernel's to reclaim under memory pressure.
constexpr int64_t kIdleNs = 2'000'000'000;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

size_t size_class(size_t bytes) {
  const size_t step = bytes >= kHuge ? kHuge : kPooled;
  return (bytes + step - 1) & ~(step - 1);
}

// Most recently cached first; a buffer is handed only to a request of exactly its size class.
class Pool {
 public:
  void* take(size_t capacity) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto it = cached_.begin(); it != cached_.end(); ++it)
        if (it->capacity == capacity) {
          void* p = it->ptr;
          cached_bytes_ -= capacity;
          cached_.erase(it);
          hits_++;
          return p;
        }
      misses_++;
    }
    if (void* p = map_pages(capacity)) return p;
    release();  // out of address space or memory: what the cache holds goes first
    return map_pages(capacity);
  }

  void give(void* p, size_t capacity) {
    std::list<Mapping> evicted;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (capacity <= limit_) {
        if (!watcher_) start_watcher();
        cached_.push_front({p, capacity, now_ns()});
        cached_bytes_ += capacity;
        p = nullptr;
        while (cached_bytes_ > limit_) {
          cached_bytes_ -= cached_.back().capacity;
          evicted.splice(evicted.begin(), cached_, std::prev(cached_.end()));
          evictions_++;
        }
      }
    }
    if (p) unmap_pages(p, capacity);
    for (const Mapping& m : evicted) unmap_pages(m.ptr, m.capacity);
  }

  // Pages of buffers cached for a while stay resident but become the kernel's to reclaim under memory
  // pressure (a reclaimed page reads back as zeros; outputs are written whole, so nothing notices).
  // Not at once: re-dirtying freshly advised pages made a new-output quantize loop 7% slower.
  // Holding mu_.
  void idle(int64_t now) {
    for (Mapping& m : cached_)
      if (!m.lazy && now - m.cached_at > kIdleNs) {
        discard_pages(m.ptr, m.capacity);
        m.lazy = true;
      }
  }

  // A thread that gives idle buffers the advice once a second while the process lives (the library
  // is never unloaded, see addon.cc), so a server that goes quiet after a burst holds nothing hard.
  // Where no thread can be had the buffers just stay resident; give() runs in destructors, so
  // nothing may escape from here.
  void start_watcher() {
    watcher_ = true;
    try {
      std::thread([this] {
        for (;;) {
          std::this_thread::sleep_for(std::chrono::seconds(1));
          std::lock_guard<std::mutex> lock(mu_);
          idle(now_ns());
        }
      }).detach();
    } catch (const std::system_error&) {
    }
  }

  size_t release() {
    std::list<Mapping> all;
    size_t bytes;
    {
      std::lock_guard<std::mutex> lock(mu_);
      all.swap(cached_);
      bytes = cached_bytes_;
      cached_bytes_ = 0;
    }
    for (const Mapping& m : all) unmap_pages(m.ptr, m.capacity);
    return bytes;
  }

  PoolStats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return {cached_bytes_, cached_.size(), limit_, hits_, misses_, evictions_};
  }

 private:
  std::mutex mu_;
  std::list<Mapping> cached_;
  size_t cached_bytes_ = 0;
  const size_t limit_ = limit_from_env();
  uint64_t hits_ = 0, misses_ = 0, evictions_ = 0;
  bool watcher_ = false;
};

// Never destroyed: buffers may come back from other threads while the process exits.
Pool& pool() {
  static Pool* p = new Pool;
  return *p;
}

}  // namespace

PoolStats pool_stats() { return pool().stats(); }
size_t pool_release() { return pool().release(); }

HostBuffer::HostBuffer(size_t bytes) : ptr_(nullptr), bytes_(bytes), capacity_(0) {
  if (bytes >= kPooled) {
    if (bytes > SIZE_MAX - 2 * kHuge) throw std::bad_alloc();
    capacity_ = size_class(bytes);
    ptr_ = pool().take(capacity_);
  } else {
    ptr_ = aligned_malloc(bytes);
  }
  if (!ptr_) throw std::bad_alloc();
}

HostBuffer::~HostBuffer() {
  if (capacity_)
    pool().give(ptr_, capacity_);
  else
    aligned_free(ptr_);
}

}  // namespace fp8k::addon
