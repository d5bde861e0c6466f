// Argument checks on the native side: the TypeScript layer validates first, but
// nothing that reaches native code may crash the process.
#pragma once
#include <napi.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../backend.h"
#include "device.h"
#include "job.h"

namespace fp8k::addon {

[[noreturn]] void fail(Napi::Env env, int status, const std::string& message);

// A tensor argument: host memory (a typed array) or device memory (a device buffer).
struct Arg {
  void* host = nullptr;
  std::shared_ptr<DeviceUse> device;
  size_t bytes = 0;
  const char* name = "";
  napi_value array = nullptr;  // the typed array, in the scope of the call
  // A Promise call may use the host memory in place: fp8kit's own outputs and SharedArrayBuffers
  // cannot be detached. Other host memory is read from a snapshot / written through a staging copy.
  bool in_place = true;
};

// A typed array of dtype's element type, or a device buffer of backend b, holding n elements.
Arg tensor_arg(const Napi::CallbackInfo& info, size_t index, int dtype, size_t n, const char* name, const fp8k_backend* b);
// The same for a value; dtype -1 takes a typed array of any type holding at least n bytes.
Arg tensor_value(Napi::Env env, Napi::Value value, int dtype, size_t n, const char* name, const fp8k_backend* b);
// A typed array of any type (ArrayBuffer- or SharedArrayBuffer-backed) whose length the caller has
// checked to cover `bytes`; fails if its ArrayBuffer is detached.
Arg host_arg(Napi::Env env, napi_value value, size_t bytes, const char* name);
size_t size_arg(const Napi::CallbackInfo& info, size_t index, const char* name);
// Property `key` of o as an integer of at least `min` (0 or 1), else `status` naming it "<what> <key>".
size_t size_prop(const Napi::Object& o, const char* key, const char* what, size_t min, int status);
int int_arg(const Napi::CallbackInfo& info, size_t index, const char* name);
bool bool_arg(const Napi::CallbackInfo& info, size_t index, const char* name);

// The backend named by argument `index`, usable here.
const fp8k_backend* backend_arg(const Napi::CallbackInfo& info, size_t index);
void require_op(Napi::Env env, const fp8k_backend* b, const void* op, const char* op_name);

// Gives each tensor argument a pointer the backend can use: device backends get host arrays
// staged through temporary device memory (uploaded before, downloaded after); host backends
// get host pointers. Runs on the thread doing the work.
class Staging {
 public:
  Staging(const fp8k_backend* b, fp8k_call* c) : b_(b), c_(c) {}
  ~Staging();
  // Each returns false on failure, with the status in status().
  bool input(const Arg& a, const void** p);
  bool output(const Arg& a, void** p);
  // After the operation: downloads staged outputs and waits for the stream.
  int finish(int op_status);
  int status() const { return status_; }

 private:
  void* temp(size_t bytes);
  const fp8k_backend* b_;
  fp8k_call* c_;
  int status_ = FP8K_OK;
  std::vector<void*> temps_;
  std::vector<std::pair<void*, const Arg*>> downloads_;
};

// For a Promise call: host inputs that are not in place are copied now into buffers `held` keeps, and
// outputs that are not in place get staging buffers that `back` copies into them when the call settles.
void stage_host(std::vector<Arg>& ins, std::vector<Arg>& outs, std::vector<std::shared_ptr<HostBuffer>>& held, std::vector<CopyBack>& back);

// Runs `op(inputs, outputs, call)` now or on the pool (argument `stream_index` is the stream, the next
// one the async flag), staging every tensor argument; `keep` stays referenced until it settles.
using StagedOp = std::function<int(const void* const* in, void* const* out, fp8k_call* call)>;
Napi::Value staged(const Napi::CallbackInfo& info, const fp8k_backend* b, std::vector<Arg> ins, std::vector<Arg> outs,
                   std::vector<Napi::Value> keep, size_t stream_index, Napi::Value result, StagedOp op);

}  // namespace fp8k::addon
