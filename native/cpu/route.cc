// SPEC §5 on the cpu backend: scores 16 experts at a time (the same IEEE operations as
// common/expf.h, lane by lane, so the same bits), then the pick in stages run across batches of
// tokens: group scores, the candidates at or above a floor, their ranks. Below AVX-512 the pick inserts
// into the k best, one token at a time.
// GCC 12 warns falsely about the _mm512_undefined_* inside inlined intrinsics (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#include <math.h>

#include <algorithm>
#include <atomic>
#include <vector>

#include "../common/expf.h"
#include "../common/moe_check.h"
#include "ops.h"
#include "parallel.h"
#include "quant_simd.h"
#include "simd.h"

namespace fp8k::cpu {
namespace {

FP8K_TARGET_AVX512 inline __m512 pow2(__m512i k) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(k, _mm512_set1_epi32(127)), 23)); }

// fp8k_expf on 16 lanes: the same clamps, the same rounded operations in the same order.
FP8K_TARGET_AVX512 inline __attribute__((always_inline)) __m512 exp16(__m512 x) {
  const __m512 n = _mm512_roundscale_ps(_mm512_add_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)), _mm512_set1_ps(0.5f)), _MM_FROUND_TO_NEG_INF);
  const __m512 r = _mm512_add_ps(_mm512_add_ps(x, _mm512_mul_ps(n, _mm512_set1_ps(-0.693359375f))), _mm512_mul_ps(n, _mm512_set1_ps(2.12194440e-4f)));
  __m512 q = _mm512_set1_ps(1.9875691500e-4f);
  for (float c : {1.3981999507e-3f, 8.3334519073e-3f, 4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f})
    q = _mm512_add_ps(_mm512_mul_ps(q, r), _mm512_set1_ps(c));
  const __m512 p = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(q, _mm512_mul_ps(r, r)), r), _mm512_set1_ps(1.0f));
  const __m512i e = _mm512_cvtps_epi32(n);  // n is integral: exact
  // The common case, every 2^n a normal float: then the second factor is 1, and the clamps and the NaN
  // pass-through select nothing (x > 88.72... gives n >= 128, x < -103.97... gives n <= -150, NaN INT_MIN).
  if (_mm512_cmp_epu32_mask(_mm512_add_epi32(e, _mm512_set1_epi32(126)), _mm512_set1_epi32(253), _MM_CMPINT_LE) == 0xFFFF) return _mm512_mul_ps(p, pow2(e));
  const __m512i a = _mm512_mask_blend_epi32(_mm512_cmpgt_epi32_mask(e, _mm512_set1_epi32(127)),
                                            _mm512_mask_blend_epi32(_mm512_cmplt_epi32_mask(e, _mm512_set1_epi32(-126)), _mm512_setzero_si512(), _mm512_set1_epi32(-64)),
                                            _mm512_set1_epi32(1));
  __m512 y = _mm512_mul_ps(_mm512_mul_ps(p, pow2(_mm512_sub_epi32(e, a))), pow2(a));
  y = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(88.7228394f), _CMP_GT_OQ), y, _mm512_set1_ps(INFINITY));
  y = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(-103.972084f), _CMP_LT_OQ), y, _mm512_setzero_ps());
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), y, x);
}

FP8K_TARGET_AVX512 inline __attribute__((always_inline)) __m512 sigmoid16(__m512 x) {
  return _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_add_ps(_mm512_set1_ps(1.0f), exp16(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

// Where every lane's |x| <= kNear, every 2^n of exp(-x) is a normal float (|n| <= 126) and no clamp
// selects, so sigmoid16 is this: the same rounded operations, the negation folded in exactly
// ((-x) c = x (-c), and (-x) + y = y - x), 2^n from n's bits.
constexpr float kNear = 87.0f;
FP8K_TARGET_AVX512 inline __attribute__((always_inline)) __m512 sigmoid16_near(__m512 x) {
  const __m512 n = _mm512_roundscale_ps(_mm512_add_ps(_mm512_mul_ps(x, _mm512_set1_ps(-1.44269504f)), _mm512_set1_ps(0.5f)), _MM_FROUND_TO_NEG_INF);
  const __m512 r = _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(n, _mm512_set1_ps(-0.693359375f)), x), _mm512_mul_ps(n, _mm512_set1_ps(2.12194440e-4f)));
  __m512 q = _mm512_set1_ps(1.9875691500e-4f);
  for (float c : {1.3981999507e-3f, 8.3334519073e-3f, 4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f})
    q = _mm512_add_ps(_mm512_mul_ps(q, r), _mm512_set1_ps(c));
  const __m512 p = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(q, _mm512_mul_ps(r, r)), r), _mm512_set1_ps(1.0f));
  // n + 2^23 + 127 is exact and holds n + 127 in its low bits: shifted into the exponent, that is 2^n
  const __m512 pow2n = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_castps_si512(_mm512_add_ps(n, _mm512_set1_ps(8388735.0f))), 23));
  return _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_add_ps(_mm512_set1_ps(1.0f), _mm512_mul_ps(p, pow2n)));
}

// exp(x - m) over n elements: softmax's numerators (the sigmoid gate's scores come from sigmoid_row_avx512).
FP8K_TARGET_AVX512 void exp_row_avx512(const float* x, size_t n, float m, float* s) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(s + i, exp16(_mm512_sub_ps(_mm512_loadu_ps(x + i), _mm512_set1_ps(m))));
  for (; i < n; i++) s[i] = fp8k_expf(x[i] - m);
}

void scores(int level, const float* x, size_t n, bool sigmoid, float m, float* s) {
  if (level >= FP8K_SIMD_AVX512 && !sigmoid) return exp_row_avx512(x, n, m, s);
  for (size_t i = 0; i < n; i++) s[i] = sigmoid ? fp8k_sigmoid(x[i]) : fp8k_expf(x[i] - m);
}

// "a beats b": the larger score, ties to the lower id.
inline bool beats(float a, int ia, float b, int ib) { return a > b || (a == b && ia < ib); }

// Inserts (v, id) into the k best so far (best first), ids arriving in ascending order.
inline void insert(float* best, int* ids, int& have, int k, float v, int id) {
  if (have == k && !beats(v, id, best[k - 1], ids[k - 1])) return;
  int j = have < k ? have++ : k - 1;
  for (; j > 0 && beats(v, id, best[j - 1], ids[j - 1]); j--) best[j] = best[j - 1], ids[j] = ids[j - 1];
  best[j] = v, ids[j] = id;
}

// Tokens a thread takes through each stage of the pick together (a few KiB each: the batch stays in L1).
constexpr size_t kBatch = 8;

// One token's working rows.
struct Scratch {
  std::vector<float> x, s, sel, group_best, group_top, best, cand;
  std::vector<int> group_ids, kept, ids, cand_ids, rank;
  const float* pick_sel = nullptr;  // sel, or s without a bias
  int groups = 0, n = 0;            // kept groups, candidates
  float floor = 0;
  explicit Scratch(const fp8k_route* p)
      : x(p->experts), s(p->experts), sel(p->experts), group_best(std::max(p->topk_groups, p->groups)), group_top(2 * (size_t)p->groups), best(p->topk), cand(p->experts + 16), group_ids(p->topk_groups),
        kept(std::max(p->groups, 16)), ids(std::max(p->topk, 32)), cand_ids(p->experts + 16), rank(std::max(p->groups, 32)) {}
};

// A row of logits as f32 into x; returns whether all are finite, and their maximum in *m.
FP8K_TARGET_AVX512 bool load_avx512(const void* row, bool bf16, int E, float* x, float* m);

// Step 6 from the picked ids.
void weigh(const fp8k_route* p, const float* s, const int* ids, int32_t* idx, float* weights) {
  float sum = 0;
  for (int j = 0; j < p->topk; j++) sum += s[ids[j]];
  for (int j = 0; j < p->topk; j++) {
    float v = s[ids[j]];
    if (p->score_func == FP8K_SCORE_SIGMOID) v = v / sum;
    idx[j] = ids[j];
    weights[j] = v * p->route_scale;
  }
}

FP8K_TARGET_AVX512 inline __mmask16 tail(int n) { return n >= 16 ? 0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

// Where each of v[0..n) (n <= 16 NV, finite) stands in "beats" order, written branch-free: rank[i] = the
// count of j with v[j] > v[i] plus those with j < i and v[j] == v[i]. The ranks are a permutation of
// [0, n), so no two values share a place; counting replaces an insertion whose branches mispredict.
template <int NV>
FP8K_TARGET_AVX512 void rank_avx512(const float* v, int n, int* rank) {
  __m512 x[NV];
  for (int q = 0; q < NV; q++) x[q] = _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), tail(n - 16 * q), v + 16 * q);
  for (int i = 0; i < n; i++) {
    const __m512 b = _mm512_set1_ps(v[i]);
    int r = 0;
    for (int q = 0; q < NV; q++)
      r += __builtin_popcount(_mm512_cmp_ps_mask(x[q], b, _CMP_GT_OQ)) + __builtin_popcount(_mm512_mask_cmp_ps_mask(tail(i - 16 * q), x[q], b, _CMP_EQ_OQ));
    rank[i] = r;
  }
}

// The same ranks counted by "greater than" alone, every lane at once, where no two values are equal:
// then each pair adds exactly one to the sum of the ranks, which is n(n - 1) / 2; an equal pair adds
// nothing, so a smaller sum sends the caller to rank_avx512. Half the comparisons, and no counts of masks.
template <int NV>
FP8K_TARGET_AVX512 bool rank_distinct_avx512(const float* v, int n, int* rank) {
  __m512 x[NV];
  __m512i r[NV];
  for (int q = 0; q < NV; q++) x[q] = _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), tail(n - 16 * q), v + 16 * q), r[q] = _mm512_setzero_si512();
  for (int j = 0; j < n; j++) {
    const __m512 b = _mm512_set1_ps(v[j]);
    for (int q = 0; q < NV; q++) r[q] = _mm512_mask_sub_epi32(r[q], _mm512_cmp_ps_mask(b, x[q], _CMP_GT_OQ), r[q], _mm512_set1_epi32(-1));
  }
  __m512i sum = _mm512_setzero_si512();
  for (int q = 0; q < NV; q++) {
    sum = _mm512_mask_add_epi32(sum, tail(n - 16 * q), sum, r[q]);
    _mm512_storeu_si512(rank + 16 * q, r[q]);  // rank holds 16 NV: plain stores forward
  }
  return _mm512_reduce_add_epi32(sum) == n * (n - 1) / 2;
}

// The largest of v[0..n), and (for a group's score with a bias) the second largest counting repeats.
FP8K_TARGET_AVX512 float max_avx512(const float* v, int n) {
  __m512 m = _mm512_set1_ps(-INFINITY);
  for (int i = 0; i < n; i += 16) m = _mm512_max_ps(m, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), tail(n - i), v + i));
  return _mm512_reduce_max_ps(m);
}
FP8K_TARGET_AVX512 float second_avx512(const float* v, int n, float best) {
  __m512 m = _mm512_set1_ps(-INFINITY);
  int equal = 0;
  for (int i = 0; i < n; i += 16) {
    const __m512 x = _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), tail(n - i), v + i);
    const __mmask16 eq = _mm512_mask_cmp_ps_mask(tail(n - i), x, _mm512_set1_ps(best), _CMP_EQ_OQ);
    equal += __builtin_popcount(eq);
    m = _mm512_mask_max_ps(m, (__mmask16)~eq, m, x);
  }
  return equal >= 2 ? best : _mm512_reduce_max_ps(m);
}

// The best and second best (counting repeats) of v[0..n), n a multiple of 16, without a branch: each
// lane keeps its top two, then the second is the maximum once the first lane holding the best gives
// its lower value instead.
FP8K_TARGET_AVX512 void top2_avx512(const float* v, int n, float* best, float* second) {
  __m512 hi = _mm512_loadu_ps(v), lo = _mm512_set1_ps(-INFINITY);
  for (int i = 16; i < n; i += 16) {
    const __m512 x = _mm512_loadu_ps(v + i);
    lo = _mm512_max_ps(lo, _mm512_min_ps(hi, x));
    hi = _mm512_max_ps(hi, x);
  }
  const float b = _mm512_reduce_max_ps(hi);
  const unsigned eq = _mm512_cmp_ps_mask(hi, _mm512_set1_ps(b), _CMP_EQ_OQ);
  *best = b;
  *second = _mm512_reduce_max_ps(_mm512_mask_mov_ps(hi, (__mmask16)(eq & -eq), lo));
}

// top2_avx512 for 8 groups at once (per a multiple of 16): each lane's top two per group, then the
// groups' lanes merged pairwise in 4 rounds of shuffles, two groups a vector, four, eight, then
// neighbours, where 8 separate reductions would take 16. The top two of a union: the larger best, and
// the larger of the smaller best and both seconds.
FP8K_TARGET_AVX512 inline void merge2(__m512 h1, __m512 l1, __m512 h2, __m512 l2, __m512* h, __m512* l) {
  *h = _mm512_max_ps(h1, h2);
  *l = _mm512_max_ps(_mm512_min_ps(h1, h2), _mm512_max_ps(l1, l2));
}
template <int PER>
FP8K_TARGET_AVX512 inline __attribute__((always_inline)) void top2_groups8_avx512(const float* v, __m512* best, __m512* second) {
  __m512 hi[8], lo[8];  // a fixed group size, so that these stay in registers
  for (int g = 0; g < 8; g++) {
    hi[g] = _mm512_loadu_ps(v + g * PER), lo[g] = _mm512_set1_ps(-INFINITY);
    for (int i = 16; i < PER; i += 16) {
      const __m512 x = _mm512_loadu_ps(v + g * PER + i);
      lo[g] = _mm512_max_ps(lo[g], _mm512_min_ps(hi[g], x));
      hi[g] = _mm512_max_ps(hi[g], x);
    }
  }
  // groups 2m, 2m+1 -> m: [2m in lanes 0-7, 2m+1 in 8-15], from their 256-bit halves
  for (int m = 0; m < 4; m++)
    merge2(_mm512_shuffle_f32x4(hi[2 * m], hi[2 * m + 1], 0x44), _mm512_shuffle_f32x4(lo[2 * m], lo[2 * m + 1], 0x44),
           _mm512_shuffle_f32x4(hi[2 * m], hi[2 * m + 1], 0xEE), _mm512_shuffle_f32x4(lo[2 * m], lo[2 * m + 1], 0xEE), &hi[m], &lo[m]);
  // -> 128-bit quarter q of vector m holds group 4m + q
  for (int m = 0; m < 2; m++)
    merge2(_mm512_shuffle_f32x4(hi[2 * m], hi[2 * m + 1], 0x88), _mm512_shuffle_f32x4(lo[2 * m], lo[2 * m + 1], 0x88),
           _mm512_shuffle_f32x4(hi[2 * m], hi[2 * m + 1], 0xDD), _mm512_shuffle_f32x4(lo[2 * m], lo[2 * m + 1], 0xDD), &hi[m], &lo[m]);
  // -> in quarter q, lanes 0-1 group q, lanes 2-3 group q + 4
  merge2(_mm512_shuffle_ps(hi[0], hi[1], 0x44), _mm512_shuffle_ps(lo[0], lo[1], 0x44), _mm512_shuffle_ps(hi[0], hi[1], 0xEE), _mm512_shuffle_ps(lo[0], lo[1], 0xEE), &hi[0], &lo[0]);
  // -> neighbours: lanes 4q and 4q + 2 hold groups q and q + 4
  merge2(hi[0], lo[0], _mm512_permute_ps(hi[0], 0xB1), _mm512_permute_ps(lo[0], 0xB1), &hi[0], &lo[0]);
  // group g to lane g; lanes 8-15 -inf
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 2, 6, 10, 14, 0, 0, 0, 0, 0, 0, 0, 0);
  *best = _mm512_mask_permutexvar_ps(_mm512_set1_ps(-INFINITY), 0xFF, order, hi[0]);
  *second = _mm512_mask_permutexvar_ps(_mm512_set1_ps(-INFINITY), 0xFF, order, lo[0]);
}

// Logits e..e+16 of a row (lanes outside t zero) as f32.
FP8K_TARGET_AVX512 inline __m512 logits16(const void* row, bool bf16, int e, __mmask16 t) {
  return bf16 ? _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(t, static_cast<const uint16_t*>(row) + e)), 16))
              : _mm512_maskz_loadu_ps(t, static_cast<const float*>(row) + e);
}
// The lanes of t holding inf or NaN (|v| < inf is false for both).
FP8K_TARGET_AVX512 inline __mmask16 nonfinite16(__m512 v, __mmask16 t) { return _mm512_mask_cmp_ps_mask(t, _mm512_abs_ps(v), _mm512_set1_ps(INFINITY), _CMP_NLT_UQ); }

FP8K_TARGET_AVX512 bool load_avx512(const void* row, bool bf16, int E, float* x, float* m) {
  __m512 best = _mm512_set1_ps(-INFINITY);
  __mmask16 bad = 0;
  for (int e = 0; e < E; e += 16) {
    const __mmask16 t = tail(E - e);
    const __m512 v = logits16(row, bf16, e, t);
    bad |= nonfinite16(v, t);
    best = _mm512_mask_max_ps(best, t, best, v);
    _mm512_mask_storeu_ps(x + e, t, v);
  }
  *m = _mm512_reduce_max_ps(best);
  return !bad;
}

// The sigmoid gate's scores of one row in a single pass: s, and sel = s + bias where there is a bias
// (sel is left alone without one); returns whether every logit is finite.
FP8K_TARGET_AVX512 bool sigmoid_row_avx512(const void* row, bool bf16, int E, const float* bias, float* s, float* sel) {
  __mmask16 bad = 0;
  for (int e = 0; e < E; e += 16) {
    const __mmask16 t = tail(E - e);
    const __m512 v = logits16(row, bf16, e, t);
    // |v| > kNear, inf or NaN in some lane: the general path (lanes outside t are zero)
    const bool far = _mm512_cmp_ps_mask(_mm512_abs_ps(v), _mm512_set1_ps(kNear), _CMP_NLE_UQ);
    if (far) bad |= nonfinite16(v, t);
    const __m512 y = far ? sigmoid16(v) : sigmoid16_near(v);
    // plain stores where they can be: a masked store does not forward to the loads that follow
    t == 0xFFFF ? _mm512_storeu_ps(s + e, y) : _mm512_mask_storeu_ps(s + e, t, y);
    if (!bias) continue;
    const __m512 z = _mm512_add_ps(y, _mm512_maskz_loadu_ps(t, bias + e));
    t == 0xFFFF ? _mm512_storeu_ps(sel + e, z) : _mm512_mask_storeu_ps(sel + e, t, z);
  }
  return !bad;
}

// k rounds of "the first position holding the maximum" over cand[0..n) (n <= 16 NV), the candidates
// held in NV registers; ids[j] = cand_ids of the j-th pick.
template <int NV>
FP8K_TARGET_AVX512 void pick_in_registers(const float* cand, int n, int k, int* ids, const int* cand_ids) {
  __m512 v[NV];
  for (int i = 0; i < NV; i++) v[i] = _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), tail(n - 16 * i), cand + 16 * i);
  for (int j = 0; j < k; j++) {
    __m512 m[NV];
    for (int i = 0; i < NV; i++) m[i] = v[i];
    for (int step = 1; step < NV; step *= 2)  // a tree: log2(NV) dependent maxima
      for (int i = 0; i + step < NV; i += 2 * step) m[i] = _mm512_max_ps(m[i], m[i + step]);
    const __m512 best = _mm512_set1_ps(_mm512_reduce_max_ps(m[0]));
    int at = -1;
    for (int i = 0; i < NV; i++) {
      const __mmask16 eq = _mm512_cmp_ps_mask(v[i], best, _CMP_EQ_OQ);
      if (at < 0 && eq) at = 16 * i + __builtin_ctz(eq);
    }
    for (int i = 0; i < NV; i++)  // the pick becomes -inf (selection scores are finite)
      v[i] = _mm512_mask_mov_ps(v[i], (unsigned)(at - 16 * i) < 16 ? (__mmask16)(1u << (at - 16 * i)) : 0, _mm512_set1_ps(-INFINITY));
    ids[j] = cand_ids[at];
  }
}

FP8K_TARGET_AVX512 void pick_rounds(float* cand, int n, int k, int* ids, const int* cand_ids) {
  switch ((n + 15) / 16) {
    case 1: return pick_in_registers<1>(cand, n, k, ids, cand_ids);
    case 2: return pick_in_registers<2>(cand, n, k, ids, cand_ids);
    case 3:
    case 4: return pick_in_registers<4>(cand, n, k, ids, cand_ids);
    case 5: case 6: case 7:
    case 8: return pick_in_registers<8>(cand, n, k, ids, cand_ids);
    default: break;
  }
  for (int j = 0; j < k; j++) {  // more candidates than registers: the same rounds from memory
    const float m = max_avx512(cand, n);
    int at = 0;
    for (int i = 0;; i += 16) {
      const __mmask16 eq = _mm512_mask_cmp_ps_mask(tail(n - i), _mm512_loadu_ps(cand + i), _mm512_set1_ps(m), _CMP_EQ_OQ);
      if (eq) {
        at = i + __builtin_ctz(eq);
        break;
      }
    }
    ids[j] = cand_ids[at];
    cand[at] = -INFINITY;
  }
}

// Steps 2 to 6 with 16 lanes, in three stages so that a batch of tokens can run each stage in turn:
// one token's pick is a chain of dependent reductions, and tokens side by side let the core overlap
// them. w.sel: the selection scores (w.s plus the bias, or w.s itself).
//
// Stage 1 for 8 groups with a bias (DeepSeek-V3's gate), in registers from the selection scores on:
// the group scores' ranks computed in all lanes at once, the kept groups and the floor from masks.
template <int PER>
FP8K_TARGET_AVX512 void rank_groups8_avx512(const fp8k_route* p, Scratch& w) {
  __m512 best, second;
  top2_groups8_avx512<PER>(w.pick_sel, &best, &second);
  const __m512 score = _mm512_add_ps(best, second);
  __m512i rank = _mm512_setzero_si512();
  for (int j = 0; j < 8; j++) {  // +1 where group j beats the lane's group (a tie: where the lane is after j)
    const __m512 b = _mm512_permutexvar_ps(_mm512_set1_epi32(j), score);
    const __mmask16 beats = _mm512_cmp_ps_mask(b, score, _CMP_GT_OQ) | _mm512_mask_cmp_ps_mask((__mmask16)(0xFFFEu << j), b, score, _CMP_EQ_OQ);
    rank = _mm512_mask_sub_epi32(rank, beats, rank, _mm512_set1_epi32(-1));
  }
  const __mmask16 kept = _mm512_mask_cmplt_epi32_mask(0xFF, rank, _mm512_set1_epi32(p->topk_groups));
  const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  _mm512_storeu_si512(w.kept.data(), _mm512_maskz_compress_epi32(kept, iota));
  w.groups = __builtin_popcount(kept);
  // as rank_groups_avx512's floor: the least second best of the kept groups
  w.floor = p->topk <= 2 * w.groups ? _mm512_reduce_min_ps(_mm512_mask_mov_ps(_mm512_set1_ps(INFINITY), kept, second)) : -INFINITY;
}

// Stage 1: group maxima by vector reductions, then the topkGroups best groups, and the floor below
// which no expert can be among the k best.
FP8K_TARGET_AVX512 void rank_groups_avx512(const fp8k_route* p, bool bias, Scratch& w) {
  const int E = p->experts, G = p->groups, per = E / G, k = p->topk;
  const float* sel = w.pick_sel;
  // Each group's best and second best (counting repeats) first, all groups independent of each other,
  // then the topkGroups best groups.
  float* best = w.group_top.data();
  float* second = best + G;
  if (bias && per % 16 == 0) {
    for (int g = 0; g < G; g++) top2_avx512(sel + (size_t)g * per, per, &best[g], &second[g]);
  } else {
    for (int g = 0; g < G; g++) {
      const float* v = sel + (size_t)g * per;
      best[g] = max_avx512(v, per);
      second[g] = per > 1 ? second_avx512(v, per, best[g]) : -INFINITY;
    }
  }
  int groups = 0;
  if (G <= 16) {  // kept: the groups ranked below topkGroups, found in ascending id
    float* score = w.group_best.data();
    for (int g = 0; g < G; g++) score[g] = bias && per > 1 ? best[g] + second[g] : best[g];
    int* rank = w.rank.data();
    rank_avx512<1>(score, G, rank);
    for (int g = 0; g < G; g++) w.kept[groups] = g, groups += rank[g] < p->topk_groups;
  } else {
    for (int g = 0; g < G; g++) insert(w.group_best.data(), w.group_ids.data(), groups, p->topk_groups, bias && per > 1 ? best[g] + second[g] : best[g], g);
    std::copy(w.group_ids.begin(), w.group_ids.begin() + groups, w.kept.begin());
    std::sort(w.kept.begin(), w.kept.begin() + groups);
  }
  w.groups = groups;
  // Every kept group holds two experts at or above its second best, so at least 2 x groups experts are at
  // or above the least of those: when that covers k, the k best are among them, and only they are kept
  // as candidates (in ascending id, so the tie rule holds) — about 2k of the 128 at DeepSeek-V3's shape.
  float floor = -INFINITY;
  if (per > 1 && k <= 2 * groups) {
    floor = INFINITY;
    for (int i = 0; i < groups; i++) floor = second[w.kept[i]] < floor ? second[w.kept[i]] : floor;
  }
  w.floor = floor;
}

// Stage 2: the kept groups' experts at or above the floor, in ascending id, into w.cand.
FP8K_TARGET_AVX512 void gather_candidates_avx512(const fp8k_route* p, Scratch& w) {
  const int per = p->experts / p->groups;
  const float* sel = w.pick_sel;
  int n = 0;
  const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (int i = 0; i < w.groups; i++)
    for (int j = 0, e = w.kept[i] * per; j < per; j += 16) {
      const __m512 v = _mm512_maskz_loadu_ps(tail(per - j), sel + e + j);
      const __mmask16 keep = _mm512_mask_cmp_ps_mask(tail(per - j), v, _mm512_set1_ps(w.floor), _CMP_GE_OQ);
      // compress in registers, then a plain store: a compressing store to memory is microcoded on Zen 4
      _mm512_storeu_ps(w.cand.data() + n, _mm512_maskz_compress_ps(keep, v));
      _mm512_storeu_si512(w.cand_ids.data() + n, _mm512_maskz_compress_epi32(keep, _mm512_add_epi32(iota, _mm512_set1_epi32(e + j))));
      n += __builtin_popcount(keep);
    }
  w.n = n;
}

// Stage 3: the k best candidates in order, then their weights.
FP8K_TARGET_AVX512 void pick_candidates_avx512(const fp8k_route* p, Scratch& w, int32_t* idx, float* weights) {
  const int n = w.n;
  if (n <= 32) {  // few: each candidate's rank is its place (candidates arrive in ascending id)
    int* rank = w.rank.data();
    if (!(n <= 16 ? rank_distinct_avx512<1> : rank_distinct_avx512<2>)(w.cand.data(), n, rank)) (n <= 16 ? rank_avx512<1> : rank_avx512<2>)(w.cand.data(), n, rank);
    int* place = w.ids.data();
    for (int i = 0; i < n; i++) place[rank[i]] = w.cand_ids[i];
  } else {
    pick_rounds(w.cand.data(), n, p->topk, w.ids.data(), w.cand_ids.data());
  }
  weigh(p, w.s.data(), w.ids.data(), idx, weights);
}

// Steps 2 to 6 for one token, from its scores w.s.
void pick(const fp8k_route* p, const float* bias, Scratch& w, int32_t* idx, float* weights) {
  const int E = p->experts, G = p->groups, per = E / G, k = p->topk;
  const float* s = w.s.data();
  const float* sel = s;
  if (bias) {
    for (int e = 0; e < E; e++) w.sel[e] = s[e] + bias[e];
    sel = w.sel.data();
  }
  // Group scores, the topkGroups best kept (inserted in ascending id, which keeps the tie rule).
  int groups = 0;
  for (int g = 0; g < G; g++) {
    const float* v = sel + (size_t)g * per;
    float b1 = v[0], b2 = -INFINITY;
    for (int j = 1; j < per; j++)
      if (v[j] > b1) b2 = b1, b1 = v[j];
      else if (v[j] > b2) b2 = v[j];
    insert(w.group_best.data(), w.group_ids.data(), groups, p->topk_groups, bias && per > 1 ? b1 + b2 : b1, g);
  }
  // The kept groups' experts in ascending id into the k best.
  std::copy(w.group_ids.begin(), w.group_ids.begin() + groups, w.kept.begin());
  std::sort(w.kept.begin(), w.kept.begin() + groups);
  int have = 0;
  for (int i = 0; i < groups; i++)
    for (int e = w.kept[i] * per, end = e + per; e < end; e++) insert(w.best.data(), w.ids.data(), have, k, sel[e], e);
  weigh(p, s, w.ids.data(), idx, weights);
}

// Step 1 (and 2 where the pick is vectorized) for one row of logits into w; false if a logit is not finite.
bool score_row(const fp8k_route* p, int level, const void* row, bool bf16, const float* bias, Scratch& w) {
  const size_t E = p->experts;
  const bool sigmoid = p->score_func == FP8K_SCORE_SIGMOID;
  float* s = w.s.data();
  w.pick_sel = bias ? w.sel.data() : s;
  if (level >= FP8K_SIMD_AVX512 && sigmoid) return sigmoid_row_avx512(row, bf16, (int)E, bias, s, w.sel.data());
  float* x = w.x.data();
  float m = -INFINITY;
  bool finite = true;
  if (level >= FP8K_SIMD_AVX512) {
    finite = load_avx512(row, bf16, (int)E, x, &m);
  } else {
    for (size_t e = 0; e < E; e++) {
      x[e] = load_elem(row, bf16, e);
      finite &= isfinite(x[e]);
      m = x[e] > m ? x[e] : m;
    }
  }
  if (!finite) return false;
  scores(level, x, E, sigmoid, m, s);
  if (!sigmoid) {
    float sum = 0;
    for (size_t e = 0; e < E; e++) sum += s[e];  // ascending expert order, as ref sums
    for (size_t e = 0; e < E; e++) s[e] = s[e] / sum;
  }
  if (level >= FP8K_SIMD_AVX512 && bias)  // pick() adds the bias itself
    for (size_t e = 0; e < E; e++) w.sel[e] = s[e] + bias[e];
  return true;
}

}  // namespace

int route(const void* logits, int dtype, const float* bias, const fp8k_route* p, int32_t* topk_idx, float* topk_weights, fp8k_call* c) {
  if (int s = fp8k_check_route(p, c)) return s;
  const size_t E = p->experts;
  if (int s = fp8k_check_bias(bias, p, c)) return s;
  const bool bf16 = dtype == FP8K_BF16;
  const int level = fp8k_cpu_vector_level();
  if (!p->has_bias) bias = nullptr;
  std::atomic<bool> bad{false};
  // Tokens in chunks from a shared counter (chunks of a few batches), each worker with its own rows; a
  // batch takes each pick stage across its tokens before the next one.
  const size_t batch = level >= FP8K_SIMD_AVX512 ? kBatch : 1;
  // Stage 1 with the 8 groups' top two in registers, for DeepSeek-V3's shapes with a bias
  const auto stage1 = !bias || p->groups != 8 ? nullptr : E == 128 ? rank_groups8_avx512<16> : E == 256 ? rank_groups8_avx512<32> : E == 512 ? rank_groups8_avx512<64> : nullptr;
  fp8k_parallel_chunks(p->tokens, 8 * kBatch, p->tokens * E, [&](const fp8k_next_chunk& next) {
    std::vector<Scratch> ws(batch, Scratch(p));
    for (size_t t0, t1; next(t0, t1);)
      for (size_t b0 = t0; b0 < t1; b0 += batch) {
        const size_t b1 = std::min(b0 + batch, t1);
        for (size_t t = b0; t < b1; t++)
          if (!score_row(p, level, static_cast<const char*>(logits) + t * E * (bf16 ? 2 : 4), bf16, bias, ws[t - b0])) {
            bad = true;
            return;
          }
        if (level < FP8K_SIMD_AVX512) {
          pick(p, bias, ws[0], topk_idx + b0 * p->topk, topk_weights + b0 * p->topk);
          continue;
        }
        for (size_t t = b0; t < b1; t++) stage1 ? stage1(p, ws[t - b0]) : rank_groups_avx512(p, bias, ws[t - b0]);
        for (size_t t = b0; t < b1; t++) gather_candidates_avx512(p, ws[t - b0]);
        for (size_t t = b0; t < b1; t++) pick_candidates_avx512(p, ws[t - b0], topk_idx + t * p->topk, topk_weights + t * p->topk);
      }
  });
  if (bad)  // the first non-finite logit, in order (a worker stops at the first it meets, not the first there is)
    for (size_t i = 0; i < p->tokens * E; i++)
      if (!isfinite(load_elem(logits, bf16, i))) return fp8k_fail_nonfinite_logit(i / E, (int)(i % E), c);
  return FP8K_OK;
}

}  // namespace fp8k::cpu
