// The cuda-emu backend: native/cuda's kernels, compiled by g++ against cuda_emu.h and run on the CPU.
// Its "device memory" is host memory, so host and device tensors both exercise the same paths as cuda.
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <new>

#include "../backend.h"
#include "../common/moe_check.h"
#include "../common/quant_check.h"
#include "../cuda/ops.cuh"
#include "guarded.h"

// SPEC §4 (native/emu/gemm.cc), linked weakly: a kernel-level test that builds this file without the
// GEMM kernel gets a table without gemm.
int fp8k_emu_gemm(const uint8_t* a, const float* sa, const uint8_t* b, const float* sb, const float* c, void* d, const fp8k_gemm* p,
                  fp8k_call* call) __attribute__((weak));
size_t fp8k_emu_pack_b_bytes(const fp8k_gemm* p) __attribute__((weak));
int fp8k_emu_pack_b(const uint8_t* b, const float* sb, const fp8k_gemm* p, uint8_t* packed, fp8k_call* call) __attribute__((weak));

namespace {

using fp8k::emu::guarded;

int probe(char*, size_t) { return 1; }
const char* describe() { return getenv("FP8KIT_EMU_ORDER") && !strcmp(getenv("FP8KIT_EMU_ORDER"), "reverse") ? "CPU emulation of the CUDA kernels (reverse thread order)" : "CPU emulation of the CUDA kernels"; }

int cast_to_fp8(const void* x, int x_dtype, uint8_t* q, size_t n, int format, int saturate, fp8k_call* c) {
  return guarded(c, "castToFp8", [&] { fp8k::cuda::cast_to_fp8(x, x_dtype, q, n, format, saturate, nullptr); });
}
int cast_from_fp8(const uint8_t* q, int format, void* y, int y_dtype, size_t n, fp8k_call* c) {
  return guarded(c, "castFromFp8", [&] { fp8k::cuda::cast_from_fp8(q, format, y, y_dtype, n, nullptr); });
}
int convert(const void* x, int x_dtype, void* y, int y_dtype, size_t n, fp8k_call* c) {
  return guarded(c, "convert", [&] { fp8k::cuda::convert(x, x_dtype, y, y_dtype, n, nullptr); });
}

// SPEC §2/§3. Device memory is host memory and launches are synchronous: the strict flag is a local.
int quantize(const void* x, int x_dtype, const fp8k_quant* p, uint8_t* q, float* scales, fp8k_call* c) {
  if (int s = fp8k_check_quant(p, c)) return s;  // column tiles too (quantize_columns.cuh)
  unsigned long long flag = fp8k::cuda::kNoTile;
  if (int s = guarded(c, "quantize", [&] { fp8k::cuda::quantize(x, x_dtype, *p, q, scales, p->strict ? &flag : nullptr, nullptr); }))
    return s;
  return flag != fp8k::cuda::kNoTile ? fp8k_fail_nonfinite(p, (size_t)flag, c) : FP8K_OK;
}
int dequantize(const uint8_t* q, const float* scales, const fp8k_quant* p, void* y, int y_dtype, fp8k_call* c) {
  if (int s = fp8k_check_quant_no_columns(p, "cuda-emu", c)) return s;
  return guarded(c, "dequantize", [&] { fp8k::cuda::dequantize(q, scales, *p, y, y_dtype, nullptr); });
}
int cast_transpose(const void* x, int x_dtype, const fp8k_quant* p, uint8_t* q_row, float* s_row, uint8_t* q_col, float* s_col,
                   fp8k_call* c) {
  if (!fp8k::cuda::cast_transpose_args_ok(p))
    return fp8k_fail(c, FP8K_ERR_ARGUMENT, "castTranspose takes one matrix and row-major scales");
  if (int s = fp8k_check_quant_no_columns(p, "cuda-emu", c)) return s;
  unsigned long long flag = fp8k::cuda::kNoTile;
  if (int s = guarded(c, "castTranspose", [&] {
        fp8k::cuda::cast_transpose(x, x_dtype, *p, q_row, s_row, q_col, s_col, p->strict ? &flag : nullptr, nullptr);
      }))
    return s;
  return flag != fp8k::cuda::kNoTile ? fp8k_fail_nonfinite(p, (size_t)flag, c) : FP8K_OK;
}

// SPEC §5, §7, §8: the shared parameter checks first, then the kernels; the error flag is a local.
int route(const void* logits, int dtype, const float* bias, const fp8k_route* p, int32_t* topk_idx, float* topk_weights, fp8k_call* c) {
  if (int s = fp8k_check_route(p, c)) return s;
  if (!fp8k::cuda::route_fits(*p)) return fp8k::cuda::route_refuse(*p, c);
  unsigned long long flag = fp8k::cuda::kNoError;
  if (int s = guarded(c, "route", [&] { fp8k::cuda::route(logits, dtype, bias, *p, topk_idx, topk_weights, &flag, nullptr); })) return s;
  return fp8k::cuda::route_status(flag, *p, c);
}
int dispatch_layout(const int32_t* topk_idx, const fp8k_layout* p, int32_t* per_rank, int32_t* per_node, int32_t* per_expert, uint8_t* in_rank,
                    fp8k_call* c) {
  if (int s = fp8k_check_layout(p, c)) return s;
  unsigned long long flag = fp8k::cuda::kNoError;
  if (int s = guarded(c, "dispatchLayout",
                      [&] { fp8k::cuda::dispatch_layout(topk_idx, *p, per_rank, per_node, per_expert, in_rank, &flag, nullptr); }))
    return s;
  return flag != fp8k::cuda::kNoError ? fp8k_fail_expert_id(p, (size_t)flag, topk_idx[flag], c) : FP8K_OK;
}
// Device memory is host memory: the caller's table of source pointers is device-readable as it is.
int copy_rows(const void* const* srcs, size_t /* nsrc: the caller checked the indices */, size_t row_bytes, const int32_t* src_of, const int32_t* row_of, size_t n, void* dst, fp8k_call* c) {
  return guarded(c, "copyRows", [&] { fp8k::cuda::copy_rows(srcs, row_bytes, src_of, row_of, n, dst, nullptr); });
}
int reduce_rows(const uint16_t* const* srcs, size_t /* nsrc */, size_t h, const int32_t* offsets, const int32_t* src_of, const int32_t* row_of, const float* weights,
                size_t n, uint16_t* y, fp8k_call* c) {
  return guarded(c, "reduceRows", [&] { fp8k::cuda::reduce_rows(srcs, h, offsets, src_of, row_of, weights, n, y, nullptr); });
}

// Device memory as cudaMalloc gives it: its own mapping (cudaMalloc never fragments the host heap;
// glibc's heap grows without bound when large aligned blocks are freed and re-requested), 256-byte
// aligned, and poisoned so a kernel that reads memory nobody wrote sees NaNs rather than zeros. The
// page in front of the block holds the mapping's length.
constexpr size_t kHeader = 4096;

int mem_alloc(void** p, size_t bytes, fp8k_call* c) {
  size_t length = 0;
  if (bytes > SIZE_MAX - 2 * kHeader) return fp8k_fail(c, FP8K_ERR_OUT_OF_MEMORY, "cuda-emu: cannot allocate %zu bytes", bytes);
  length = kHeader + (bytes + kHeader - 1) / kHeader * kHeader;
  void* m = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return fp8k_fail(c, FP8K_ERR_OUT_OF_MEMORY, "cuda-emu: cannot allocate %zu bytes", bytes);
  *static_cast<size_t*>(m) = length;
  *p = static_cast<char*>(m) + kHeader;
  memset(*p, 0xFF, length - kHeader);
  return FP8K_OK;
}
int mem_free(void* p, fp8k_call*) {
  if (!p) return FP8K_OK;
  void* m = static_cast<char*>(p) - kHeader;
  munmap(m, *static_cast<size_t*>(m));
  return FP8K_OK;
}
int mem_copy(void* dst, const void* src, size_t bytes, fp8k_call*) {
  memcpy(dst, src, bytes);
  return FP8K_OK;
}
// Emulated launches are synchronous: a stream is only a token, synchronize has nothing to wait for.
int stream_create(void** s, fp8k_call*) {
  *s = new int(0);
  return FP8K_OK;
}
int stream_destroy(void* s, fp8k_call*) {
  delete static_cast<int*>(s);
  return FP8K_OK;
}
int synchronize(fp8k_call*) { return FP8K_OK; }

fp8k_backend make_table() {
  fp8k_backend t{};
  t.abi_version = FP8K_ABI_VERSION;
  t.name = "cuda-emu";
  t.probe = probe;
  t.describe = describe;
  t.cast_to_fp8 = cast_to_fp8;
  t.cast_from_fp8 = cast_from_fp8;
  t.convert = convert;
  t.quantize = quantize;
  t.dequantize = dequantize;
  t.cast_transpose = cast_transpose;
  t.mem_alloc = mem_alloc;
  t.mem_free = mem_free;
  t.mem_upload = mem_copy;
  t.mem_download = mem_copy;
  t.stream_create = stream_create;
  t.stream_destroy = stream_destroy;
  t.synchronize = synchronize;
  t.gemm = fp8k_emu_gemm;
  t.pack_b_bytes = fp8k_emu_pack_b_bytes;
  t.pack_b = fp8k_emu_pack_b;
  t.route = route;
  t.dispatch_layout = dispatch_layout;
  t.copy_rows = copy_rows;
  t.reduce_rows = reduce_rows;
  return t;
}

}  // namespace

extern "C" const fp8k_backend* fp8k_backend_cuda_emu(void) {
  static const fp8k_backend table = make_table();
  return &table;
}
