#include "moe_check.h"

#include <math.h>

extern "C" int fp8k_check_route(const fp8k_route* p, fp8k_call* c) {
  if (p->experts < 1 || p->groups < 1 || p->experts % p->groups)
    return fp8k_fail(c, FP8K_ERR_ARGUMENT, "route: groups (%d) must divide the %d experts", p->groups, p->experts);
  if (p->topk_groups < 1 || p->topk_groups > p->groups)
    return fp8k_fail(c, FP8K_ERR_ARGUMENT, "route: topkGroups (%d) must be in [1, groups = %d]", p->topk_groups, p->groups);
  const int per_group = p->experts / p->groups;
  if (p->topk < 1 || p->topk > p->topk_groups * per_group)
    return fp8k_fail(c, FP8K_ERR_ARGUMENT, "route: topk (%d) must be in [1, topkGroups x experts per group = %d]", p->topk,
                     p->topk_groups * per_group);
  if (p->has_bias && p->groups > 1 && per_group < 2)
    return fp8k_fail(c, FP8K_ERR_ARGUMENT, "route: with a bias a group's score sums its two best experts; groups of one expert have no second");
  if (p->score_func != FP8K_SCORE_SIGMOID && p->score_func != FP8K_SCORE_SOFTMAX)
    return fp8k_fail(c, FP8K_ERR_ARGUMENT, "route: unknown score function %d", p->score_func);
  if (!(p->route_scale == p->route_scale) || p->route_scale - p->route_scale != 0)
    return fp8k_fail(c, FP8K_ERR_ARGUMENT, "route: routeScale must be finite");
  return FP8K_OK;
}

extern "C" int fp8k_check_layout(const fp8k_layout* p, fp8k_call* c) {
  if (p->nodes < 1 || p->gpus_per_node < 1) return fp8k_fail(c, FP8K_ERR_ARGUMENT, "dispatchLayout: the topology needs at least one node and one GPU per node");
  const long ranks = (long)p->nodes * p->gpus_per_node;
  if (p->experts < 1 || p->experts % ranks)
    return fp8k_fail(c, FP8K_ERR_ARGUMENT, "dispatchLayout: numExperts (%d) must be a positive multiple of the %ld ranks", p->experts, ranks);
  if (p->topk < 1) return fp8k_fail(c, FP8K_ERR_SHAPE, "dispatchLayout: topkIdx needs at least one column");
  return FP8K_OK;
}

extern "C" int fp8k_fail_expert_id(const fp8k_layout* p, size_t i, int id, fp8k_call* c) {
  return fp8k_fail(c, FP8K_ERR_ARGUMENT, "dispatchLayout: topkIdx[%zu][%zu] = %d is outside [-1, numExperts = %d)", i / p->topk, i % p->topk, id,
                   p->experts);
}

extern "C" int fp8k_check_expert_ids(const int32_t* topk_idx, const fp8k_layout* p, fp8k_call* c) {
  for (size_t i = 0; i < p->tokens * p->topk; i++)
    if (topk_idx[i] < -1 || topk_idx[i] >= p->experts) return fp8k_fail_expert_id(p, i, topk_idx[i], c);
  return FP8K_OK;
}

extern "C" int fp8k_fail_nonfinite_bias(int e, fp8k_call* c) { return fp8k_fail(c, FP8K_ERR_NON_FINITE, "route: bias[%d] is not finite", e); }

extern "C" int fp8k_fail_nonfinite_logit(size_t t, int e, fp8k_call* c) {
  return fp8k_fail(c, FP8K_ERR_NON_FINITE, "route: logits[%zu][%d] is not finite", t, e);
}

extern "C" int fp8k_check_bias(const float* bias, const fp8k_route* p, fp8k_call* c) {
  for (int e = 0; e < p->experts && p->has_bias; e++)
    if (!isfinite(bias[e])) return fp8k_fail_nonfinite_bias(e, c);
  return FP8K_OK;
}
