// Splits a range over threads: one team of threads kept between calls, which one call uses at a time
// (callers run on libuv's worker threads too, several at once); a call that finds the team busy starts
// threads of its own, so no call waits for another's.
#pragma once
#include <stddef.h>

#include <functional>

// Calls fn(begin, end) over [0, n) in chunks whose boundaries are multiples of 64
// elements, on up to fp8k_parallel_threads() threads (the caller is one of them).
// Runs inline when n < 2 * grain or n is below FP8K_PARALLEL_MIN (not worth a thread).
// Safe to call from several threads at once.
void fp8k_parallel_for(size_t n, size_t grain, const std::function<void(size_t, size_t)>& fn);

// Threads used: FP8KIT_THREADS when set (read once), else hardware_concurrency(); at least 1.
// `tasks` independent tasks in contiguous ranges, one per thread, however small the count: for work whose
// cost is not a count of elements (a GEMM's column panels).
void fp8k_parallel_tasks(size_t tasks, const std::function<void(size_t, size_t)>& fn);
int fp8k_parallel_threads(void);

// Chunks of `chunk` units handed out in order from one counter to up to fp8k_parallel_threads() workers,
// the caller among them: each worker sets itself up once, then calls next(u0, u1) until it returns
// false. A worker the machine slows (another process on its core) takes fewer chunks instead of an equal
// share that everyone waits for. `elems` decides whether threads are worth it, as for fp8k_parallel_for.
using fp8k_next_chunk = std::function<bool(size_t&, size_t&)>;
void fp8k_parallel_chunks(size_t units, size_t chunk, size_t elems, const std::function<void(const fp8k_next_chunk&)>& worker);
// Overrides the count (benchmarks); 0 goes back to the default.
void fp8k_parallel_set_threads(int n);

enum : size_t { FP8K_PARALLEL_MIN = 256 * 1024 };
