// SPEC §7 on the cpu backend: tokens split over threads, each counting into its own arrays (integer
// counts: the sum over threads does not depend on the split).
#include <string.h>

#include <atomic>
#include <mutex>
#include <vector>

#include "../common/moe_check.h"
#include "ops.h"
#include "quant_simd.h"

namespace fp8k::cpu {

int dispatch_layout(const int32_t* topk_idx, const fp8k_layout* p, int32_t* per_rank, int32_t* per_node, int32_t* per_expert, uint8_t* in_rank,
                    fp8k_call* c) {
  if (int s = fp8k_check_layout(p, c)) return s;
  const int ranks = p->nodes * p->gpus_per_node, per_rank_experts = p->experts / ranks, k = p->topk;
  if (int s = fp8k_check_expert_ids(topk_idx, p, c)) return s;
  memset(per_rank, 0, sizeof(int32_t) * ranks);
  memset(per_node, 0, sizeof(int32_t) * p->nodes);
  memset(per_expert, 0, sizeof(int32_t) * p->experts);
  std::mutex merge;
  // Work is a few operations per slot plus a row of in_rank per token.
  parallel_units(p->tokens, p->tokens * (k + ranks) * 4, [&](size_t t0, size_t t1) {
    std::vector<int32_t> rank_n(ranks), node_n(p->nodes), expert_n(p->experts);
    std::vector<uint8_t> node_hit(p->nodes);
    for (size_t t = t0; t < t1; t++) {
      uint8_t* hit = in_rank + t * ranks;
      memset(hit, 0, ranks);
      memset(node_hit.data(), 0, p->nodes);
      for (int j = 0; j < k; j++) {
        const int e = topk_idx[t * k + j];
        if (e < 0) continue;
        expert_n[e]++;
        const int r = e / per_rank_experts, n = r / p->gpus_per_node;
        rank_n[r] += !hit[r];
        hit[r] = 1;
        node_n[n] += !node_hit[n];
        node_hit[n] = 1;
      }
    }
    std::lock_guard<std::mutex> lock(merge);
    for (int r = 0; r < ranks; r++) per_rank[r] += rank_n[r];
    for (int n = 0; n < p->nodes; n++) per_node[n] += node_n[n];
    for (int e = 0; e < p->experts; e++) per_expert[e] += expert_n[e];
  });
  return FP8K_OK;
}

}  // namespace fp8k::cpu
