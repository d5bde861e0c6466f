// Internal state of the emulator: one Block at a time per process. Launches are
// serialized by a mutex (the fiber stacks and this state are process-wide).
#pragma once
#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include "fiber.h"
#include "runtime.h"

namespace fp8k {
namespace emu {

struct CpAsyncCopy {
  void* dst;
  const void* src;
  unsigned bytes, src_bytes;
  long group;  // -1 until committed
  Loc loc;     // where it was issued (racecheck names it)
};

struct Thread {
  enum State : unsigned char { FRESH, RUN, BARRIER, WARP, DONE };
  Context ctx;
  Stack* stack = nullptr;
  uint3 idx{};
  int id = 0, lane = 0, warp = 0;
  State state = FRESH;
  bool cancel = false;
  void* asan_fake = nullptr;  // AddressSanitizer's fake stack while switched out
  Loc where{nullptr, 0};  // where it waits (barrier or warp op)
  int bar_pred = 0;
  const Collective* op = nullptr;
  unsigned op_mask = 0;
  void* op_payload = nullptr;
  std::vector<CpAsyncCopy> cp;
  long cp_next_group = 0;
};

struct Block {
  const char* kernel = "";
  Loc launch_loc{nullptr, 0};
  Thunk thunk = nullptr;
  void* ctx = nullptr;
  dim3 grid, dim;
  uint3 idx{};
  int n = 0;  // threads per block
  std::vector<Thread> threads;
  Thread* cur = nullptr;
  Context sched;
  int done = 0;
  // barrier arrivals since the last release
  int bar_arrived = 0;
  bool bar_mixed = false;
  Loc bar_loc{nullptr, 0};
  int bar_result = 0;
  std::vector<int> warp_posted;  // lanes of each warp waiting in a collective
  std::exception_ptr error;
  char* dyn = nullptr;
  size_t dyn_size = 0;
  bool combining = false;  // a warp collective's combine step is running
  bool cp_early = true;    // FP8KIT_EMU_CP_ASYNC (cp_async.cc)
  uint64_t cp_rng = 0;     // the launch's generator for early cp.async landings
};

extern Block* g_block;  // the block being emulated, or nullptr

// The shared-memory race checker (racecheck.cc), linked only into the racecheck
// build; null otherwise, so the scheduler pays a branch per barrier or warp sync.
struct RaceCheck {
  virtual void launch(Block& b, char* tls, size_t tls_size) = 0;  // once per launch
  virtual void launch_end() = 0;
  virtual void block_start(Block& b) = 0;
  virtual void barrier(Block& b) = 0;  // a __syncthreads released
  virtual void syncwarp(Block& b, int warp, unsigned mask) = 0;
  virtual void write(Block& b, Thread& t, const void* p, size_t n, const Loc& loc) = 0;  // cp.async landed
};
extern RaceCheck* g_racecheck;

[[noreturn]] void fault_at(Block& b, const Thread* t, Loc loc, const std::string& msg);
void yield_to_scheduler(Thread& t);
void cp_async_launch(Block& b, Loc loc);       // reads FP8KIT_EMU_CP_ASYNC / _SEED, seeds the launch
void cp_async_maybe_land(Block& b, Thread& t);  // a sync point of t: some pending copies land (early)
std::string thread_list(const std::vector<int>& ids);

}  // namespace emu
}  // namespace fp8k
