#include "args.h"

#include <string.h>

#include <cmath>

#include "../cpu/copy.h"
#include "alloc.h"
#include "job.h"
#include "registry.h"

namespace fp8k::addon {

void fail(Napi::Env env, int status, const std::string& message) { throw status_error(env, status, message); }

static napi_typedarray_type array_type(int dtype) {
  switch (dtype) {
    case FP8K_F32: return napi_float32_array;
    case FP8K_BF16:
    case FP8K_F16: return napi_uint16_array;
    case FP8K_I32: return napi_int32_array;
    default: return napi_uint8_array;
  }
}

static size_t element_bytes(int dtype) {
  switch (dtype) {
    case FP8K_F32:
    case FP8K_I32: return 4;
    case FP8K_BF16:
    case FP8K_F16: return 2;
    default: return 1;
  }
}

Arg host_arg(Napi::Env env, napi_value value, size_t bytes, const char* name) {
  napi_typedarray_type type;
  size_t length, offset;
  void* data = nullptr;
  napi_value buffer;
  if (napi_get_typedarray_info(env, value, &type, &length, &data, &buffer, &offset) != napi_ok)
    fail(env, FP8K_ERR_DTYPE, std::string(name) + " must be a typed array or a device tensor");
  Arg arg;
  arg.bytes = bytes;
  arg.name = name;
  arg.array = value;
  bool is_plain = false, detached = false;
  void* base = nullptr;
  size_t capacity = 0;
  napi_is_arraybuffer(env, buffer, &is_plain);
  if (is_plain) {  // else a SharedArrayBuffer, which cannot be detached
    napi_is_detached_arraybuffer(env, buffer, &detached);
    if (detached) fail(env, FP8K_ERR_ARGUMENT, std::string(name) + " is backed by a detached ArrayBuffer");
    napi_get_arraybuffer_info(env, buffer, &base, &capacity);
    arg.in_place = owned_output(env, base, capacity);
  }
  if (!data && bytes) fail(env, FP8K_ERR_ARGUMENT, std::string(name) + " has no memory");
  arg.host = data;
  return arg;
}

Arg tensor_arg(const Napi::CallbackInfo& info, size_t index, int dtype, size_t n, const char* name, const fp8k_backend* b) {
  return tensor_value(info.Env(), info[index], dtype, n, name, b);
}

Arg tensor_value(Napi::Env env, Napi::Value value, int dtype, size_t n, const char* name, const fp8k_backend* b) {
  if (dtype < 0) {  // any typed array of at least n bytes
    if (!device_mem(value) && value.IsTypedArray() && value.As<Napi::TypedArray>().ByteLength() < n)
      fail(env, FP8K_ERR_SHAPE, std::string(name) + " holds fewer bytes than its shape says");
    if (!device_mem(value) && value.IsTypedArray()) return host_arg(env, value, n, name);
    dtype = FP8K_U8;
  }
  if (DeviceMem* m = device_mem(value)) {
    Arg arg;
    arg.bytes = n * element_bytes(dtype);
    arg.name = name;
    if (m->backend != b) fail(env, FP8K_ERR_ARGUMENT, std::string(name) + " lives on backend '" + m->backend->name + "', not '" + b->name + "'");
    if (m->freed()) fail(env, FP8K_ERR_ARGUMENT, std::string(name) + " is a device tensor that was freed");
    if (m->bytes() < arg.bytes) fail(env, FP8K_ERR_SHAPE, std::string(name) + " holds fewer elements than its shape says");
    arg.device = std::make_shared<DeviceUse>(m);
    return arg;
  }
  if (!value.IsTypedArray()) fail(env, FP8K_ERR_DTYPE, std::string(name) + " must be a typed array or a device tensor");
  Napi::TypedArray a = value.As<Napi::TypedArray>();
  if (a.TypedArrayType() != array_type(dtype)) fail(env, FP8K_ERR_DTYPE, std::string(name) + " has the wrong typed-array type");
  if (a.ElementLength() < n) fail(env, FP8K_ERR_SHAPE, std::string(name) + " holds fewer elements than its shape says");
  return host_arg(env, value, n * element_bytes(dtype), name);
}

void stage_host(std::vector<Arg>& ins, std::vector<Arg>& outs, std::vector<std::shared_ptr<HostBuffer>>& held, std::vector<CopyBack>& back) {
  for (Arg& a : ins)
    if (!a.device && !a.in_place) {
      held.push_back(std::make_shared<HostBuffer>(a.bytes));
      fp8k_cpu_copy(held.back()->data(), a.host, a.bytes);  // on every core: the JavaScript thread waits for it
      a.host = held.back()->data();
    }
  for (Arg& a : outs)
    if (!a.device && !a.in_place) {
      back.push_back({std::make_shared<HostBuffer>(a.bytes), a.array, a.name});
      a.host = back.back().staging->data();
    }
}

Staging::~Staging() {
  for (void* t : temps_) b_->mem_free(t, c_);
}

void* Staging::temp(size_t bytes) {
  void* p = nullptr;
  status_ = b_->mem_alloc(&p, bytes, c_);
  if (status_ != FP8K_OK) return nullptr;
  temps_.push_back(p);
  return p;
}

bool Staging::input(const Arg& a, const void** p) {
  if (a.device || !b_->mem_alloc) {
    *p = a.device ? a.device->ptr : a.host;
    return true;
  }
  void* d = temp(a.bytes);
  if (!d) return false;
  status_ = b_->mem_upload(d, a.host, a.bytes, c_);
  *p = d;
  return status_ == FP8K_OK;
}

bool Staging::output(const Arg& a, void** p) {
  if (a.device || !b_->mem_alloc) {
    *p = a.device ? a.device->ptr : a.host;
    return true;
  }
  void* d = temp(a.bytes);
  if (!d) return false;
  downloads_.push_back({d, &a});
  *p = d;
  return true;
}

int Staging::finish(int op_status) {
  if (op_status != FP8K_OK || !b_->mem_alloc) return op_status;
  for (auto& [d, a] : downloads_)
    if ((status_ = b_->mem_download(a->host, d, a->bytes, c_)) != FP8K_OK) return status_;
  return b_->synchronize(c_);
}

size_t size_arg(const Napi::CallbackInfo& info, size_t index, const char* name) {
  double v = info[index].IsNumber() ? info[index].As<Napi::Number>().DoubleValue() : -1;
  if (!(v >= 0 && v <= 9007199254740991.0 && std::floor(v) == v))
    fail(info.Env(), FP8K_ERR_ARGUMENT, std::string(name) + " must be a non-negative integer");
  return static_cast<size_t>(v);
}

size_t size_prop(const Napi::Object& o, const char* key, const char* what, size_t min, int status) {
  Napi::Value v = o.Get(key);
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
  if (!(d >= (double)min && d <= 9007199254740991.0 && d == (double)(size_t)d))
    fail(o.Env(), status, std::string(what) + " " + key + (min ? " must be a positive integer" : " must be a non-negative integer"));
  return static_cast<size_t>(d);
}

int int_arg(const Napi::CallbackInfo& info, size_t index, const char* name) {
  if (!info[index].IsNumber()) fail(info.Env(), FP8K_ERR_ARGUMENT, std::string(name) + " must be a number");
  return info[index].As<Napi::Number>().Int32Value();
}

bool bool_arg(const Napi::CallbackInfo& info, size_t index, const char* name) {
  if (!info[index].IsBoolean()) fail(info.Env(), FP8K_ERR_ARGUMENT, std::string(name) + " must be a boolean");
  return info[index].As<Napi::Boolean>().Value();
}

const fp8k_backend* backend_arg(const Napi::CallbackInfo& info, size_t index) {
  Napi::Env env = info.Env();
  if (!info[index].IsString()) fail(env, FP8K_ERR_ARGUMENT, "backend must be a string");
  std::string name = info[index].As<Napi::String>();
  bool known = false;
  std::string reason;
  const fp8k_backend* b = find_backend(name, &known, &reason);
  if (!known) fail(env, FP8K_ERR_ARGUMENT, "unknown backend '" + name + "'");
  if (!b || !reason.empty()) fail(env, FP8K_ERR_BACKEND_UNAVAILABLE, "backend '" + name + "' is unavailable: " + reason);
  return b;
}

void require_op(Napi::Env env, const fp8k_backend* b, const void* op, const char* op_name) {
  if (!op) fail(env, FP8K_ERR_BACKEND_UNAVAILABLE, std::string("backend '") + b->name + "' does not implement " + op_name);
}

Napi::Value staged(const Napi::CallbackInfo& info, const fp8k_backend* b, std::vector<Arg> ins, std::vector<Arg> outs,
                   std::vector<Napi::Value> keep, size_t stream_index, Napi::Value result, StagedOp op) {
  void* stream = stream_handle(info[stream_index], b);
  keep.push_back(info[stream_index]);
  const bool async = bool_arg(info, stream_index + 1, "async");
  std::vector<std::shared_ptr<HostBuffer>> held;
  std::vector<CopyBack> back;
  if (async) stage_host(ins, outs, held, back);
  return run_job(info.Env(), async, keep,
                 [b, stream, ins, outs, op, held](fp8k_call* c) {
                   c->stream = stream;
                   Staging s(b, c);
                   std::vector<const void*> x(ins.size());
                   std::vector<void*> y(outs.size());
                   for (size_t i = 0; i < ins.size(); i++)
                     if (!s.input(ins[i], &x[i])) return s.status();
                   for (size_t i = 0; i < outs.size(); i++)
                     if (!s.output(outs[i], &y[i])) return s.status();
                   return s.finish(op(x.data(), y.data(), c));
                 },
                 result, std::move(back));
}

}  // namespace fp8k::addon
