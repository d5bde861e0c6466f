#include "args.h"

#include <cmath>

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

View typed_array(const Napi::CallbackInfo& info, size_t index, int dtype, size_t n, const char* name) {
  Napi::Env env = info.Env();
  if (!info[index].IsTypedArray()) fail(env, FP8K_ERR_DTYPE, std::string(name) + " must be a typed array");
  Napi::TypedArray a = info[index].As<Napi::TypedArray>();
  if (a.TypedArrayType() != array_type(dtype)) fail(env, FP8K_ERR_DTYPE, std::string(name) + " has the wrong typed-array type");
  bool detached = false;
  napi_is_detached_arraybuffer(env, a.ArrayBuffer(), &detached);
  if (detached) fail(env, FP8K_ERR_ARGUMENT, std::string(name) + " is backed by a detached ArrayBuffer");
  if (a.ElementLength() < n) fail(env, FP8K_ERR_SHAPE, std::string(name) + " holds fewer elements than its shape says");
  return {static_cast<uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset(), a.ElementLength()};
}

size_t size_arg(const Napi::CallbackInfo& info, size_t index, const char* name) {
  double v = info[index].IsNumber() ? info[index].As<Napi::Number>().DoubleValue() : -1;
  if (!(v >= 0 && v <= 9007199254740991.0 && std::floor(v) == v))
    fail(info.Env(), FP8K_ERR_ARGUMENT, std::string(name) + " must be a non-negative integer");
  return static_cast<size_t>(v);
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
  const fp8k_backend* b = find_backend(name);
  if (!b) fail(env, FP8K_ERR_ARGUMENT, "unknown backend '" + name + "'");
  std::string reason;
  if (!backend_usable(b, &reason)) fail(env, FP8K_ERR_BACKEND_UNAVAILABLE, "backend '" + name + "' is unavailable: " + reason);
  return b;
}

void require_op(Napi::Env env, const fp8k_backend* b, const void* op, const char* op_name) {
  if (!op) fail(env, FP8K_ERR_BACKEND_UNAVAILABLE, std::string("backend '") + b->name + "' does not implement " + op_name);
}

}  // namespace fp8k::addon
