// The cuda backend: a shared library of its own (static cudart) that the addon dlopens,
// so the addon loads on machines without CUDA and reports why this backend is missing.
#include <cuda_runtime.h>
#include <stdio.h>

#include <mutex>
#include <string>

#include "../backend.h"
#include "../common/quant_check.h"
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
    cudaDeviceProp prop;
    if ((e = cudaGetDeviceProperties(&prop, 0)) != cudaSuccess) {
      p.reason = std::string("cudaGetDeviceProperties: ") + cudaGetErrorName(e);
      return;
    }
    char buf[256];
    snprintf(buf, sizeof buf, "%s (sm_%d%d, %d SMs, %.0f GiB)", prop.name, prop.major, prop.minor, prop.multiProcessorCount,
             prop.totalGlobalMem / 1073741824.0);
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

// The strict-mode flag: a stream-ordered device word, set to "no tile" before the kernels and
// read back after them (SPEC §2: the call fails naming the first non-finite tile).
struct StrictFlag {
  unsigned long long* dev = nullptr;
  cudaStream_t stream;
  explicit StrictFlag(cudaStream_t s) : stream(s) {}
  ~StrictFlag() {
    if (dev) cudaFreeAsync(dev, stream);
  }
  int init(fp8k_call* c) {
    if (int s = cuda_status(cudaMallocAsync(reinterpret_cast<void**>(&dev), sizeof *dev, stream), c, "cudaMallocAsync")) return s;
    return cuda_status(cudaMemsetAsync(dev, 0xFF, sizeof *dev, stream), c, "cudaMemsetAsync");
  }
  // After the launches: waits for the stream and fails the call if a tile was non-finite.
  int check(const fp8k_quant* p, fp8k_call* c) {
    unsigned long long h = fp8k::cuda::kNoTile;
    if (int s = cuda_status(cudaMemcpyAsync(&h, dev, sizeof h, cudaMemcpyDeviceToHost, stream), c, "strict flag download")) return s;
    if (int s = cuda_status(cudaStreamSynchronize(stream), c, "cudaStreamSynchronize")) return s;
    return h != fp8k::cuda::kNoTile ? fp8k_fail_nonfinite(p, (size_t)h, c) : FP8K_OK;
  }
};

int quantize(const void* x, int x_dtype, const fp8k_quant* p, uint8_t* q, float* scales, fp8k_call* c) {
  if (int s = fp8k_check_quant_no_columns(p, "cuda", c)) return s;
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
  return t;
}

}  // namespace

extern "C" __attribute__((visibility("default"))) const fp8k_backend* fp8k_plugin_backend(void) {
  static const fp8k_backend table = make_table();
  return &table;
}
