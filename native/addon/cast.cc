// Bindings for SPEC §1: castToFp8, castFromFp8 and f32 <-> bf16.
#include "cast.h"

#include "args.h"
#include "job.h"

namespace fp8k::addon {

static int format_arg(const Napi::CallbackInfo& info, size_t index) {
  int f = int_arg(info, index, "format");
  if (f != FP8K_FORMAT_E4M3 && f != FP8K_FORMAT_E5M2) fail(info.Env(), FP8K_ERR_ARGUMENT, "unknown format");
  return f;
}

static int float_dtype_arg(const Napi::CallbackInfo& info, size_t index, const char* name) {
  int d = int_arg(info, index, name);
  if (d != FP8K_F32 && d != FP8K_BF16) fail(info.Env(), FP8K_ERR_DTYPE, std::string(name) + " must be f32 or bf16");
  return d;
}

// (backend, x, xDtype, n, q, format, saturate, async)
Napi::Value CastToFp8(const Napi::CallbackInfo& info) {
  const fp8k_backend* b = backend_arg(info, 0);
  require_op(info.Env(), b, reinterpret_cast<const void*>(b->cast_to_fp8), "castToFp8");
  int x_dtype = float_dtype_arg(info, 2, "x dtype");
  size_t n = size_arg(info, 3, "n");
  View x = typed_array(info, 1, x_dtype, n, "x");
  int format = format_arg(info, 5);
  View q = typed_array(info, 4, format == FP8K_FORMAT_E5M2 ? FP8K_E5M2 : FP8K_E4M3, n, "out");
  bool saturate = bool_arg(info, 6, "saturate");
  return run_job(info.Env(), bool_arg(info, 7, "async"), {info[1], info[4]},
                 [=](fp8k_error* e) { return b->cast_to_fp8(x.data, x_dtype, static_cast<uint8_t*>(q.data), n, format, saturate, e); },
                 info[4]);
}

// (backend, q, format, n, y, yDtype, async)
Napi::Value CastFromFp8(const Napi::CallbackInfo& info) {
  const fp8k_backend* b = backend_arg(info, 0);
  require_op(info.Env(), b, reinterpret_cast<const void*>(b->cast_from_fp8), "castFromFp8");
  int format = format_arg(info, 2);
  size_t n = size_arg(info, 3, "n");
  View q = typed_array(info, 1, FP8K_E4M3, n, "q");
  int y_dtype = float_dtype_arg(info, 5, "out dtype");
  View y = typed_array(info, 4, y_dtype, n, "out");
  return run_job(info.Env(), bool_arg(info, 6, "async"), {info[1], info[4]},
                 [=](fp8k_error* e) { return b->cast_from_fp8(static_cast<const uint8_t*>(q.data), format, y.data, y_dtype, n, e); },
                 info[4]);
}

// (backend, x, xDtype, n, y, yDtype, async)
Napi::Value Convert(const Napi::CallbackInfo& info) {
  const fp8k_backend* b = backend_arg(info, 0);
  require_op(info.Env(), b, reinterpret_cast<const void*>(b->convert), "convert");
  int x_dtype = float_dtype_arg(info, 2, "x dtype");
  size_t n = size_arg(info, 3, "n");
  View x = typed_array(info, 1, x_dtype, n, "x");
  int y_dtype = float_dtype_arg(info, 5, "out dtype");
  View y = typed_array(info, 4, y_dtype, n, "out");
  return run_job(info.Env(), bool_arg(info, 6, "async"), {info[1], info[4]},
                 [=](fp8k_error* e) { return b->convert(x.data, x_dtype, y.data, y_dtype, n, e); }, info[4]);
}

}  // namespace fp8k::addon
