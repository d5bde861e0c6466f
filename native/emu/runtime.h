// The emulator's runtime interface: faults, launches, and the per-block
// primitives (barrier, warp collectives, dynamic shared memory, cp.async) that
// the inline device functions of cuda_emu.h and native/cuda/ptx/ build on.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "types.h"

namespace fp8k {
namespace emu {

// A source position. As a defaulted parameter it records the caller's line,
// so every device intrinsic reports where the kernel called it.
struct Loc {
  const char* file;
  int line;
  Loc(const char* f = __builtin_FILE(), int l = __builtin_LINE()) : file(f), line(l) {}
};

// Every error of an emulated launch: bad configuration, a divergent or partial
// barrier, a bad warp mask, a deadlock, an exception inside a kernel. Thrown out
// of the launch call after every fiber of the block has been unwound.
class Fault : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws a Fault naming the kernel, block, thread and `loc`. Only inside a kernel.
[[noreturn]] void fault(Loc loc, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
// printf into a string, for fault messages (scheduler.cc).
std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));

// ---- launches ----------------------------------------------------------------
using Thunk = void (*)(void* ctx);
// Runs thunk(ctx) once per CUDA thread of every block; throws Fault.
// `fn` identifies the kernel (its per-kernel attributes, its row of the resource table).
void run_grid(const char* kernel, const void* fn, Loc loc, dim3 grid, dim3 block, size_t dynamic_smem, Thunk thunk, void* ctx);

// ---- limits of the emulated device (limits.cc) ---------------------------------
// FP8KIT_EMU_ARCH=sm_89 or sm_90 (default). Throws a Fault naming the reason where the GPU
// would refuse the launch: threads per block, dynamic shared memory above 48 KiB without the
// opt-in, static + dynamic above the arch's limit, registers x threads above the register file.
void check_launch(const char* kernel, const void* fn, Loc loc, dim3 block, size_t dynamic_smem);
// cudaFuncSetAttribute's emulation: 0 (cudaSuccess) or 1 (cudaErrorInvalidValue).
constexpr int kAttrMaxDynamicSharedMemorySize = 8;
int func_set_attribute(const void* fn, int attr, int value);
// cudaDevAttrMultiProcessorCount and cudaOccupancyMaxActiveBlocksPerMultiprocessor of the emulated
// device: threads, shared memory (with the 1 KiB the GPU reserves per block) and registers per SM.
int multiprocessors();
int resident_blocks(const void* fn, int threads, size_t dynamic_smem);
// A vector access (ld/st.global.v2/v4) at an address that is not a multiple of its size.
[[noreturn]] void misaligned(const void* p, unsigned n, const char* what, Loc loc);
// FP8KIT_EMU_PROFILE (profile.cc): on for the launch running now; the vector accesses and ldmatrix
// report their addresses to it.
extern bool g_profile;
void profile_vector(const void* p, unsigned bytes, const char* what, const Loc& loc);
void profile_shared_rows(const unsigned char* const* rows, int n, unsigned bytes);  // n rows, 8 per phase
inline void check_aligned(const void* p, unsigned n, const char* what, Loc loc) {
  if (reinterpret_cast<uintptr_t>(p) % n) misaligned(p, n, what, loc);
  if (g_profile) profile_vector(p, n, what, loc);
}

template <class... P>
struct KernelCall {
  void (*kernel)(P...);
  std::tuple<std::decay_t<P>...> args;
  // Each CUDA thread gets its own copies of the parameters, as on the device.
  static void thunk(void* c) {
    auto* s = static_cast<KernelCall*>(c);
    std::apply(s->kernel, s->args);
  }
};

template <class... P, class... A>
void launch(Loc loc, const char* name, void (*kernel)(P...), dim3 grid, dim3 block, size_t smem,
            cudaStream_t /*stream: launches are synchronous*/, A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A), "FP8K_LAUNCH: argument count differs from the kernel's");
  KernelCall<P...> call{kernel, std::tuple<std::decay_t<P>...>(std::forward<A>(args)...)};
  run_grid(name, reinterpret_cast<const void*>(kernel), loc, grid, block, smem, &KernelCall<P...>::thunk, &call);
}

// ---- inside a kernel -----------------------------------------------------------
void* dynamic_smem();
// True when [p, p+n) lies in this block's static or dynamic shared memory.
bool in_shared(const void* p, size_t n);

enum BarrierKind { BAR_SYNC = 0, BAR_COUNT = 1, BAR_AND = 2, BAR_OR = 3 };
int barrier(BarrierKind kind, int pred, Loc loc);

// A warp collective ("every lane named in the mask posted, then one combine"):
// each lane posts `payload`; when all lanes of `mask` posted the same collective
// with the same mask, `combine` runs once with the payloads indexed by lane
// (nullptr outside the mask) and writes each lane's result into its payload.
struct Collective {
  const char* name;
  void (*combine)(void* const* payload, unsigned mask, const Loc& loc);
};
void warp_collective(const Collective& op, unsigned mask, void* payload, Loc loc);
int lane_id();
unsigned live_lanes();  // lanes of the caller's warp that exist and have not exited

// cp.async, emulated as a deferred copy: recorded at issue, performed at a
// seeded random sync point of the issuer or, at the latest, at the wait_group /
// wait_all that requires it (FP8KIT_EMU_CP_ASYNC=early|wait, cp_async.cc).
void cp_async(void* dst_smem, const void* src, unsigned bytes, unsigned src_bytes, Loc loc);
void cp_async_commit();
void cp_async_wait(int pending_groups_allowed);  // wait_all == commit + wait(0)

}  // namespace emu
}  // namespace fp8k
