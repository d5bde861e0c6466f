// SPEC §7: what a top-k assignment sends where, counted as DeepEP's get_dispatch_layout counts it.
#include <string.h>

#include <vector>

#include "../common/moe_check.h"
#include "ref.h"

namespace fp8k::ref {

int dispatch_layout(const int32_t* topk_idx, const fp8k_layout* p, int32_t* per_rank, int32_t* per_node, int32_t* per_expert, uint8_t* in_rank,
                    fp8k_call* c) {
  if (int s = fp8k_check_layout(p, c)) return s;
  const int ranks = p->nodes * p->gpus_per_node, per_rank_experts = p->experts / ranks;
  if (int s = fp8k_check_expert_ids(topk_idx, p, c)) return s;
  memset(per_rank, 0, sizeof(int32_t) * ranks);
  memset(per_node, 0, sizeof(int32_t) * p->nodes);
  memset(per_expert, 0, sizeof(int32_t) * p->experts);
  memset(in_rank, 0, p->tokens * ranks);
  std::vector<bool> node_hit(p->nodes);
  for (size_t t = 0; t < p->tokens; t++) {
    uint8_t* hit = in_rank + t * ranks;
    node_hit.assign(p->nodes, false);
    for (int k = 0; k < p->topk; k++) {
      const int e = topk_idx[t * p->topk + k];
      if (e < 0) continue;
      per_expert[e]++;  // once per slot
      const int r = e / per_rank_experts;
      if (!hit[r]) per_rank[r]++, hit[r] = 1;  // once per rank
      const int n = r / p->gpus_per_node;
      if (!node_hit[n]) per_node[n]++, node_hit[n] = true;  // once per node
    }
  }
  return FP8K_OK;
}

}  // namespace fp8k::ref
