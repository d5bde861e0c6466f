// FP8KIT_EMU_PROFILE's counters (profile.cc): the scheduler, cp.async, ldmatrix and the vector
// accesses report to them while a launch runs with the profile on.
#pragma once
#include "runtime.h"

namespace fp8k {
namespace emu {

struct Block;
void profile_launch_begin(Block& b);  // reads FP8KIT_EMU_PROFILE
void profile_block_end(Block& b);
void profile_launch_end(const Block& b);  // prints or appends the launch's figures
void profile_barrier();                   // a __syncthreads released
void profile_cp_async(void* dst, const void* src, unsigned bytes, unsigned src_bytes, const Loc& loc);

}  // namespace emu
}  // namespace fp8k
