// Host-side checks of the MoE operations' parameters, made by every backend's entry so a bad
// fp8k_route / fp8k_layout never reaches a kernel.
#pragma once
#include "../backend.h"

#ifdef __cplusplus
extern "C" {
#endif
int fp8k_check_route(const fp8k_route* p, fp8k_call* call);
int fp8k_check_layout(const fp8k_layout* p, fp8k_call* call);
// ERR_ARGUMENT naming topk_idx's entry i (an id outside [-1, experts)).
int fp8k_fail_expert_id(const fp8k_layout* p, size_t i, int id, fp8k_call* call);
// Host backends: every id of topk_idx [tokens, topk] in [-1, experts), else the first one's error.
int fp8k_check_expert_ids(const int32_t* topk_idx, const fp8k_layout* p, fp8k_call* call);
// ERR_NON_FINITE naming bias[e], or logits[t][e].
int fp8k_fail_nonfinite_bias(int e, fp8k_call* call);
int fp8k_fail_nonfinite_logit(size_t t, int e, fp8k_call* call);
// Host backends: every bias entry finite (when there is a bias), else the first one's error.
int fp8k_check_bias(const float* bias, const fp8k_route* p, fp8k_call* call);
#ifdef __cplusplus
}
#endif
