#include "moe.h"

#include "../common/moe_check.h"
#include "args.h"
#include "job.h"

namespace fp8k::addon {

static Napi::Object object_arg(const Napi::CallbackInfo& info, size_t index, const char* what) {
  if (!info[index].IsObject()) fail(info.Env(), FP8K_ERR_ARGUMENT, std::string(what) + " parameters must be an object");
  return info[index].As<Napi::Object>();
}

static int int_prop(const Napi::Object& o, const char* key, const char* what) {
  return (int)std::min(size_prop(o, key, what, 0, FP8K_ERR_ARGUMENT), (size_t)INT32_MAX);
}

// (backend, logits, dtype, bias | null, {tokens, experts, topk, groups, topkGroups, scoreFunc, routeScale}, idx, weights, stream, async)
Napi::Value Route(const Napi::CallbackInfo& info) {
  const fp8k_backend* b = backend_arg(info, 0);
  require_op(info.Env(), b, reinterpret_cast<const void*>(b->route), "route");
  Napi::Object o = object_arg(info, 4, "route");
  fp8k_route p{};
  p.tokens = size_prop(o, "tokens", "route", 0, FP8K_ERR_SHAPE);
  p.experts = int_prop(o, "experts", "route");
  p.topk = int_prop(o, "topk", "route");
  p.groups = int_prop(o, "groups", "route");
  p.topk_groups = int_prop(o, "topkGroups", "route");
  p.score_func = int_prop(o, "scoreFunc", "route");
  p.route_scale = o.Get("routeScale").ToNumber().FloatValue();
  p.has_bias = !info[3].IsNull();
  fp8k_call c{};
  if (int s = fp8k_check_route(&p, &c)) fail(info.Env(), s, c.message);
  int dtype = int_arg(info, 2, "logits dtype");
  if (dtype != FP8K_F32 && dtype != FP8K_BF16) fail(info.Env(), FP8K_ERR_DTYPE, "logits must be f32 or bf16");
  std::vector<Arg> ins{tensor_arg(info, 1, dtype, p.tokens * p.experts, "logits", b)};
  if (p.has_bias) ins.push_back(tensor_arg(info, 3, FP8K_F32, p.experts, "bias", b));
  std::vector<Arg> outs{tensor_arg(info, 5, FP8K_I32, p.tokens * p.topk, "topkIdx", b), tensor_arg(info, 6, FP8K_F32, p.tokens * p.topk, "topkWeights", b)};
  return staged(info, b, ins, outs, {info[1], info[3], info[5], info[6]}, 7, info.Env().Undefined(),
                [=](const void* const* in, void* const* out, fp8k_call* call) {
                  return b->route(in[0], dtype, p.has_bias ? static_cast<const float*>(in[1]) : nullptr, &p, static_cast<int32_t*>(out[0]),
                                  static_cast<float*>(out[1]), call);
                });
}

// (backend, topkIdx, {tokens, topk, experts, nodes, gpusPerNode}, perRank, perNode, perExpert, inRank, stream, async)
Napi::Value DispatchLayout(const Napi::CallbackInfo& info) {
  const fp8k_backend* b = backend_arg(info, 0);
  require_op(info.Env(), b, reinterpret_cast<const void*>(b->dispatch_layout), "dispatchLayout");
  Napi::Object o = object_arg(info, 2, "dispatchLayout");
  fp8k_layout p{};
  p.tokens = size_prop(o, "tokens", "dispatchLayout", 0, FP8K_ERR_SHAPE);
  p.topk = int_prop(o, "topk", "dispatchLayout");
  p.experts = int_prop(o, "experts", "dispatchLayout");
  p.nodes = int_prop(o, "nodes", "dispatchLayout");
  p.gpus_per_node = int_prop(o, "gpusPerNode", "dispatchLayout");
  fp8k_call c{};
  if (int s = fp8k_check_layout(&p, &c)) fail(info.Env(), s, c.message);
  const size_t ranks = (size_t)p.nodes * p.gpus_per_node;
  std::vector<Arg> outs{tensor_arg(info, 3, FP8K_I32, ranks, "tokensPerRank", b), tensor_arg(info, 4, FP8K_I32, p.nodes, "tokensPerNode", b),
                        tensor_arg(info, 5, FP8K_I32, p.experts, "tokensPerExpert", b), tensor_arg(info, 6, FP8K_U8, p.tokens * ranks, "isTokenInRank", b)};
  return staged(info, b, {tensor_arg(info, 1, FP8K_I32, p.tokens * p.topk, "topkIdx", b)}, outs, {info[1], info[3], info[4], info[5], info[6]}, 7,
                info.Env().Undefined(), [=](const void* const* in, void* const* out, fp8k_call* call) {
                  return b->dispatch_layout(static_cast<const int32_t*>(in[0]), &p, static_cast<int32_t*>(out[0]), static_cast<int32_t*>(out[1]),
                                            static_cast<int32_t*>(out[2]), static_cast<uint8_t*>(out[3]), call);
                });
}

// The row sources of a copy or a reduction: (array of tensors, array of their row counts).
struct Sources {
  std::vector<Arg> args;
  std::vector<size_t> rows;
};

static Sources sources_arg(const Napi::CallbackInfo& info, size_t index, size_t row_bytes, const fp8k_backend* b) {
  if (!info[index].IsArray() || !info[index + 1].IsArray()) fail(info.Env(), FP8K_ERR_ARGUMENT, "sources must be two arrays");
  Napi::Array a = info[index].As<Napi::Array>(), r = info[index + 1].As<Napi::Array>();
  if (a.Length() != r.Length()) fail(info.Env(), FP8K_ERR_ARGUMENT, "sources and their row counts differ in length");
  Sources s;
  for (uint32_t i = 0; i < a.Length(); i++) {
    const double rows = r.Get(i).ToNumber().DoubleValue();
    if (!(rows >= 0 && rows < 2147483648.0 && rows == (double)(size_t)rows)) fail(info.Env(), FP8K_ERR_ARGUMENT, "a source's row count must be an integer in [0, 2^31)");
    s.rows.push_back((size_t)rows);
    s.args.push_back(tensor_value(info.Env(), a.Get(i), -1, (size_t)rows * row_bytes, "source", b));
  }
  return s;
}

// Every (src_of[j], row_of[j]) names a row of a source (or, where allowed, src_of[j] < 0 asks for zeros).
static void check_rows(Napi::Env env, const Sources& s, const int32_t* src_of, const int32_t* row_of, size_t n, bool zeros_allowed) {
  for (size_t j = 0; j < n; j++) {
    const int32_t src = src_of[j];
    if (src < 0 && zeros_allowed) continue;
    if (src < 0 || (size_t)src >= s.rows.size() || row_of[j] < 0 || (size_t)row_of[j] >= s.rows[src])
      fail(env, FP8K_ERR_ARGUMENT, "row " + std::to_string(j) + " names source " + std::to_string(src) + " row " + std::to_string(row_of[j]) + ", which does not exist");
  }
}

static const int32_t* host_i32(const Napi::CallbackInfo& info, size_t index, size_t n, const char* name) {
  if (!info[index].IsTypedArray() || info[index].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
      info[index].As<Napi::TypedArray>().ElementLength() < n)
    fail(info.Env(), FP8K_ERR_ARGUMENT, std::string(name) + " must be an Int32Array of at least " + std::to_string(n) + " elements");
  return static_cast<const int32_t*>(host_arg(info.Env(), info[index], n * 4, name).host);
}

// (backend, sources[], sourceRows[], rowBytes, srcOf i32 [n], rowOf i32 [n], n, dst, stream, async)
Napi::Value CopyRows(const Napi::CallbackInfo& info) {
  const fp8k_backend* b = backend_arg(info, 0);
  require_op(info.Env(), b, reinterpret_cast<const void*>(b->copy_rows), "copyRows");
  const size_t row_bytes = size_arg(info, 3, "rowBytes"), n = size_arg(info, 6, "n");
  Sources s = sources_arg(info, 1, row_bytes, b);
  check_rows(info.Env(), s, host_i32(info, 4, n, "srcOf"), host_i32(info, 5, n, "rowOf"), n, true);
  const size_t count = s.args.size();
  std::vector<Arg> ins = s.args;
  ins.push_back(tensor_arg(info, 4, FP8K_I32, n, "srcOf", b));
  ins.push_back(tensor_arg(info, 5, FP8K_I32, n, "rowOf", b));
  return staged(info, b, ins, {tensor_value(info.Env(), info[7], -1, n * row_bytes, "dst", b)}, {info[1], info[4], info[5], info[7]}, 8,
                info.Env().Undefined(), [=](const void* const* in, void* const* out, fp8k_call* call) {
                  return b->copy_rows(in, count, row_bytes, static_cast<const int32_t*>(in[count]), static_cast<const int32_t*>(in[count + 1]), n, out[0], call);
                });
}

// (backend, sources[] bf16, sourceRows[], h, offsets i32 [n + 1], srcOf i32, rowOf i32, weights f32 | null, n, y bf16 [n, h], stream, async)
Napi::Value ReduceRows(const Napi::CallbackInfo& info) {
  const fp8k_backend* b = backend_arg(info, 0);
  require_op(info.Env(), b, reinterpret_cast<const void*>(b->reduce_rows), "reduceRows");
  const size_t h = size_arg(info, 3, "h"), n = size_arg(info, 8, "n");
  Sources s = sources_arg(info, 1, h * 2, b);
  const int32_t* offsets = host_i32(info, 4, n + 1, "offsets");
  if (offsets[0] != 0) fail(info.Env(), FP8K_ERR_ARGUMENT, "offsets[0] must be 0");
  for (size_t i = 0; i < n; i++)
    if (offsets[i + 1] < offsets[i]) fail(info.Env(), FP8K_ERR_ARGUMENT, "offsets must not decrease");
  const size_t terms = (size_t)offsets[n];
  check_rows(info.Env(), s, host_i32(info, 5, terms, "srcOf"), host_i32(info, 6, terms, "rowOf"), terms, false);
  const bool weighted = !info[7].IsNull();
  const size_t count = s.args.size();
  std::vector<Arg> ins = s.args;
  ins.push_back(tensor_arg(info, 4, FP8K_I32, n + 1, "offsets", b));
  ins.push_back(tensor_arg(info, 5, FP8K_I32, terms, "srcOf", b));
  ins.push_back(tensor_arg(info, 6, FP8K_I32, terms, "rowOf", b));
  if (weighted) ins.push_back(tensor_arg(info, 7, FP8K_F32, terms, "weights", b));
  return staged(info, b, ins, {tensor_arg(info, 9, FP8K_BF16, n * h, "y", b)}, {info[1], info[4], info[5], info[6], info[7], info[9]}, 10,
                info.Env().Undefined(), [=](const void* const* in, void* const* out, fp8k_call* call) {
                  return b->reduce_rows(reinterpret_cast<const uint16_t* const*>(in), count, h, static_cast<const int32_t*>(in[count]),
                                        static_cast<const int32_t*>(in[count + 1]), static_cast<const int32_t*>(in[count + 2]),
                                        weighted ? static_cast<const float*>(in[count + 3]) : nullptr, n, static_cast<uint16_t*>(out[0]), call);
                });
}

}  // namespace fp8k::addon
