// SPEC §7, DeepEP's get_dispatch_layout on the GPU: what native/ref/dispatch_layout.cc counts.
//
// layout_zero_kernel first zeroes the three count vectors (device memory is not zero: cuda-emu
// poisons it with 0xFF). layout_kernel: one thread per token (grid-stride, kLayoutBlock threads a
// block). A thread zeroes its token's isTokenInRank row, then walks the token's topk slots in order:
// a slot counts for its expert; for its rank and node only when no earlier slot of the token reached
// the same rank / node (compared over the earlier slots, no per-token memory), and then sets its rank's
// byte of the row. Counts go to per-block shared-memory histograms (ranks, nodes, experts), merged into
// the outputs with one global atomicAdd per nonzero bin; integer sums, so the order of the atomics
// does not matter. When the histograms do not fit kLayoutSmemCap, the atomics go to global memory
// directly. An id outside [-1, experts) lowers the flag to its flat index (atomicMin): the entry
// reports the first such entry as ref does (fp8k_fail_expert_id).
#pragma once
#include "../backend.h"
#include "launch.cuh"
#include "quantize.cuh"

namespace fp8k::cuda {

constexpr int kLayoutBlock = 256;
constexpr size_t kLayoutSmemCap = 32 << 10;

__global__ void __launch_bounds__(kLayoutBlock) layout_zero_kernel(int32_t* per_rank, int ranks, int32_t* per_node, int nodes,
                                                                   int32_t* per_expert, int experts) {
  const int stride = gridDim.x * blockDim.x;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < ranks + nodes + experts; i += stride) {
    if (i < ranks) per_rank[i] = 0;
    else if (i < ranks + nodes) per_node[i - ranks] = 0;
    else per_expert[i - ranks - nodes] = 0;
  }
}

inline size_t layout_hist_bytes(const fp8k_layout& p) {
  return ((size_t)p.nodes * p.gpus_per_node + p.nodes + p.experts) * sizeof(int32_t);
}

template <bool kShared>
__global__ void __launch_bounds__(kLayoutBlock) layout_kernel(const int32_t* __restrict__ topk_idx, fp8k_layout p, int32_t* per_rank,
                                                              int32_t* per_node, int32_t* per_expert, uint8_t* __restrict__ in_rank,
                                                              unsigned long long* __restrict__ flag) {
  FP8K_DYNAMIC_SHARED(int32_t, layout_hist);
  int32_t* const hist = layout_hist;
  const int R = p.nodes * p.gpus_per_node, N = p.nodes, E = p.experts, K = p.topk, gpn = p.gpus_per_node;
  const int per_rank_experts = E / R, bins = R + N + E;
  int32_t* const hr = kShared ? hist : per_rank;
  int32_t* const hn = kShared ? hist + R : per_node;
  int32_t* const he = kShared ? hist + R + N : per_expert;
  if constexpr (kShared) {
    for (int i = threadIdx.x; i < bins; i += blockDim.x) hist[i] = 0;
    __syncthreads();
  }
  const size_t T = p.tokens, stride = (size_t)gridDim.x * blockDim.x;
  for (size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x; t < T; t += stride) {
    const int32_t* row = topk_idx + t * K;
    uint8_t* hit = in_rank + t * R;
    for (int r = 0; r < R; r++) hit[r] = 0;
    for (int j = 0; j < K; j++) {
      const int e = row[j];
      if (e < -1 || e >= E) {
        atomicMin(flag, (unsigned long long)(t * K + j));
        continue;
      }
      if (e < 0) continue;
      atomicAdd(&he[e], 1);  // once per slot
      const int r = e / per_rank_experts, n = r / gpn;
      bool new_rank = true, new_node = true;
      for (int i = 0; i < j; i++) {
        const int f = row[i];
        if (f < 0 || f >= E) continue;
        const int fr = f / per_rank_experts;
        new_rank = new_rank && fr != r;
        new_node = new_node && fr / gpn != n;
      }
      if (new_rank) {  // once per rank
        atomicAdd(&hr[r], 1);
        hit[r] = 1;
      }
      if (new_node) atomicAdd(&hn[n], 1);  // once per node
    }
  }
  if constexpr (kShared) {
    __syncthreads();
    for (int i = threadIdx.x; i < bins; i += blockDim.x) {
      const int32_t v = hist[i];
      if (!v) continue;
      if (i < R) atomicAdd(&per_rank[i], v);
      else if (i < R + N) atomicAdd(&per_node[i - R], v);
      else atomicAdd(&per_expert[i - R - N], v);
    }
  }
}

// p has passed fp8k_check_layout; flag: a device word set to kNoError, lowered to the first bad entry.
inline void launch_dispatch_layout(const int32_t* topk_idx, const fp8k_layout& p, int32_t* per_rank, int32_t* per_node, int32_t* per_expert,
                                   uint8_t* in_rank, unsigned long long* flag, cudaStream_t stream) {
  const int ranks = p.nodes * p.gpus_per_node;
  const size_t bins = (size_t)ranks + p.nodes + p.experts;
  FP8K_LAUNCH(layout_zero_kernel, capped_blocks(fp8k_cdiv(bins, kLayoutBlock), 64), kLayoutBlock, 0, stream, per_rank, ranks, per_node,
              p.nodes, per_expert, p.experts);
  if (p.tokens == 0) return;
  const size_t smem = layout_hist_bytes(p);
  // At most 1024 blocks: each merges its whole histogram, so more blocks would mostly add atomics.
  const unsigned blocks = capped_blocks(fp8k_cdiv(p.tokens, kLayoutBlock), 1024);
  const bool shared = smem <= kLayoutSmemCap;
  auto kernel = shared ? layout_kernel<true> : layout_kernel<false>;
  FP8K_LAUNCH(kernel, blocks, kLayoutBlock, shared ? smem : 0, stream, topk_idx, p, per_rank, per_node, per_expert, in_rank, flag);
}

}  // namespace fp8k::cuda
