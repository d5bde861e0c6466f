// Host-side checks every backend's quantize entry makes, so a bad fp8k_quant never reaches a kernel.
#pragma once
#include "../backend.h"
#include "scale.h"
#include "tiles.h"

#ifdef __cplusplus
extern "C" {
#endif
// FP8K_OK, or a status with the message in call.
int fp8k_check_quant(const fp8k_quant* p, fp8k_call* call);
// The same, and G x 1 column tiles refused (FP8K_ERR_BACKEND_UNAVAILABLE naming `what`): for the
// operations and backends that do not implement them.
int fp8k_check_quant_no_columns(const fp8k_quant* p, const char* what, fp8k_call* call);
// Fails the call with FP8K_ERR_NON_FINITE naming tile `index` (row-major over batch, tile rows, tile cols).
int fp8k_fail_nonfinite(const fp8k_quant* p, size_t index, fp8k_call* call);
#ifdef __cplusplus
}
#endif
