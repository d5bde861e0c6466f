// The cuda backend: a shared library of its own (static cudart) that the addon dlopens,
// so the addon loads on machines without CUDA and reports why this backend is missing.
#include <cuda_runtime.h>
#include <stdio.h>

#include <mutex>
#include <string>

#include "../backend.h"
#include "../common/gemm_packed.h"
#include "../common/moe_check.h"
#include "../common/quant_check.h"
#include "gemm.cuh"
#include "ops.cuh"

namespace {

struct Probe {
  bool ok = false;
  std::string reason, device;
};

// Asked once: cudaGetDeviceCount initializes the runtime, and its answer does not change.
const Probe& probe_once() {
  static Probe p;
  static std::once_flag once;
  std::call_once(once, [] {
    int n = 0;  // left unset by cudaGetDeviceCount when the driver is too old (error 35)
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
      p.reason = std::string(cudaGetErrorName(e)) + " (cudaGetDeviceCount returned " + std::to_string((int)e) + "): " + cudaGetErrorString(e);
      return;
    }
    if (n <= 0) {
      p.reason = "no CUDA device";
      return;
    }
    // The device this process's calls run on: the runtime's current device (0 unless the host made
    // another current; CUDA_VISIBLE_DEVICES picks which physical GPU that is). A call that another
    // thread made run elsewhere on a pre-Ada part fails at launch with cudaErrorNoKernelImageForDevice.
    int dev = 0;
    if ((e = cudaGetDevice(&dev)) != cudaSuccess) {
      p.reason = std::string("cudaGetDevice: ") + cudaGetErrorName(e);
      return;
    }
    cudaDeviceProp prop;
    if ((e = cudaGetDeviceProperties(&prop, dev)) != cudaSuccess) {
      p.reason = std::string("cudaGetDeviceProperties: ") + cudaGetErrorName(e);
      return;
    }
    char buf[256];
    snprintf(buf, sizeof buf, "%s (device %d of %d, sm_%d%d, %d SMs, %.0f GiB)", prop.name, dev, n, prop.major, prop.minor,
             prop.multiProcessorCount, prop.totalGlobalMem / 1073741824.0);
    p.device = buf;
    if (prop.major * 10 + prop.minor < 89) {
      p.reason = std::string("compute capability ") + std::to_string(prop.major) + "." + std::to_string(prop.minor) +
                 " of " + prop.name + " is below 8.9: FP8 needs Ada (sm_89) or Hopper (sm_90)";
      return;
    }
    p.ok = true;
  });
  return p;
}

int probe(char* reason, size_t cap) {
  const Probe& p = probe_once();
  if (!p.ok) snprintf(reason, cap, "%s", p.reason.c_str());
  return p.ok;
}

const char* describe() { return probe_once().device.c_str(); }

cudaStream_t stream_of(const fp8k_call* c) { return c && c->stream ? static_cast<cudaStream_t>(c->stream) : cudaStreamPerThread; }

int cuda_status(cudaError_t e, fp8k_call* c, const char* what) {
  if (e == cudaSuccess) return FP8K_OK;
  cudaGetLastError();  // clear a non-sticky error so the next call starts clean
  return fp8k_fail(c, e == cudaErrorMemoryAllocation ? FP8K_ERR_OUT_OF_MEMORY : FP8K_ERR_CUDA, "%s: %s (%s)", what,
                   cudaGetErrorName(e), cudaGetErrorString(e));
}

// Kernels are asynchronous: a launch reports configuration errors; execution errors surface at synchronize.
int launched(fp8k_call* c, const char* what) { return cuda_status(cudaGetLastError(), c, what); }

int cast_to_fp8(const void* x, int x_dtype, uint8_t* q, size_t n, int format, int saturate, fp8k_call* c) {
  fp8k::cuda::cast_to_fp8(x, x_dtype, q, n, format, saturate, stream_of(c));
  return launched(c, "castToFp8");
}

int cast_from_fp8(const uint8_t* q, int format, void* y, int y_dtype, size_t n, fp8k_call* c) {
  fp8k::cuda::cast_from_fp8(q, format, y, y_dtype, n, stream_of(c));
  return launched(c, "castFromFp8");
}

int convert(const void* x, int x_dtype, void* y, int y_dtype, size_t n, fp8k_call* c) {
  fp8k::cuda::convert(x, x_dtype, y, y_dtype, n, stream_of(c));
  return launched(c, "convert");
}

// An error flag: a stream-ordered device word, all ones before the kernels, lowered by them to the
// first failing index (strict quantization's first non-finite tile, route's first non-finite element,
// dispatchLayout's first bad id) and read back after them.
struct DeviceFlag {
  unsigned long long* dev = nullptr;
  cudaStream_t stream;
  explicit DeviceFlag(cudaStream_t s) : stream(s) {}
  ~DeviceFlag() {
    if (dev) cudaFreeAsync(dev, stream);
  }
  int init(fp8k_call* c) {
    if (int s = cuda_status(cudaMallocAsync(reinterpret_cast<void**>(&dev), sizeof *dev, stream), c, "cudaMallocAsync")) return s;
    return cuda_status(cudaMemsetAsync(dev, 0xFF, sizeof *dev, stream), c, "cudaMemsetAsync");
  }
  // After the launches: waits for the stream and gives the flag's value.
  int read(unsigned long long* h, fp8k_call* c) {
    if (int s = cuda_status(cudaMemcpyAsync(h, dev, sizeof *h, cudaMemcpyDeviceToHost, stream), c, "error flag download")) return s;
    return cuda_status(cudaStreamSynchronize(stream), c, "cudaStreamSynchronize");
  }
  // Strict quantization: fails the call if a tile was non-finite.
  int check(const fp8k_quant* p, fp8k_call* c) {
    unsigned long long h = fp8k::cuda::kNoTile;
    if (int s = read(&h, c)) return s;
    return h != fp8k::cuda::kNoTile ? fp8k_fail_nonfinite(p, (size_t)h, c) : FP8K_OK;
  }
};
using StrictFlag = DeviceFlag;

int quantize(const void* x, int x_dtype, const fp8k_quant* p, uint8_t* q, float* scales, fp8k_call* c) {
  if (int s = fp8k_check_quant(p, c)) return s;  // column tiles too (quantize_columns.cuh)
  StrictFlag flag(stream_of(c));
  if (p->strict)
    if (int s = flag.init(c)) return s;
  fp8k::cuda::quantize(x, x_dtype, *p, q, scales, flag.dev, stream_of(c));
  if (int s = launched(c, "quantize")) return s;
  return p->strict ? flag.check(p, c) : FP8K_OK;
}

int dequantize(const uint8_t* q, const float* scales, const fp8k_quant* p, void* y, int y_dtype, fp8k_call* c) {
  if (int s = fp8k_check_quant_no_columns(p, "cuda", c)) return s;
  fp8k::cuda::dequantize(q, scales, *p, y, y_dtype, stream_of(c));
  return launched(c, "dequantize");
}

int cast_transpose(const void* x, int x_dtype, const fp8k_quant* p, uint8_t* q_row, float* s_row, uint8_t* q_col, float* s_col,
                   fp8k_call* c) {
  if (!fp8k::cuda::cast_transpose_args_ok(p))
    return fp8k_fail(c, FP8K_ERR_ARGUMENT, "castTranspose takes one matrix and row-major scales");
  if (int s = fp8k_check_quant_no_columns(p, "cuda", c)) return s;
  StrictFlag flag(stream_of(c));
  if (p->strict)
    if (int s = flag.init(c)) return s;
  fp8k::cuda::cast_transpose(x, x_dtype, *p, q_row, s_row, q_col, s_col, flag.dev, stream_of(c));
  if (int s = launched(c, "castTranspose")) return s;
  return p->strict ? flag.check(p, c) : FP8K_OK;
}

// SPEC §4: 'nt', promoted (gemm.cuh).
int gemm(const uint8_t* a, const float* sa, const uint8_t* b, const float* sb, const float* cm, void* d, const fp8k_gemm* p, fp8k_call* c) {
  if (int s = fp8k::cuda::gemm_refuse(*p, c)) return s;
  fp8k::cuda::gemm(a, sa, b, sb, cm, d, *p, stream_of(c));
  return launched(c, "gemm");
}

// SPEC §4 prepacked weights (gemm.cuh): the kernels write data and scales, the header goes up from
// here (pageable memory: the copy has taken it when cudaMemcpyAsync returns).
size_t pack_b_bytes(const fp8k_gemm* p) { return fp8k::cuda::gemm_packed(*p).bytes; }
int pack_b(const uint8_t* b, const float* sb, const fp8k_gemm* p, uint8_t* packed, fp8k_call* c) {
  if (int s = fp8k::cuda::gemm_refuse(*p, c)) return s;
  fp8k_packed_header h;
  fp8k_packed_init(&h, fp8k::cuda::kGemmPackTag, p, fp8k::cuda::gemm_packed(*p).bytes);
  if (int s = cuda_status(cudaMemcpyAsync(packed, &h, sizeof h, cudaMemcpyHostToDevice, stream_of(c)), c, "packed header upload")) return s;
  fp8k::cuda::gemm_pack_b(b, sb, *p, packed, stream_of(c));
  return launched(c, "packWeights");
}

// SPEC §5. The kernel takes E <= 1024 and G <= 64 (route.cuh); larger gates are refused.
int route(const void* logits, int dtype, const float* bias, const fp8k_route* p, int32_t* topk_idx, float* topk_weights, fp8k_call* c) {
  if (int s = fp8k_check_route(p, c)) return s;
  if (!fp8k::cuda::route_fits(*p)) return fp8k::cuda::route_refuse(*p, c);
  DeviceFlag flag(stream_of(c));
  if (int s = flag.init(c)) return s;
  fp8k::cuda::route(logits, dtype, bias, *p, topk_idx, topk_weights, flag.dev, stream_of(c));
  if (int s = launched(c, "route")) return s;
  unsigned long long h = fp8k::cuda::kNoError;
  if (int s = flag.read(&h, c)) return s;
  return fp8k::cuda::route_status(h, *p, c);
}

// SPEC §7. A bad id: its value is downloaded for the message.
int dispatch_layout(const int32_t* topk_idx, const fp8k_layout* p, int32_t* per_rank, int32_t* per_node, int32_t* per_expert, uint8_t* in_rank,
                    fp8k_call* c) {
  if (int s = fp8k_check_layout(p, c)) return s;
  DeviceFlag flag(stream_of(c));
  if (int s = flag.init(c)) return s;
  fp8k::cuda::dispatch_layout(topk_idx, *p, per_rank, per_node, per_expert, in_rank, flag.dev, stream_of(c));
  if (int s = launched(c, "dispatchLayout")) return s;
  unsigned long long h = fp8k::cuda::kNoError;
  if (int s = flag.read(&h, c)) return s;
  if (h == fp8k::cuda::kNoError) return FP8K_OK;
  int32_t id = 0;
  if (int s = cuda_status(cudaMemcpyAsync(&id, topk_idx + h, sizeof id, cudaMemcpyDeviceToHost, stream_of(c)), c, "download")) return s;
  if (int s = cuda_status(cudaStreamSynchronize(stream_of(c)), c, "cudaStreamSynchronize")) return s;
  return fp8k_fail_expert_id(p, (size_t)h, id, c);
}

// The source pointers of copy_rows / reduce_rows arrive as a host array: uploaded into a table the
// kernel reads, on the call's stream (from pageable memory, so the copy has taken them when it returns).
struct SourceTable {
  cudaStream_t stream;
  void* dev = nullptr;
  explicit SourceTable(cudaStream_t s) : stream(s) {}
  ~SourceTable() {
    if (dev) cudaFreeAsync(dev, stream);
  }
  int build(const void* const* srcs, size_t nsrc, fp8k_call* c) {
    if (nsrc == 0) return FP8K_OK;
    const size_t bytes = nsrc * sizeof(void*);
    if (int s = cuda_status(cudaMallocAsync(&dev, bytes, stream), c, "cudaMallocAsync")) return s;
    return cuda_status(cudaMemcpyAsync(dev, srcs, bytes, cudaMemcpyHostToDevice, stream), c, "source table upload");
  }
};

int copy_rows(const void* const* srcs, size_t nsrc, size_t row_bytes, const int32_t* src_of, const int32_t* row_of, size_t n, void* dst, fp8k_call* c) {
  if (n == 0 || row_bytes == 0) return FP8K_OK;
  SourceTable table(stream_of(c));
  if (int s = table.build(srcs, nsrc, c)) return s;
  fp8k::cuda::copy_rows(static_cast<const void* const*>(table.dev), row_bytes, src_of, row_of, n, dst, stream_of(c));
  return launched(c, "copyRows");
}

int reduce_rows(const uint16_t* const* srcs, size_t nsrc, size_t h, const int32_t* offsets, const int32_t* src_of, const int32_t* row_of, const float* weights,
                size_t n, uint16_t* y, fp8k_call* c) {
  if (n == 0 || h == 0) return FP8K_OK;
  SourceTable table(stream_of(c));
  if (int s = table.build(reinterpret_cast<const void* const*>(srcs), nsrc, c)) return s;
  fp8k::cuda::reduce_rows(static_cast<const uint16_t* const*>(table.dev), h, offsets, src_of, row_of, weights, n, y, stream_of(c));
  return launched(c, "reduceRows");
}

int mem_alloc(void** ptr, size_t bytes, fp8k_call* c) { return cuda_status(cudaMalloc(ptr, bytes ? bytes : 1), c, "cudaMalloc"); }
int mem_free(void* ptr, fp8k_call* c) { return cuda_status(cudaFree(ptr), c, "cudaFree"); }
int mem_upload(void* dst, const void* src, size_t bytes, fp8k_call* c) {
  return cuda_status(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_of(c)), c, "upload");
}
int mem_download(void* dst, const void* src, size_t bytes, fp8k_call* c) {
  return cuda_status(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_of(c)), c, "download");
}
int stream_create(void** s, fp8k_call* c) {
  return cuda_status(cudaStreamCreateWithFlags(reinterpret_cast<cudaStream_t*>(s), cudaStreamNonBlocking), c, "cudaStreamCreate");
}
int stream_destroy(void* s, fp8k_call* c) { return cuda_status(cudaStreamDestroy(static_cast<cudaStream_t>(s)), c, "cudaStreamDestroy"); }
int synchronize(fp8k_call* c) { return cuda_status(cudaStreamSynchronize(stream_of(c)), c, "cudaStreamSynchronize"); }

fp8k_backend make_table() {
  fp8k_backend t{};
  t.abi_version = FP8K_ABI_VERSION;
  t.name = "cuda";
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
  t.mem_upload = mem_upload;
  t.mem_download = mem_download;
  t.stream_create = stream_create;
  t.stream_destroy = stream_destroy;
  t.synchronize = synchronize;
  t.gemm = gemm;
  t.pack_b_bytes = pack_b_bytes;
  t.pack_b = pack_b;
  t.route = route;
  t.dispatch_layout = dispatch_layout;
  t.copy_rows = copy_rows;
  t.reduce_rows = reduce_rows;
  return t;
}

}  // namespace

extern "C" __attribute__((visibility("default"))) const fp8k_backend* fp8k_plugin_backend(void) {
  static const fp8k_backend table = make_table();
  return &table;
}
