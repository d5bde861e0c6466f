#include "parallel.h"

#include <stdlib.h>

#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
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

// Threads kept between calls, so that a call does not pay a thread's start (about 40 us here, most of
// a 0.1 ms kernel) each time. One call at a time uses them; a call that finds them in use starts its
// own threads, as every call did before. Never destroyed (the threads wait for work until the process
// ends); a forked child, which has none of the threads, gets a new team.
class Team {
 public:
  // task on the caller and on up to `helpers` of the team's threads; false, with nothing run, when
  // another call has the team.
  bool run(size_t helpers, const std::function<void()>& task) {
    std::unique_lock<std::mutex> lock(m_);
    if (busy_) return false;
    busy_ = true;
    while (threads_.size() < helpers) {
      try {
        threads_.emplace_back([this] { loop(); });
      } catch (const std::system_error&) {
        break;
      }
    }
    task_ = &task;
    want_ = helpers < threads_.size() ? helpers : threads_.size();
    started_ = 0;
    running_ = want_;
    gen_++;
    lock.unlock();
    wake_.notify_all();
    task();
    lock.lock();
    done_.wait(lock, [&] { return running_ == 0; });
    task_ = nullptr;
    busy_ = false;
    return true;
  }

 private:
  void loop() {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(m_);
    for (;;) {
      wake_.wait(lock, [&] { return gen_ != seen && started_ < want_; });
      seen = gen_;
      started_++;
      const std::function<void()>* task = task_;
      lock.unlock();
      (*task)();
      lock.lock();
      if (--running_ == 0) done_.notify_one();
    }
  }

  std::mutex m_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> threads_;
  const std::function<void()>* task_ = nullptr;
  uint64_t gen_ = 0;
  size_t want_ = 0, started_ = 0, running_ = 0;
  bool busy_ = false;
};

std::atomic<Team*> g_team{nullptr};

Team& team() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_team = new Team;
    pthread_atfork(nullptr, nullptr, [] { g_team = new Team; });
  });
  return *g_team.load();
}

// task on the caller and `helpers` other threads: the team's when it is free, else threads of its own
// (as many as can be had).
void run_team(size_t helpers, const std::function<void()>& task) {
  if (helpers == 0) return task();
  if (team().run(helpers, task)) return;
  std::vector<std::thread> own;
  own.reserve(helpers);
  for (size_t i = 0; i < helpers; i++) {
    try {
      own.emplace_back(task);
    } catch (const std::system_error&) {
      break;
    }
  }
  task();
  for (auto& t : own) t.join();
}

// worker on the caller and `helpers` other threads, all taking chunks of [0, units) from one counter.
void run_claimed(size_t units, size_t chunk, size_t helpers, const std::function<void(const fp8k_next_chunk&)>& worker) {
  std::atomic<size_t> next{0};
  const fp8k_next_chunk take = [&](size_t& u0, size_t& u1) {
    u0 = next.fetch_add(chunk, std::memory_order_relaxed);
    if (u0 >= units) return false;
    u1 = u0 + chunk < units ? u0 + chunk : units;
    return true;
  };
  run_team(helpers, [&] { worker(take); });
}

// fn over [0, n) in ranges of `chunk`, each taken once by whichever thread comes for it first.
void run_chunks(size_t n, size_t chunk, const std::function<void(size_t, size_t)>& fn) {
  run_claimed(n, chunk, (n + chunk - 1) / chunk - 1, [&](const fp8k_next_chunk& next) {
    for (size_t u0, u1; next(u0, u1);) fn(u0, u1);
  });
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
  run_claimed(units, chunk, threads >= 2 && elems >= FP8K_PARALLEL_MIN ? threads - 1 : 0, worker);
}
