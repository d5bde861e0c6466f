// The cpu backend's entry points (backend.cc puts them in the table) and what they share.
#pragma once
#include "../backend.h"

namespace fp8k::cpu {

int cast_to_fp8(const void* x, int x_dtype, uint8_t* q, size_t n, int format, int saturate, fp8k_call* call);
int cast_from_fp8(const uint8_t* q, int format, void* y, int y_dtype, size_t n, fp8k_call* call);
int convert(const void* x, int x_dtype, void* y, int y_dtype, size_t n, fp8k_call* call);
int quantize(const void* x, int x_dtype, const fp8k_quant* p, uint8_t* q, float* scales, fp8k_call* call);
int dequantize(const uint8_t* q, const float* scales, const fp8k_quant* p, void* y, int y_dtype, fp8k_call* call);
int cast_transpose(const void* x, int x_dtype, const fp8k_quant* p, uint8_t* q_row, float* s_row, uint8_t* q_col, float* s_col,
                   fp8k_call* call);
// G x 1 tiles (quantize_columns.cc); p already checked.
int quantize_columns(const void* x, bool bf16, const fp8k_quant* p, uint8_t* q, float* scales, fp8k_call* call);
int gemm(const uint8_t* a, const float* sa, const uint8_t* b, const float* sb, const float* c, void* d, const fp8k_gemm* p,
         fp8k_call* call);
size_t pack_b_bytes(const fp8k_gemm* p);
int pack_b(const uint8_t* b, const float* sb, const fp8k_gemm* p, uint8_t* packed, fp8k_call* call);
int route(const void* logits, int dtype, const float* bias, const fp8k_route* p, int32_t* topk_idx, float* topk_weights, fp8k_call* call);
int dispatch_layout(const int32_t* topk_idx, const fp8k_layout* p, int32_t* per_rank, int32_t* per_node, int32_t* per_expert, uint8_t* in_rank,
                    fp8k_call* call);
int copy_rows(const void* const* srcs, size_t nsrc, size_t row_bytes, const int32_t* src_of, const int32_t* row_of, size_t n, void* dst, fp8k_call* call);
int reduce_rows(const uint16_t* const* srcs, size_t nsrc, size_t h, const int32_t* offsets, const int32_t* src_of, const int32_t* row_of, const float* weights,
                size_t n, uint16_t* y, fp8k_call* call);
// The GEMM tier the SIMD level in force runs: "scalar", "avx2 fma"... (gemm/driver.cc).
const char* gemm_path(void);

// Elements per thread chunk: big enough to amortize a thread, a multiple of 64.
constexpr size_t kGrain = 64 * 1024;

// Outputs this large go out with non-temporal stores: they cannot stay in cache
// anyway, and streaming them saves the read-for-ownership of every line.
constexpr size_t kStreamBytes = 16u << 20;

}  // namespace fp8k::cpu
