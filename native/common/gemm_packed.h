// SPEC §4 "Prepacked weights": the header every packed B starts with (backend.h), and what a packing
// backend and its gemm do with it.
#pragma once
#include "../backend.h"

#ifdef __cplusplus
extern "C" {
#endif
// Writes the header for B as p describes it; tag names the packing (backend and layout version).
void fp8k_packed_init(void* packed, const char* tag, const fp8k_gemm* p, size_t bytes);
// FP8K_OK when packed is a B this tag packed for p's n, k and b_format; else FP8K_ERR_ARGUMENT saying why.
int fp8k_packed_check(const void* packed, const char* tag, const fp8k_gemm* p, fp8k_call* call);
#ifdef __cplusplus
}
#endif
