// SPEC §5, step by step, one token at a time.
#include <math.h>

#include <vector>

#include "../common/expf.h"
#include "../common/moe_check.h"
#include "ref.h"

namespace fp8k::ref {

// "a beats b": the larger score, ties to the lower id.
static bool beats(float a, int ia, float b, int ib) { return a > b || (a == b && ia < ib); }

// The `count` best of scores[0..n) (skipping excluded ones), best first.
static std::vector<int> top(const std::vector<float>& scores, const std::vector<bool>& excluded, int count) {
  std::vector<int> picked;
  std::vector<bool> taken(scores.size(), false);
  for (int k = 0; k < count; k++) {
    int best = -1;
    for (int i = 0; i < (int)scores.size(); i++)
      if (!excluded[i] && !taken[i] && (best < 0 || beats(scores[i], i, scores[best], best))) best = i;
    taken[best] = true;
    picked.push_back(best);
  }
  return picked;
}

int route(const void* logits, int dtype, const float* bias, const fp8k_route* p, int32_t* topk_idx, float* topk_weights, fp8k_call* c) {
  if (int s = fp8k_check_route(p, c)) return s;
  const int E = p->experts, per_group = E / p->groups;
  if (int s = fp8k_check_bias(bias, p, c)) return s;
  std::vector<float> s(E), sel(E), group_score(p->groups);
  for (size_t t = 0; t < p->tokens; t++) {
    // 1. scores
    for (int e = 0; e < E; e++) {
      s[e] = load_f32(logits, dtype, t * E + e);
      if (!isfinite(s[e])) return fp8k_fail_nonfinite_logit(t, e, c);
    }
    if (p->score_func == FP8K_SCORE_SIGMOID) {
      for (int e = 0; e < E; e++) s[e] = fp8k_sigmoid(s[e]);
    } else {  // softmax: shifted by the row's maximum, summed in ascending expert order
      float m = s[0], sum = 0;
      for (int e = 1; e < E; e++) m = s[e] > m ? s[e] : m;
      for (int e = 0; e < E; e++) sum += (s[e] = fp8k_expf(s[e] - m));
      for (int e = 0; e < E; e++) s[e] = s[e] / sum;
    }
    // 2. selection scores
    for (int e = 0; e < E; e++) sel[e] = p->has_bias ? s[e] + bias[e] : s[e];
    // 3. group scores: the best, or with a bias the two best summed (larger first)
    std::vector<float> member(per_group);
    for (int g = 0; g < p->groups; g++) {
      for (int j = 0; j < per_group; j++) member[j] = sel[g * per_group + j];
      std::vector<int> best = top(member, std::vector<bool>(per_group, false), p->has_bias && per_group > 1 ? 2 : 1);
      group_score[g] = best.size() == 2 ? member[best[0]] + member[best[1]] : member[best[0]];
    }
    // 4. keep the topkGroups best groups
    std::vector<bool> excluded(E, true);
    for (int g : top(group_score, std::vector<bool>(p->groups, false), p->topk_groups))
      for (int j = 0; j < per_group; j++) excluded[g * per_group + j] = false;
    // 5. the topk best kept experts, best first
    std::vector<int> picked = top(sel, excluded, p->topk);
    // 6. weights: unbiased scores, normalized for sigmoid (summed in pick order), scaled
    float sum = 0;
    for (int e : picked) sum += s[e];
    for (int k = 0; k < p->topk; k++) {
      float w = s[picked[k]];
      if (p->score_func == FP8K_SCORE_SIGMOID) w = w / sum;
      topk_idx[t * p->topk + k] = picked[k];
      topk_weights[t * p->topk + k] = w * p->route_scale;
    }
  }
  return FP8K_OK;
}

}  // namespace fp8k::ref
