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

// One input, one output, staged; arguments 1 and 4 are the tensors, `stream_index` the stream.
template <class Op>
static Napi::Value unary(const Napi::CallbackInfo& info, const fp8k_backend* b, Arg in, Arg out, size_t stream_index, Op op) {
  return staged(info, b, {in}, {out}, {info[1], info[4]}, stream_index, info[4],
                [op](const void* const* x, void* const* y, fp8k_call* c) { return op(x[0], y[0], c); });
}

// (backend, x, xDtype, n, q, format, saturate, stream, async)
Napi::Value CastToFp8(const Napi::CallbackInfo& info) {
  const fp8k_backend* b = backend_arg(info, 0);
  require_op(info.Env(), b, reinterpret_cast<const void*>(b->cast_to_fp8), "castToFp8");
  int x_dtype = float_dtype_arg(info, 2, "x dtype");
  size_t n = size_arg(info, 3, "n");
  int format = format_arg(info, 5);
  bool saturate = bool_arg(info, 6, "saturate");
  return unary(info, b, tensor_arg(info, 1, x_dtype, n, "x", b), tensor_arg(info, 4, FP8K_E4M3, n, "out", b), 7,
               [=](const void* x, void* q, fp8k_call* c) { return b->cast_to_fp8(x, x_dtype, static_cast<uint8_t*>(q), n, format, saturate, c); });
}

// (backend, q, format, n, y, yDtype, stream, async)
Napi::Value CastFromFp8(const Napi::CallbackInfo& info) {
  const fp8k_backend* b = backend_arg(info, 0);
  require_op(info.Env(), b, reinterpret_cast<const void*>(b->cast_from_fp8), "castFromFp8");
  int format = format_arg(info, 2);
  size_t n = size_arg(info, 3, "n");
  int y_dtype = float_dtype_arg(info, 5, "out dtype");
  return unary(info, b, tensor_arg(info, 1, FP8K_E4M3, n, "q", b), tensor_arg(info, 4, y_dtype, n, "out", b), 6,
               [=](const void* q, void* y, fp8k_call* c) { return b->cast_from_fp8(static_cast<const uint8_t*>(q), format, y, y_dtype, n, c); });
}

// (backend, x, xDtype, n, y, yDtype, stream, async)
Napi::Value Convert(const Napi::CallbackInfo& info) {
  const fp8k_backend* b = backend_arg(info, 0);
  require_op(info.Env(), b, reinterpret_cast<const void*>(b->convert), "convert");
  int x_dtype = float_dtype_arg(info, 2, "x dtype");
  size_t n = size_arg(info, 3, "n");
  int y_dtype = float_dtype_arg(info, 5, "out dtype");
  return unary(info, b, tensor_arg(info, 1, x_dtype, n, "x", b), tensor_arg(info, 4, y_dtype, n, "out", b), 6,
               [=](const void* x, void* y, fp8k_call* c) { return b->convert(x, x_dtype, y, y_dtype, n, c); });
}

}  // namespace fp8k::addon
