// Combine steps of the warp intrinsics (warp.h). Each runs once, when every
// lane of the mask has posted, and writes every lane's result.
#include "warp.h"

namespace fp8k {
namespace emu {
namespace {

// PTX shfl.sync: width w becomes segmask = 32 - w and clamp c (0 for up, 31
// otherwise); a source outside [minLane, maxLane] returns the lane's own value.
template <ShflMode M>
void shfl_combine(void* const* pp, unsigned mask, const Loc& loc) {
  ShflPost* const* p = reinterpret_cast<ShflPost* const*>(pp);
  for (int lane = 0; lane < 32; ++lane) {
    if (!p[lane]) continue;
    const int w = p[lane]->width;
    if (w < 1 || w > 32 || (w & (w - 1)))
      fault(loc, "%s: width %d is not a power of two in [1, 32]", kShfl[M].name, w);
    const int seg = 32 - w, clamp = M == SHFL_UP ? 0 : 31;
    const int min_lane = lane & seg, max_lane = (lane & seg) | (clamp & ~seg);
    const int b = p[lane]->b;
    int j;
    bool in;
    switch (M) {
      case SHFL_UP: j = lane - b; in = j >= max_lane; break;
      case SHFL_DOWN: j = lane + b; in = j <= max_lane; break;
      case SHFL_BFLY: j = lane ^ b; in = j <= max_lane; break;
      default: j = min_lane | (b & 31 & ~seg); in = j <= max_lane; break;
    }
    if (!in) j = lane;
    if (!(mask >> j & 1))
      fault(loc, "%s(mask 0x%08x): lane %d reads lane %d, which is not in the mask", kShfl[M].name, mask, lane, j);
    p[lane]->out = p[j]->val;
  }
}

template <class F>
void vote_combine(void* const* pp, unsigned, uint32_t init, F f, bool broadcast) {
  VotePost* const* p = reinterpret_cast<VotePost* const*>(pp);
  uint32_t acc = init;
  for (int lane = 0; lane < 32; ++lane)
    if (p[lane]) acc = f(acc, p[lane]->val, lane);
  for (int lane = 0; lane < 32; ++lane)
    if (p[lane]) p[lane]->out = broadcast ? acc : 0;
}

#define VOTE(name, init, expr)                                                                 \
  [](void* const* p, unsigned m, const Loc&) {                                                 \
    vote_combine(p, m, init, [](uint32_t a, uint32_t v, int lane) -> uint32_t { (void)lane; return expr; }, true); \
  }

}  // namespace

const Collective kShfl[4] = {
    {"__shfl_sync", shfl_combine<SHFL_IDX>},
    {"__shfl_up_sync", shfl_combine<SHFL_UP>},
    {"__shfl_down_sync", shfl_combine<SHFL_DOWN>},
    {"__shfl_xor_sync", shfl_combine<SHFL_BFLY>},
};
const Collective kBallot = {"__ballot_sync", VOTE(ballot, 0u, a | (v ? 1u << lane : 0u))};
const Collective kAny = {"__any_sync", VOTE(any, 0u, a | v)};
const Collective kAll = {"__all_sync", VOTE(all, 1u, a & v)};
const Collective kSyncwarp = {"__syncwarp", [](void* const*, unsigned, const Loc&) {}};
const Collective kReduceAddU = {"__reduce_add_sync", VOTE(add, 0u, a + v)};
const Collective kReduceMinU = {"__reduce_min_sync", VOTE(minu, 0xFFFFFFFFu, v < a ? v : a)};
const Collective kReduceMaxU = {"__reduce_max_sync", VOTE(maxu, 0u, v > a ? v : a)};
const Collective kReduceMinI = {"__reduce_min_sync", VOTE(mini, 0x7FFFFFFFu, (int32_t)v < (int32_t)a ? v : a)};
const Collective kReduceMaxI = {"__reduce_max_sync", VOTE(maxi, 0x80000000u, (int32_t)v > (int32_t)a ? v : a)};
const Collective kReduceAnd = {"__reduce_and_sync", VOTE(and, 0xFFFFFFFFu, a & v)};
const Collective kReduceOr = {"__reduce_or_sync", VOTE(or, 0u, a | v)};
const Collective kReduceXor = {"__reduce_xor_sync", VOTE(xor, 0u, a ^ v)};

}  // namespace emu
}  // namespace fp8k
