// What the ref backend's files share: element access in f32 whatever the storage type.
#pragma once
#include "../backend.h"
#include "../common/fp8.h"

namespace fp8k::ref {

float load_f32(const void* x, int dtype, size_t i);
void store_f32(void* y, int dtype, size_t i, float v);

int cast_to_fp8(const void* x, int x_dtype, uint8_t* q, size_t n, int format, int saturate, fp8k_call* call);
int cast_from_fp8(const uint8_t* q, int format, void* y, int y_dtype, size_t n, fp8k_call* call);
int convert(const void* x, int x_dtype, void* y, int y_dtype, size_t n, fp8k_call* call);
int quantize(const void* x, int x_dtype, const fp8k_quant* p, uint8_t* q, float* scales, fp8k_call* call);
int dequantize(const uint8_t* q, const float* scales, const fp8k_quant* p, void* y, int y_dtype, fp8k_call* call);
int cast_transpose(const void* x, int x_dtype, const fp8k_quant* p, uint8_t* q_row, float* s_row, uint8_t* q_col, float* s_col,
                   fp8k_call* call);
int gemm(const uint8_t* a, const float* sa, const uint8_t* b, const float* sb, const float* c, void* d, const fp8k_gemm* p,
         fp8k_call* call);
size_t pack_b_bytes(const fp8k_gemm* p);
int pack_b(const uint8_t* b, const float* sb, const fp8k_gemm* p, uint8_t* packed, fp8k_call* call);

}  // namespace fp8k::ref
