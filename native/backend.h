// The backend table: one C ABI that every backend fills in (ref, cpu, cuda-emu
// built into the addon; cuda in a plugin loaded with dlopen). A NULL entry means
// the backend does not implement that operation.
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FP8K_ABI_VERSION 4

typedef enum {
  FP8K_F32 = 0, FP8K_BF16 = 1, FP8K_F16 = 2, FP8K_E4M3 = 3, FP8K_E5M2 = 4, FP8K_I32 = 5, FP8K_U8 = 6
} fp8k_dtype;

// Status codes map one to one onto Fp8kitError codes (lib/errors.ts).
typedef enum {
  FP8K_OK = 0,
  FP8K_ERR_ARGUMENT = 1,
  FP8K_ERR_SHAPE = 2,
  FP8K_ERR_DTYPE = 3,
  FP8K_ERR_NON_FINITE = 4,
  FP8K_ERR_BACKEND_UNAVAILABLE = 5,
  FP8K_ERR_OUT_OF_MEMORY = 6,
  FP8K_ERR_CUDA = 7,
  FP8K_ERR_INTERNAL = 8,
  FP8K_ERR_TRANSPORT = 9  // the mpi transport: a peer that did not answer in time, an MPI error
} fp8k_status;

// Per-call context: where a device backend runs the call, and where a failure's message goes.
typedef struct {
  void* stream;  // device backends: the stream to queue on; NULL for the backend's per-thread default
  char message[512];
} fp8k_call;

// SPEC §2: the tiling of one quantization. The input is `batch` matrices of rows × cols, row-major;
// tiles are tile_rows × tile_cols with tile_rows 1 (activations) or tile_cols (weights).
typedef struct {
  size_t batch, rows, cols;
  int tile_rows, tile_cols;
  int format;        // FP8K_FORMAT_*
  int scale_format;  // FP8K_SCALE_F32 or FP8K_SCALE_UE8M0
  int scale_layout;  // FP8K_LAYOUT_ROW, or FP8K_LAYOUT_MN_MAJOR (1 x G tiles only): [ceil(cols/G), align4(rows)]
  float eps;
  int strict;        // 1: a tile with NaN/inf fails the call with FP8K_ERR_NON_FINITE naming the first such tile
} fp8k_quant;

// SPEC §4: D[M,N] = op(A)·op(B) (+ C) in FP8 with per-tile scales. Layout letters as in BLAS and
// DeepGEMM: 'nt' A [M,K], B [N,K]; 'nn' A [M,K], B [K,N]; 'tn' A [K,M], B [K,N]; 'tt' A [K,M], B [N,K].
// Scales are tiles of 128 along K wherever the data lies: A [M,K] 1x128 ([M, ceil(K/128)], or mn-major
// [ceil(K/128), align4(M)]), A [K,M] 128x1 ([ceil(K/128), M]); B [N,K] 128x128 ([ceil(N/128),
// ceil(K/128)]) or 1x128 ([N, ceil(K/128)]); B [K,N] 128x128 ([ceil(K/128), ceil(N/128)]) or 128x1
// ([ceil(K/128), N]).
enum { FP8K_GEMM_NT = 0, FP8K_GEMM_NN = 1, FP8K_GEMM_TN = 2, FP8K_GEMM_TT = 3 };
enum { FP8K_B_BLOCKS = 0, FP8K_B_LINES = 1 };  // 1D2D (128x128 blocks) or 1D1D (128 along K per row/column)
enum { FP8K_ACC_PROMOTED = 0, FP8K_ACC_EXACT = 1, FP8K_ACC_LIMITED = 2 };
typedef struct {
  size_t m, n, k;
  int layout;              // FP8K_GEMM_*
  int a_format, b_format;  // FP8K_FORMAT_*
  int a_scale_layout;      // FP8K_LAYOUT_ROW or FP8K_LAYOUT_MN_MAJOR (A [M,K] only)
  int b_scales;            // FP8K_B_*
  int accumulate;          // FP8K_ACC_*
  int accumulator_bits;    // limited: bits kept after alignment (1..30)
  int promotion_interval;  // limited: 0 (none), or 32, 64 or 128
  int out_dtype;           // FP8K_F32 or FP8K_BF16
  int has_c;               // c: f32 [M,N], added once at the end
  int b_packed;            // 1: b is pack_b's output for this n, k and b_format (sb unused; B's layout letter and
                           // b_scales are ignored), so one packed B serves every layout of A
} fp8k_gemm;

// SPEC §4 "Prepacked weights": every packed B starts with this header, so a backend can refuse a
// buffer that another backend, or another B, packed.
typedef struct {
  char magic[8];  // "fp8kB" and the packing backend's tag
  uint64_t n, k;
  int32_t format, b_scales;
  uint64_t bytes;  // the whole packed B, header included
  uint8_t reserved[24];
} fp8k_packed_header;

// SPEC §5: the DeepSeek-V3 gate over logits [tokens, experts] (f32 or bf16).
enum { FP8K_SCORE_SIGMOID = 0, FP8K_SCORE_SOFTMAX = 1 };
typedef struct {
  size_t tokens;
  int experts, topk, groups, topk_groups;
  int score_func;  // FP8K_SCORE_*
  float route_scale;
  int has_bias;    // bias: f32 [experts], for selection only
} fp8k_route;

// SPEC §7: topk_idx [tokens, topk] of physical expert slots (-1: none) on nodes x gpus_per_node ranks.
typedef struct {
  size_t tokens;
  int topk, experts, nodes, gpus_per_node;
} fp8k_layout;

typedef struct fp8k_backend {
  uint32_t abi_version;
  const char* name;
  // 1 when usable; otherwise 0 with the reason written to `reason`.
  int (*probe)(char* reason, size_t cap);
  // A word on how this backend runs here (the SIMD path for cpu, the device for cuda).
  const char* (*describe)(void);

  // SPEC §1. x: f32 or bf16 (n elements); q: n bytes; format: FP8K_FORMAT_*.
  int (*cast_to_fp8)(const void* x, int x_dtype, uint8_t* q, size_t n, int format, int saturate, fp8k_call* call);
  // q: n bytes -> y: f32 or bf16.
  int (*cast_from_fp8)(const uint8_t* q, int format, void* y, int y_dtype, size_t n, fp8k_call* call);
  // f32 <-> bf16.
  int (*convert)(const void* x, int x_dtype, void* y, int y_dtype, size_t n, fp8k_call* call);

  // SPEC §2. x: f32 or bf16; q: the fp8 codes, same shape; scales: f32, laid out as p->scale_layout says.
  int (*quantize)(const void* x, int x_dtype, const fp8k_quant* p, uint8_t* q, float* scales, fp8k_call* call);
  // y = f32(q) * scale, as f32 or bf16.
  int (*dequantize)(const uint8_t* q, const float* scales, const fp8k_quant* p, void* y, int y_dtype, fp8k_call* call);
  // SPEC §3: one read of x, both outputs: rowwise = quantize(x), colwise = quantize(x^T) (data [cols, rows]).
  // For 1 x G tiles colwise scales are [cols, ceil(rows/G)]; for G x G they are the transposed block scales.
  int (*cast_transpose)(const void* x, int x_dtype, const fp8k_quant* p, uint8_t* q_row, float* s_row, uint8_t* q_col,
                        float* s_col, fp8k_call* call);

  // Device memory, for backends whose operations take device pointers (cuda, cuda-emu); NULL for
  // host backends. Copies and operations are queued on call->stream; synchronize waits for it.
  int (*mem_alloc)(void** ptr, size_t bytes, fp8k_call* call);
  int (*mem_free)(void* ptr, fp8k_call* call);
  int (*mem_upload)(void* dst, const void* src, size_t bytes, fp8k_call* call);
  int (*mem_download)(void* dst, const void* src, size_t bytes, fp8k_call* call);
  int (*stream_create)(void** stream, fp8k_call* call);
  int (*stream_destroy)(void* stream, fp8k_call* call);
  int (*synchronize)(fp8k_call* call);

  // SPEC §4. a, b: FP8 codes as p->layout stores them; sa, sb: their scales; c: NULL or f32 [M,N];
  // d: [M,N] of p->out_dtype.
  int (*gemm)(const uint8_t* a, const float* sa, const uint8_t* b, const float* sb, const float* c, void* d, const fp8k_gemm* p,
              fp8k_call* call);
  // SPEC §4 prepacked weights: B (as p's layout and b_scales describe it; m and the accumulation are
  // ignored) in the backend's own layout, for gemm with b_packed. pack_b_bytes: the size packed needs.
  size_t (*pack_b_bytes)(const fp8k_gemm* p);
  int (*pack_b)(const uint8_t* b, const float* sb, const fp8k_gemm* p, uint8_t* packed, fp8k_call* call);

  // SPEC §5. bias: NULL unless p->has_bias. topk_idx i32 and topk_weights f32, [tokens, topk].
  // A non-finite logit or bias is FP8K_ERR_NON_FINITE naming it.
  int (*route)(const void* logits, int dtype, const float* bias, const fp8k_route* p, int32_t* topk_idx, float* topk_weights,
               fp8k_call* call);
  // SPEC §7. per_rank i32 [nodes * gpus_per_node], per_node i32 [nodes], per_expert i32 [experts],
  // in_rank u8 [tokens, ranks]. An id outside [-1, experts) is FP8K_ERR_ARGUMENT naming its token and slot.
  int (*dispatch_layout)(const int32_t* topk_idx, const fp8k_layout* p, int32_t* per_rank, int32_t* per_node, int32_t* per_expert,
                         uint8_t* in_rank, fp8k_call* call);

  // SPEC §8, the data movement of a rank (dispatch's per-destination sends, the forwarder's scatter, the
  // expert-major permute): row i of dst = row row_of[i] of srcs[src_of[i]] (row_bytes each), or zeros
  // where src_of[i] < 0. srcs: a host array of nsrc pointers (device pointers on device backends);
  // indices are checked by the caller.
  int (*copy_rows)(const void* const* srcs, size_t nsrc, size_t row_bytes, const int32_t* src_of, const int32_t* row_of, size_t n, void* dst,
                   fp8k_call* call);
  // SPEC §8, combine's two reductions: y[i] = bf16(sum over j in [offsets[i], offsets[i+1]) of w_j * x_j),
  // summed in f32 from left to right, x_j row row_of[j] of srcs[src_of[j]] (bf16, h elements), w_j =
  // weights[j] (a product rounded to f32 first), or x_j alone when weights is NULL. Empty sums give zeros.
  int (*reduce_rows)(const uint16_t* const* srcs, size_t nsrc, size_t h, const int32_t* offsets, const int32_t* src_of, const int32_t* row_of,
                     const float* weights, size_t n, uint16_t* y, fp8k_call* call);
} fp8k_backend;

// Backends compiled into the addon.
const fp8k_backend* fp8k_backend_ref(void);
const fp8k_backend* fp8k_backend_cpu(void);
const fp8k_backend* fp8k_backend_cuda_emu(void);

// Writes a formatted message into call (when non-NULL) and returns status.
int fp8k_fail(fp8k_call* call, int status, const char* fmt, ...);

#ifdef __cplusplus
}
#endif

#ifdef __cplusplus
extern "C" {
#endif
// Every backend compiled into this binary, in the order backends() lists them.
const fp8k_backend* const* fp8k_builtin_backends(size_t* count);
#ifdef __cplusplus
}
#endif
