// SPEC §5, the DeepSeek-V3 gate, on the GPU: bit for bit what native/ref/route.cc computes.
//
// One warp per token, kRouteWarps tokens per block (warps stride over the tokens). Dynamic shared
// memory holds the bias [E] once per block and, per warp, the token's scores [E] and its group
// scores [G]: (E * (1 + kRouteWarps) + G * kRouteWarps) * 4 bytes, 21.5 KB at the limits below.
//  1. The logits row is read with consecutive lanes on consecutive experts (coalesced), widened to
//     f32 (bf16 exactly), and staged in shared memory. A non-finite logit records the first such
//     element (warp min of the expert id, then atomicMin of the flat index into the flag) and the
//     token is skipped. The bias is checked the same way when the block stages it; bias errors are
//     flag values [0, E), logit errors E + t * E + e, so the smallest value is the error ref reports
//     (it checks the whole bias before any logit).
//  2. Scores with fp8k_sigmoid / fp8k_expf from native/common. Softmax: the row maximum by a warp
//     butterfly (max is exact in any order: the maxima can differ only in the sign of a zero, and
//     exp(x - (+0)) == exp(x - (-0)) for every x), but the sum of the exponentials by lane 0 alone,
//     in ascending expert order from shared memory: f32 addition is not associative, and ref adds
//     left to right, so a tree reduction would give other bits (E additions of latency per token).
//  3. Selection scores s + bias (FP8K_FADD, never fused) are recomputed where needed, not stored.
//     Group scores: W = min(32, pow2 >= E/G) lanes per group, 32/W groups per pass; each lane keeps
//     the two largest values of its experts, a butterfly inside the W lanes merges them (values
//     only: which of two equal values is "first" does not change the sum beyond a zero's sign, and
//     group scores are only compared). With a bias the group score is top1 + top2, else top1.
//  4. The topkGroups best groups, and then 5. the topk best kept experts, by repeated warp argmax
//     over (score, id) with ties to the lower id — a total order, so any reduction order agrees
//     with ref's scan. Each lane holds its experts' availability in one 32-bit mask (E <= 1024).
//  6. Lane 0 writes the picks and sums their scores in pick order; then lanes compute the weights
//     (rounded division and product, as ref).
// Limits: E <= kRouteMaxExperts, G <= kRouteMaxGroups (one 64-bit mask of kept groups); the backend
// entries refuse larger gates with FP8K_ERR_ARGUMENT (route_fits / route_refuse in ops.cuh).
#pragma once
#include <limits.h>
#include <math.h>

#include "../backend.h"
#include "../common/expf.h"
#include "../common/fp8.h"
#include "../common/scale.h"
#include "../common/tiles.h"
#include "launch.cuh"
#include "quantize.cuh"
#include "vec.cuh"

namespace fp8k::cuda {

constexpr int kRouteWarps = 4;
constexpr int kRouteMaxExperts = 1024, kRouteMaxGroups = 64;
constexpr unsigned long long kNoError = ~0ull;  // an error flag nobody lowered

// "a beats b": the larger score, ties to the lower id (ref's rule).
__device__ __forceinline__ bool route_beats(float a, int ia, float b, int ib) { return a > b || (a == b && ia < ib); }

// The best (v, i) of the warp, in every lane. Empty lanes hold (-inf, INT_MAX), which every real
// candidate beats (a real -inf has a lower id).
__device__ __forceinline__ void warp_argmax(float& v, int& i) {
  FP8K_UNROLL
  for (int off = 16; off > 0; off >>= 1) {
    const float ov = __shfl_xor_sync(kFullMask, v, off);
    const int oi = __shfl_xor_sync(kFullMask, i, off);
    if (route_beats(ov, oi, v, i)) v = ov, i = oi;
  }
}

inline size_t route_smem_bytes(const fp8k_route& p) {
  return ((size_t)p.experts * (1 + kRouteWarps) + (size_t)p.groups * kRouteWarps) * sizeof(float);
}

template <typename In>
__global__ void __launch_bounds__(kRouteWarps * 32) route_kernel(const In* __restrict__ logits, const float* __restrict__ bias, fp8k_route p,
                                                                 int32_t* topk_idx, float* __restrict__ topk_weights,
                                                                 unsigned long long* __restrict__ flag) {
  FP8K_DYNAMIC_SHARED(float, route_smem);
  float* const smem = route_smem;
  const int E = p.experts, G = p.groups, P = E / G, K = p.topk;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const bool has_bias = p.has_bias != 0;
  float* const sb = smem;                                  // bias [E], the block's
  float* const ss = smem + E * (1 + warp);                 // this warp's scores [E]
  float* const sg = smem + E * (1 + kRouteWarps) + G * warp;  // this warp's group scores [G]

  if (has_bias) {
    int bad = 0;
    for (int e = threadIdx.x; e < E; e += blockDim.x) {
      const float b = bias[e];
      sb[e] = b;
      if (!fp8k_is_finite(b)) {
        bad = 1;
        atomicMin(flag, (unsigned long long)e);
      }
    }
    if (__syncthreads_or(bad)) return;  // every block sees the same bias: the call fails
  }
  auto sel = [&](int e) { return has_bias ? FP8K_FADD(ss[e], sb[e]) : ss[e]; };

  const size_t T = p.tokens;
  for (size_t t = (size_t)blockIdx.x * kRouteWarps + warp; t < T; t += (size_t)gridDim.x * kRouteWarps) {  // uniform in the warp
    __syncwarp();  // the previous token's reads of ss are done
    // 1. the row, staged; the first non-finite expert
    const In* x = logits + t * E;
    unsigned first_bad = ~0u;
    for (int e = lane; e < E; e += 32) {
      const float v = to_f32(x[e]);
      if (first_bad == ~0u && !fp8k_is_finite(v)) first_bad = (unsigned)e;
      ss[e] = v;
    }
    first_bad = __reduce_min_sync(kFullMask, first_bad);
    if (first_bad != ~0u) {
      if (lane == 0) atomicMin(flag, (unsigned long long)E + t * E + first_bad);
      continue;
    }
    // 2. scores (each lane rewrites only its own experts until the sum)
    if (p.score_func == FP8K_SCORE_SIGMOID) {
      for (int e = lane; e < E; e += 32) ss[e] = fp8k_sigmoid(ss[e]);
    } else {
      float m = -INFINITY;
      for (int e = lane; e < E; e += 32) m = fmaxf(m, ss[e]);
      FP8K_UNROLL
      for (int off = 16; off > 0; off >>= 1) m = fmaxf(m, __shfl_xor_sync(kFullMask, m, off));
      for (int e = lane; e < E; e += 32) ss[e] = fp8k_expf(ss[e] - m);
      __syncwarp();
      float sum = 0.0f;
      if (lane == 0)
        for (int e = 0; e < E; e++) sum = FP8K_FADD(sum, ss[e]);  // ascending expert order, as ref
      sum = __shfl_sync(kFullMask, sum, 0);
      __syncwarp();  // lane 0 has read every exponential
      for (int e = lane; e < E; e += 32) ss[e] = FP8K_FDIV(ss[e], sum);
    }
    __syncwarp();  // from here every lane reads every expert's score

    // 3./4. group scores and the kept groups (all of them when topkGroups == groups)
    unsigned long long kept = ~0ull;
    if (p.topk_groups < G) {
      int W = 1;
      while (W < P && W < 32) W <<= 1;
      const int per_pass = 32 / W, seg = lane / W, sub = lane % W;
      const bool two = has_bias && P > 1;
      for (int g0 = 0; g0 < G; g0 += per_pass) {
        const int g = g0 + seg;
        float a1 = -INFINITY, a2 = -INFINITY;  // the two largest, a1 >= a2
        if (g < G)
          for (int j = sub; j < P; j += W) {
            const float v = sel(g * P + j);
            if (v > a1) a2 = a1, a1 = v;
            else if (v > a2) a2 = v;
          }
        for (int off = W / 2; off > 0; off >>= 1) {
          const float b1 = __shfl_xor_sync(kFullMask, a1, off), b2 = __shfl_xor_sync(kFullMask, a2, off);
          if (b1 > a1) a2 = fmaxf(a1, b2), a1 = b1;
          else a2 = fmaxf(a2, b1);
        }
        if (g < G && sub == 0) sg[g] = two ? FP8K_FADD(a1, a2) : a1;
      }
      __syncwarp();
      kept = 0;
      for (int k = 0; k < p.topk_groups; k++) {
        float bv = -INFINITY;
        int bi = INT_MAX;
        for (int g = lane; g < G; g += 32)
          if (!(kept >> g & 1) && route_beats(sg[g], g, bv, bi)) bv = sg[g], bi = g;
        warp_argmax(bv, bi);
        if (bi >= G) break;  // cannot happen (topkGroups <= groups)
        kept |= 1ull << bi;
      }
    }

    // 5. the topk best kept experts, best first; lane 0 writes them and sums their scores in order
    unsigned avail = 0;  // bit j: expert lane + 32 j is kept and not yet picked
    for (int j = 0, e = lane; e < E; j++, e += 32)
      if (kept >> (e / P) & 1) avail |= 1u << j;
    int32_t* const idx = topk_idx + t * K;
    float wsum = 0.0f;
    for (int k = 0; k < K; k++) {
      float bv = -INFINITY;
      int bi = INT_MAX;
      for (int j = 0, e = lane; e < E; j++, e += 32)
        if (avail >> j & 1) {
          const float v = sel(e);
          if (route_beats(v, e, bv, bi)) bv = v, bi = e;
        }
      warp_argmax(bv, bi);
      if (bi >= E) break;  // cannot happen (fp8k_check_route: topk <= topkGroups * E/G)
      if ((bi & 31) == lane) avail &= ~(1u << (bi >> 5));
      if (lane == 0) {
        idx[k] = bi;
        wsum = FP8K_FADD(wsum, ss[bi]);
      }
    }
    // 6. weights: the unbiased scores, normalized for sigmoid, scaled
    wsum = __shfl_sync(kFullMask, wsum, 0);
    __syncwarp();  // lane 0's writes of idx are visible to the warp
    for (int k = lane; k < K; k += 32) {
      float w = ss[idx[k]];
      if (p.score_func == FP8K_SCORE_SIGMOID) w = FP8K_FDIV(w, wsum);
      topk_weights[t * K + k] = FP8K_FMUL(w, p.route_scale);
    }
  }
}

// p has passed fp8k_check_route and route_fits; flag: a device word set to kNoError, lowered to the
// first non-finite element (see above). At least one block runs, so a bad bias fails a call of no tokens too.
template <typename In>
inline void launch_route(const In* logits, const float* bias, const fp8k_route& p, int32_t* topk_idx, float* topk_weights,
                         unsigned long long* flag, cudaStream_t stream) {
  auto kernel = route_kernel<In>;
  FP8K_LAUNCH(kernel, capped_blocks(fp8k_cdiv(p.tokens, kRouteWarps)), kRouteWarps * 32, route_smem_bytes(p), stream, logits, bias, p,
              topk_idx, topk_weights, flag);
}

}  // namespace fp8k::cuda
