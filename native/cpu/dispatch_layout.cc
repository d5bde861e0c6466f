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
  // Each expert's rank and node looked up, not divided out twice per slot.
  std::vector<int32_t> rank_of(p->experts), node_of(p->experts);
  for (int e = 0; e < p->experts; e++) rank_of[e] = e / per_rank_experts, node_of[e] = rank_of[e] / p->gpus_per_node;
  std::mutex merge;
  // Work: an operation or two per slot and per byte of in_rank (4096 x 8 on 16 ranks, 0.1 ms, stays
  // on the caller: a thread costs more than it saves there).
  parallel_units(p->tokens, p->tokens * (k + ranks), [&](size_t t0, size_t t1) {
    std::vector<int32_t> rank_n(ranks), node_n(p->nodes), expert_n(p->experts);
    std::vector<uint8_t> node_hit(p->nodes);
    if (ranks <= 64) {  // the ranks and nodes a token reaches as bits of a word: no counts in memory per slot
      // locals, not the captures: the byte stores into in_rank could alias those for the compiler
      const int32_t* ids = topk_idx + t0 * k;
      const int32_t *r_of = rank_of.data(), *n_of = node_of.data();
      int32_t *e_n = expert_n.data(), *r_n = rank_n.data(), *n_n = node_n.data();
      const int R = ranks, N = p->nodes;
      uint8_t row[64];
      for (size_t t = t0; t < t1; t++, ids += k) {
        uint64_t reach = 0, nodes = 0;
        for (int j = 0; j < k; j++) {
          const int e = ids[j];
          if (e < 0) continue;
          e_n[e]++;
          reach |= uint64_t{1} << r_of[e];
          nodes |= uint64_t{1} << n_of[e];
        }
        for (int r = 0; r < R; r++) row[r] = (reach >> r) & 1, r_n[r] += (reach >> r) & 1;
        for (int n = 0; n < N; n++) n_n[n] += (nodes >> n) & 1;
        memcpy(in_rank + t * R, row, R);
      }
    } else {
      for (size_t t = t0; t < t1; t++) {
        uint8_t* hit = in_rank + t * ranks;
        memset(hit, 0, ranks);
        memset(node_hit.data(), 0, p->nodes);
        for (int j = 0; j < k; j++) {
          const int e = topk_idx[t * k + j];
          if (e < 0) continue;
          expert_n[e]++;
          const int r = rank_of[e], n = node_of[e];
          rank_n[r] += !hit[r];
          hit[r] = 1;
          node_n[n] += !node_hit[n];
          node_hit[n] = 1;
        }
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
