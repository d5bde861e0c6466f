// A memcpy split over the cpu backend's threads: the benchmark's bandwidth baseline.
#pragma once
#include <stddef.h>

void fp8k_cpu_copy(void* dst, const void* src, size_t bytes);
