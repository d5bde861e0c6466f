// What this process can run, for backends() and `fp8kit info`, and the copy baseline of the benchmarks.
#include "info.h"

#include "../cpu/copy.h"
#include "../cpu/ops.h"
#include "../cpu/peak.h"
#include "../cpu/simd.h"
#include "args.h"
#include "dl.h"
#include "registry.h"

namespace fp8k::addon {

// [{name, available, reason, device}]
Napi::Value Backends(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto list = list_backends();
  Napi::Array out = Napi::Array::New(env, list.size());
  for (size_t i = 0; i < list.size(); i++) {
    const BackendEntry& e = list[i];
    bool ok = e.backend && e.reason.empty();
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", e.name);
    o.Set("available", ok);
    o.Set("reason", ok ? env.Null() : Napi::String::New(env, e.reason));
    o.Set("device", ok && e.backend->describe ? Napi::String::New(env, e.backend->describe()) : env.Null());
    out.Set(i, o);
  }
  return out;
}

// (name, paths[]): loads the plugin providing backend `name` from the first path that works.
Napi::Value LoadPlugin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString() || !info[1].IsArray()) fail(env, FP8K_ERR_ARGUMENT, "loadPlugin(name, paths)");
  Napi::Array a = info[1].As<Napi::Array>();
  std::vector<std::string> paths;
  for (uint32_t i = 0; i < a.Length(); i++) paths.push_back(a.Get(i).ToString());
  load_plugin_backend(info[0].As<Napi::String>(), paths);
  return env.Undefined();
}

// {found, version, devices, reason}: asks the driver library itself, without the CUDA runtime.
Napi::Value CudaDriver(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
#ifdef _WIN32
  const char* driver = "nvcuda.dll";
#else
  const char* driver = "libcuda.so.1";
#endif
  void* lib = dl::open(driver, false);
  o.Set("found", lib != nullptr);
  if (!lib) {
    o.Set("reason", std::string(driver) + " not found: " + dl::error());
    return o;
  }
  using InitFn = int (*)(unsigned);
  using IntFn = int (*)(int*);
  auto init = reinterpret_cast<InitFn>(dl::sym(lib, "cuInit"));
  auto version = reinterpret_cast<IntFn>(dl::sym(lib, "cuDriverGetVersion"));
  auto count = reinterpret_cast<IntFn>(dl::sym(lib, "cuDeviceGetCount"));
  int v = 0, n = 0, rc = -1;
  if (version && version(&v) == 0) o.Set("version", v);
  if (init && count && (rc = init(0)) == 0 && count(&n) == 0)
    o.Set("devices", n);
  else
    o.Set("reason", "cuInit failed with CUresult " + std::to_string(rc));
  return o;  // the library stays loaded: unloading a driver is not safe
}

// (level?) -> {level, name}: reads, or for tests caps, the cpu backend's SIMD path.
Napi::Value CpuSimd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int level = info.Length() > 0 && !info[0].IsUndefined() ? fp8k_cpu_force_simd(int_arg(info, 0, "level")) : fp8k_cpu_simd_level();
  Napi::Object o = Napi::Object::New(env);
  o.Set("level", level);
  o.Set("name", fp8k_cpu_simd_name(level));
  o.Set("gemm", fp8k::cpu::gemm_path());
  o.Set("reason", fp8k_cpu_simd_reason());
  return o;
}

// (dst, src): the memory-copy baseline, over the same threads as the cpu backend.
Napi::Value BenchCopy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || !info[1].IsTypedArray()) fail(env, FP8K_ERR_ARGUMENT, "benchCopy(dst, src) takes typed arrays");
  Napi::TypedArray dst = info[0].As<Napi::TypedArray>(), src = info[1].As<Napi::TypedArray>();
  if (dst.ByteLength() != src.ByteLength()) fail(env, FP8K_ERR_SHAPE, "benchCopy: dst and src differ in size");
  fp8k_cpu_copy(static_cast<char*>(dst.ArrayBuffer().Data()) + dst.ByteOffset(),
                static_cast<const char*>(src.ArrayBuffer().Data()) + src.ByteOffset(), src.ByteLength());
  return env.Undefined();
}

Napi::Value IsDetached(const Napi::CallbackInfo& info) {
  bool detached = false;
  if (info[0].IsArrayBuffer()) napi_is_detached_arraybuffer(info.Env(), info[0], &detached);
  return Napi::Boolean::New(info.Env(), detached);
}

// (typed array) -> whether its memory is an fp8kit output, which a Promise call uses in place (no snapshot).
Napi::Value IsOutput(const Napi::CallbackInfo& info) {
  if (!info[0].IsTypedArray()) return Napi::Boolean::New(info.Env(), false);
  return Napi::Boolean::New(info.Env(), host_arg(info.Env(), info[0], 0, "array").in_place);
}

// (kind: 'fma' | 'vdpbf16ps' | 'amx') -> GFLOP/s on the cpu backend's threads; 0 where the SIMD level does not run it.
Napi::Value BenchPeak(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string kind = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  const int k = kind == "fma" ? FP8K_PEAK_FMA : kind == "vdpbf16ps" ? FP8K_PEAK_BF16 : kind == "amx" ? FP8K_PEAK_AMX : -1;
  if (k < 0) fail(env, FP8K_ERR_ARGUMENT, "benchPeak(kind): kind is 'fma', 'vdpbf16ps' or 'amx'");
  return Napi::Number::New(env, fp8k_cpu_peak_gflops(k));
}

}  // namespace fp8k::addon
