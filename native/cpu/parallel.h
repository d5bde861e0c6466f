// Splits a range over threads. Plain std::thread per call: the callers already
// run on libuv worker threads, and a global pool could deadlock or starve them.
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
// Overrides the count (benchmarks); 0 goes back to the default.
void fp8k_parallel_set_threads(int n);

enum : size_t { FP8K_PARALLEL_MIN = 256 * 1024 };
