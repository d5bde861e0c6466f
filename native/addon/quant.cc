// Bindings for SPEC §2 and §3: quantize, dequantize, castTranspose.
#include "quant.h"

#include "../common/quant_check.h"
#include "args.h"
#include "job.h"

namespace fp8k::addon {

static size_t prop_size(const Napi::Object& o, const char* key) { return size_prop(o, key, "quantization parameter", 0, FP8K_ERR_ARGUMENT); }

// {batch, rows, cols, tileRows, tileCols, format, scaleFormat, scaleLayout, eps, strict}, checked.
static fp8k_quant quant_arg(const Napi::CallbackInfo& info, size_t index) {
  Napi::Env env = info.Env();
  if (!info[index].IsObject()) fail(env, FP8K_ERR_ARGUMENT, "quantization parameters must be an object");
  Napi::Object o = info[index].As<Napi::Object>();
  fp8k_quant p{};
  p.batch = prop_size(o, "batch");
  p.rows = prop_size(o, "rows");
  p.cols = prop_size(o, "cols");
  p.tile_rows = static_cast<int>(prop_size(o, "tileRows"));
  p.tile_cols = static_cast<int>(prop_size(o, "tileCols"));
  p.format = static_cast<int>(prop_size(o, "format"));
  p.scale_format = static_cast<int>(prop_size(o, "scaleFormat"));
  p.scale_layout = static_cast<int>(prop_size(o, "scaleLayout"));
  p.eps = o.Get("eps").IsNumber() ? o.Get("eps").As<Napi::Number>().FloatValue() : -1.0f;
  p.strict = o.Get("strict").ToBoolean().Value();
  fp8k_call c{};
  if (int s = fp8k_check_quant(&p, &c)) fail(env, s, c.message);
  size_t n;
  if (__builtin_mul_overflow(p.batch, p.rows, &n) || __builtin_mul_overflow(n, p.cols, &n) || n > (SIZE_MAX >> 4))
    fail(env, FP8K_ERR_SHAPE, "quantization shape overflows");
  return p;
}

static int float_dtype(const Napi::CallbackInfo& info, size_t index) {
  int d = int_arg(info, index, "dtype");
  if (d != FP8K_F32 && d != FP8K_BF16) fail(info.Env(), FP8K_ERR_DTYPE, "dtype must be f32 or bf16");
  return d;
}

// (backend, x, xDtype, params, q, scales, stream, async) -> q
Napi::Value Quantize(const Napi::CallbackInfo& info) {
  const fp8k_backend* b = backend_arg(info, 0);
  require_op(info.Env(), b, reinterpret_cast<const void*>(b->quantize), "quantize");
  const int x_dtype = float_dtype(info, 2);
  const fp8k_quant p = quant_arg(info, 3);
  const size_t n = p.batch * p.rows * p.cols;
  Arg x = tensor_arg(info, 1, x_dtype, n, "x", b);
  Arg q = tensor_arg(info, 4, FP8K_E4M3, n, "q", b);
  Arg s = tensor_arg(info, 5, FP8K_F32, fp8k_scale_count(&p), "scales", b);
  return staged(info, b, {x}, {q, s}, {info[1], info[4], info[5]}, 6, info[4],
                [=](const void* const* in, void* const* out, fp8k_call* c) {
                  return b->quantize(in[0], x_dtype, &p, static_cast<uint8_t*>(out[0]), static_cast<float*>(out[1]), c);
                });
}

// (backend, q, scales, params, y, yDtype, stream, async) -> y
Napi::Value Dequantize(const Napi::CallbackInfo& info) {
  const fp8k_backend* b = backend_arg(info, 0);
  require_op(info.Env(), b, reinterpret_cast<const void*>(b->dequantize), "dequantize");
  const fp8k_quant p = quant_arg(info, 3);
  const int y_dtype = float_dtype(info, 5);
  const size_t n = p.batch * p.rows * p.cols;
  Arg q = tensor_arg(info, 1, FP8K_E4M3, n, "q", b);
  Arg s = tensor_arg(info, 2, FP8K_F32, fp8k_scale_count(&p), "scales", b);
  Arg y = tensor_arg(info, 4, y_dtype, n, "y", b);
  return staged(info, b, {q, s}, {y}, {info[1], info[2], info[4]}, 6, info[4],
                [=](const void* const* in, void* const* out, fp8k_call* c) {
                  return b->dequantize(static_cast<const uint8_t*>(in[0]), static_cast<const float*>(in[1]), &p, out[0], y_dtype, c);
                });
}

// (backend, x, xDtype, params, qRow, sRow, qCol, sCol, stream, async) -> qRow
Napi::Value CastTranspose(const Napi::CallbackInfo& info) {
  const fp8k_backend* b = backend_arg(info, 0);
  require_op(info.Env(), b, reinterpret_cast<const void*>(b->cast_transpose), "castTranspose");
  const int x_dtype = float_dtype(info, 2);
  const fp8k_quant p = quant_arg(info, 3);
  if (p.batch != 1 || p.scale_layout != FP8K_LAYOUT_ROW) fail(info.Env(), FP8K_ERR_ARGUMENT, "castTranspose takes one matrix and row-major scales");
  const fp8k_quant t = fp8k_transposed(&p);
  const size_t n = p.rows * p.cols;
  Arg x = tensor_arg(info, 1, x_dtype, n, "x", b);
  Arg qr = tensor_arg(info, 4, FP8K_E4M3, n, "rowwise data", b);
  Arg sr = tensor_arg(info, 5, FP8K_F32, fp8k_scale_count(&p), "rowwise scales", b);
  Arg qc = tensor_arg(info, 6, FP8K_E4M3, n, "columnwise data", b);
  Arg sc = tensor_arg(info, 7, FP8K_F32, fp8k_scale_count(&t), "columnwise scales", b);
  return staged(info, b, {x}, {qr, sr, qc, sc}, {info[1], info[4], info[5], info[6], info[7]}, 8, info[4],
                [=](const void* const* in, void* const* out, fp8k_call* c) {
                  return b->cast_transpose(in[0], x_dtype, &p, static_cast<uint8_t*>(out[0]), static_cast<float*>(out[1]),
                                           static_cast<uint8_t*>(out[2]), static_cast<float*>(out[3]), c);
                });
}

}  // namespace fp8k::addon
