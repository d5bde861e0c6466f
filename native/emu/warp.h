// Warp intrinsics for the emulator, each a warp collective (runtime.h): every
// lane named in the mask posts, then one combine hands each lane its result.
// Faults (with the caller's line): caller outside its mask, a mask naming an
// exited or absent lane, a lane that never arrives, a shuffle reading a lane
// outside the mask.
#pragma once
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "runtime.h"

namespace fp8k {
namespace emu {

struct ShflPost {
  uint64_t val, out;
  int b, width;
};
struct VotePost {
  uint32_t val, out;
};
enum ShflMode { SHFL_IDX, SHFL_UP, SHFL_DOWN, SHFL_BFLY };
extern const Collective kShfl[4];
extern const Collective kBallot, kAny, kAll, kSyncwarp;
extern const Collective kReduceAddU, kReduceMinU, kReduceMaxU, kReduceMinI, kReduceMaxI, kReduceAnd, kReduceOr,
    kReduceXor;

template <class T>
inline T shfl(ShflMode mode, unsigned mask, T var, int b, int width, Loc loc) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "__shfl_*_sync: at most 8 bytes");
  ShflPost p{};
  memcpy(&p.val, &var, sizeof(T));
  p.b = b;
  p.width = width;
  warp_collective(kShfl[mode], mask, &p, loc);
  T r;
  memcpy(&r, &p.out, sizeof(T));
  return r;
}

inline uint32_t vote(const Collective& op, unsigned mask, uint32_t v, Loc loc) {
  VotePost p{v, 0};
  warp_collective(op, mask, &p, loc);
  return p.out;
}

}  // namespace emu
}  // namespace fp8k

template <class T>
inline T __shfl_sync(unsigned mask, T var, int src_lane, int width = 32, ::fp8k::emu::Loc loc = {}) {
  return ::fp8k::emu::shfl(::fp8k::emu::SHFL_IDX, mask, var, src_lane, width, loc);
}
template <class T>
inline T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = 32, ::fp8k::emu::Loc loc = {}) {
  return ::fp8k::emu::shfl(::fp8k::emu::SHFL_UP, mask, var, (int)delta, width, loc);
}
template <class T>
inline T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = 32, ::fp8k::emu::Loc loc = {}) {
  return ::fp8k::emu::shfl(::fp8k::emu::SHFL_DOWN, mask, var, (int)delta, width, loc);
}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = 32, ::fp8k::emu::Loc loc = {}) {
  return ::fp8k::emu::shfl(::fp8k::emu::SHFL_BFLY, mask, var, lane_mask, width, loc);
}

inline unsigned __ballot_sync(unsigned mask, int pred, ::fp8k::emu::Loc loc = {}) {
  return ::fp8k::emu::vote(::fp8k::emu::kBallot, mask, pred != 0, loc);
}
inline int __any_sync(unsigned mask, int pred, ::fp8k::emu::Loc loc = {}) {
  return (int)::fp8k::emu::vote(::fp8k::emu::kAny, mask, pred != 0, loc);
}
inline int __all_sync(unsigned mask, int pred, ::fp8k::emu::Loc loc = {}) {
  return (int)::fp8k::emu::vote(::fp8k::emu::kAll, mask, pred != 0, loc);
}
inline void __syncwarp(unsigned mask = 0xFFFFFFFFu, ::fp8k::emu::Loc loc = {}) {
  ::fp8k::emu::vote(::fp8k::emu::kSyncwarp, mask, 0, loc);
}
// The lanes of the warp that have not exited (the emulator keeps warps converged
// at every collective, so that is the set the device would usually report).
inline unsigned __activemask() { return ::fp8k::emu::live_lanes(); }

#define FP8K_EMU_REDUCE(name, T, op)                                            \
  inline T name(unsigned mask, T v, ::fp8k::emu::Loc loc = {}) {                \
    return (T)::fp8k::emu::vote(::fp8k::emu::op, mask, (uint32_t)v, loc);       \
  }
FP8K_EMU_REDUCE(__reduce_add_sync, unsigned, kReduceAddU)
FP8K_EMU_REDUCE(__reduce_add_sync, int, kReduceAddU)
FP8K_EMU_REDUCE(__reduce_min_sync, unsigned, kReduceMinU)
FP8K_EMU_REDUCE(__reduce_min_sync, int, kReduceMinI)
FP8K_EMU_REDUCE(__reduce_max_sync, unsigned, kReduceMaxU)
FP8K_EMU_REDUCE(__reduce_max_sync, int, kReduceMaxI)
FP8K_EMU_REDUCE(__reduce_and_sync, unsigned, kReduceAnd)
FP8K_EMU_REDUCE(__reduce_or_sync, unsigned, kReduceOr)
FP8K_EMU_REDUCE(__reduce_xor_sync, unsigned, kReduceXor)
#undef FP8K_EMU_REDUCE
