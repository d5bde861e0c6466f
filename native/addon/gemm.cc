// Bindings for SPEC §4: gemm, and the packed B of packWeights.
#include "gemm.h"

#include "../common/gemm_index.h"
#include "args.h"
#include "job.h"

namespace fp8k::addon {

static int prop_int(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) fail(o.Env(), FP8K_ERR_ARGUMENT, std::string("gemm parameter ") + key + " must be a number");
  return v.As<Napi::Number>().Int32Value();
}

static size_t prop_dim(const Napi::Object& o, const char* key) { return size_prop(o, key, "gemm dimension", 1, FP8K_ERR_SHAPE); }

// {m, n, k, layout, aFormat, bFormat, aScaleLayout, bScales, accumulate, accumulatorBits, promotionInterval, outDtype, hasC}, checked.
static fp8k_gemm gemm_arg(const Napi::CallbackInfo& info, size_t index) {
  if (!info[index].IsObject()) fail(info.Env(), FP8K_ERR_ARGUMENT, "gemm parameters must be an object");
  Napi::Object o = info[index].As<Napi::Object>();
  fp8k_gemm p{};
  p.m = prop_dim(o, "m");
  p.n = prop_dim(o, "n");
  p.k = prop_dim(o, "k");
  p.layout = prop_int(o, "layout");
  p.a_format = prop_int(o, "aFormat");
  p.b_format = prop_int(o, "bFormat");
  p.a_scale_layout = prop_int(o, "aScaleLayout");
  p.b_scales = prop_int(o, "bScales");
  p.accumulate = prop_int(o, "accumulate");
  p.accumulator_bits = prop_int(o, "accumulatorBits");
  p.promotion_interval = prop_int(o, "promotionInterval");
  p.out_dtype = prop_int(o, "outDtype");
  p.has_c = o.Get("hasC").ToBoolean().Value();
  p.b_packed = o.Get("bPacked").ToBoolean().Value();
  fp8k_call c{};
  if (int s = fp8k_check_gemm(&p, &c)) fail(info.Env(), s, c.message);
  return p;
}

// (backend, a, aScales, b, bScales, c | null, d, params, stream, async) -> d
Napi::Value Gemm(const Napi::CallbackInfo& info) {
  const fp8k_backend* b = backend_arg(info, 0);
  require_op(info.Env(), b, reinterpret_cast<const void*>(b->gemm), "gemm");
  const fp8k_gemm p = gemm_arg(info, 7);
  std::vector<Arg> ins{tensor_arg(info, 1, FP8K_E4M3, p.m * p.k, "a", b), tensor_arg(info, 2, FP8K_F32, fp8k_gemm_a_scale_count(&p), "a scales", b)};
  if (p.b_packed) {
    require_op(info.Env(), b, reinterpret_cast<const void*>(b->pack_b), "packWeights");
    ins.push_back(tensor_arg(info, 3, FP8K_U8, b->pack_b_bytes(&p), "b (packed)", b));
    Arg none;  // no scales of their own: the packing holds them
    none.name = "b scales";
    ins.push_back(none);
  } else {
    ins.push_back(tensor_arg(info, 3, FP8K_E4M3, p.n * p.k, "b", b));
    ins.push_back(tensor_arg(info, 4, FP8K_F32, fp8k_gemm_b_scale_count(&p), "b scales", b));
  }
  if (p.has_c) ins.push_back(tensor_arg(info, 5, FP8K_F32, p.m * p.n, "c", b));
  Arg d = tensor_arg(info, 6, p.out_dtype, p.m * p.n, "d", b);
  return staged(info, b, ins, {d}, {info[1], info[2], info[3], info[4], info[5], info[6]}, 8, info[6],
                [=](const void* const* in, void* const* out, fp8k_call* c) {
                  return b->gemm(static_cast<const uint8_t*>(in[0]), static_cast<const float*>(in[1]), static_cast<const uint8_t*>(in[2]),
                                 p.b_packed ? nullptr : static_cast<const float*>(in[3]), p.has_c ? static_cast<const float*>(in[4]) : nullptr, out[0],
                                 &p, c);
                });
}

// (backend, params) -> the bytes a packed B takes on that backend.
Napi::Value PackBBytes(const Napi::CallbackInfo& info) {
  const fp8k_backend* b = backend_arg(info, 0);
  require_op(info.Env(), b, reinterpret_cast<const void*>(b->pack_b), "packWeights");
  const fp8k_gemm p = gemm_arg(info, 1);
  return Napi::Number::New(info.Env(), (double)b->pack_b_bytes(&p));
}

// (backend, b, bScales, packed, params, stream, async) -> packed
Napi::Value PackB(const Napi::CallbackInfo& info) {
  const fp8k_backend* b = backend_arg(info, 0);
  require_op(info.Env(), b, reinterpret_cast<const void*>(b->pack_b), "packWeights");
  const fp8k_gemm p = gemm_arg(info, 4);
  std::vector<Arg> ins{tensor_arg(info, 1, FP8K_E4M3, p.n * p.k, "b", b), tensor_arg(info, 2, FP8K_F32, fp8k_gemm_b_scale_count(&p), "b scales", b)};
  Arg out = tensor_arg(info, 3, FP8K_U8, b->pack_b_bytes(&p), "packed", b);
  return staged(info, b, ins, {out}, {info[1], info[2], info[3]}, 5, info[3], [=](const void* const* in, void* const* o, fp8k_call* c) {
    return b->pack_b(static_cast<const uint8_t*>(in[0]), static_cast<const float*>(in[1]), &p, static_cast<uint8_t*>(o[0]), c);
  });
}

}  // namespace fp8k::addon
