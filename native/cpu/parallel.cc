#include "parallel.h"

#include <stdlib.h>

#include <atomic>
#include <system_error>
#include <thread>
#include <vector>

namespace {

int default_threads() {
  if (const char* env = getenv("FP8KIT_THREADS")) {
    const long v = strtol(env, nullptr, 10);
    if (v >= 1) return v > 1024 ? 1024 : static_cast<int>(v);
  }
  const unsigned hc = std::thread::hardware_concurrency();
  return hc ? static_cast<int>(hc) : 1;
}

std::atomic<int> g_override{0};

}  // namespace

int fp8k_parallel_threads(void) {
  const int o = g_override.load(std::memory_order_relaxed);
  if (o > 0) return o;
  static const int d = default_threads();
  return d;
}

void fp8k_parallel_set_threads(int n) { g_override.store(n > 0 ? n : 0, std::memory_order_relaxed); }

namespace {

// fn over [0, n) in ranges of `chunk`, the caller taking the first; where no thread can be had, the
// caller does the rest.
void run_chunks(size_t n, size_t chunk, const std::function<void(size_t, size_t)>& fn) {
  std::vector<std::thread> pool;
  pool.reserve(n / chunk);
  size_t begin = chunk;
  for (; begin < n; begin += chunk) {
    const size_t end = begin + chunk < n ? begin + chunk : n;
    try {
      pool.emplace_back([&fn, begin, end] { fn(begin, end); });
    } catch (const std::system_error&) {
      break;
    }
  }
  fn(0, chunk < n ? chunk : n);
  for (; begin < n; begin += chunk) fn(begin, begin + chunk < n ? begin + chunk : n);
  for (auto& t : pool) t.join();
}

}  // namespace

void fp8k_parallel_for(size_t n, size_t grain, const std::function<void(size_t, size_t)>& fn) {
  if (n == 0) return;
  if (grain < 64) grain = 64;
  size_t threads = static_cast<size_t>(fp8k_parallel_threads());
  if (threads > n / grain) threads = n / grain;
  if (threads < 2 || n < FP8K_PARALLEL_MIN) {
    fn(0, n);
    return;
  }
  // Equal chunks, rounded up to 64 elements so that vector loops and 64-byte
  // aligned stores line up at every boundary.
  run_chunks(n, ((n + threads - 1) / threads + 63) / 64 * 64, fn);
}

void fp8k_parallel_tasks(size_t tasks, const std::function<void(size_t, size_t)>& fn) {
  if (tasks == 0) return;
  size_t threads = static_cast<size_t>(fp8k_parallel_threads());
  if (threads > tasks) threads = tasks;
  if (threads < 2) {
    fn(0, tasks);
    return;
  }
  run_chunks(tasks, (tasks + threads - 1) / threads, fn);
}

void fp8k_parallel_chunks(size_t units, size_t chunk, size_t elems, const std::function<void(const fp8k_next_chunk&)>& worker) {
  if (units == 0) return;
  if (chunk == 0) chunk = 1;
  size_t threads = static_cast<size_t>(fp8k_parallel_threads());
  if (threads > (units + chunk - 1) / chunk) threads = (units + chunk - 1) / chunk;
  std::atomic<size_t> next{0};
  const fp8k_next_chunk take = [&](size_t& u0, size_t& u1) {
    u0 = next.fetch_add(chunk, std::memory_order_relaxed);
    if (u0 >= units) return false;
    u1 = u0 + chunk < units ? u0 + chunk : units;
    return true;
  };
  std::vector<std::thread> pool;
  if (threads >= 2 && elems >= FP8K_PARALLEL_MIN) {
    pool.reserve(threads - 1);
    for (size_t i = 1; i < threads; i++) {
      try {
        pool.emplace_back([&] { worker(take); });
      } catch (const std::system_error&) {
        break;  // no thread to be had: the caller takes its chunks
      }
    }
  }
  worker(take);
  for (auto& t : pool) t.join();
}
