// cp.async emulated as a deferred copy: recorded at issue, performed no later
// than the cp.async.wait_group / wait_all that requires it.
//
// When it lands in between is FP8KIT_EMU_CP_ASYNC's choice (read once per launch):
//   early (the default): at each synchronization point the issuing thread
//     passes after the issue -- cp.async.commit_group, __syncthreads (on
//     arrival), a warp collective (on arrival: shuffles, votes, __syncwarp,
//     ldmatrix, mma), and a wait_group that does not yet require it -- each of
//     its pending copies lands with probability 1/2, drawn from a generator
//     seeded per launch from FP8KIT_EMU_SEED (default 0) and the launch's
//     index in the process; whatever is still pending lands at the wait. The
//     hardware may land a copy any time between issue and wait, so this is a
//     legal schedule; it exposes a buffer reused without the __syncthreads
//     that keeps other threads' reads of the previous stage ahead of the copy.
//   wait: every copy lands exactly at the wait that requires it (the old
//     emulator). A kernel that reads the destination before waiting then sees
//     the 0xFF poison always; under `early` it sees it only for the copies the
//     draw kept pending. The two modes catch different bugs: run both.
// `early` is the default everywhere (tests, the addon's emulated backend):
// it is a schedule the hardware may choose and is reproducible for a given
// seed and launch sequence; `wait` is the option for hunting a read before the wait.
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "block.h"
#include "profile.h"

namespace fp8k {
namespace emu {

namespace {

unsigned long long g_launches = 0;  // launches so far in this process (under the launch mutex)

uint64_t splitmix64(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void land(Block& b, Thread& t, const CpAsyncCopy& c) {
  memcpy(c.dst, c.src, c.src_bytes);
  memset((char*)c.dst + c.src_bytes, 0, c.bytes - c.src_bytes);  // zero-fill form
  if (g_racecheck) g_racecheck->write(b, t, c.dst, c.bytes, c.loc);  // the issuer writes, now
}

}  // namespace

void cp_async_launch(Block& b, Loc loc) {
  const char* m = getenv("FP8KIT_EMU_CP_ASYNC");
  if (!m || !*m || strcmp(m, "early") == 0) b.cp_early = true;
  else if (strcmp(m, "wait") == 0) b.cp_early = false;
  else fault(loc, "FP8KIT_EMU_CP_ASYNC=%s: must be early or wait", m);
  uint64_t seed = 0;
  if (const char* e = getenv("FP8KIT_EMU_SEED")) {
    char* end = nullptr;
    seed = strtoull(e, &end, 10);
    if (!*e || *end) fault(loc, "FP8KIT_EMU_SEED=%s: must be a decimal integer", e);
  }
  uint64_t s = seed ^ (0xD1B54A32D192ED03ull * ++g_launches);
  b.cp_rng = splitmix64(s);
}

// A synchronization point of the current thread: under `early`, each pending
// copy lands with probability 1/2.
void cp_async_maybe_land(Block& b, Thread& t) {
  if (!b.cp_early || t.cp.empty()) return;
  size_t keep = 0;
  for (size_t i = 0; i < t.cp.size(); ++i) {
    if (splitmix64(b.cp_rng) >> 63) land(b, t, t.cp[i]);
    else t.cp[keep++] = t.cp[i];
  }
  t.cp.resize(keep);
}

void cp_async(void* dst, const void* src, unsigned bytes, unsigned src_bytes, Loc loc) {
  if (!g_block || !g_block->cur) fault(loc, "cp.async outside a kernel");
  if (bytes != 4 && bytes != 8 && bytes != 16) fault(loc, "cp.async: size %u (must be 4, 8 or 16)", bytes);
  if ((uintptr_t)dst % bytes || (uintptr_t)src % bytes)
    fault(loc, "cp.async: addresses %p <- %p not aligned to %u bytes", dst, src, bytes);
  if (!in_shared(dst, bytes)) fault(loc, "cp.async: destination %p is not in shared memory", dst);
  if (src_bytes > bytes) fault(loc, "cp.async: src-size %u exceeds cp-size %u", src_bytes, bytes);
  profile_cp_async(dst, src, bytes, src_bytes, loc);
  g_block->cur->cp.push_back({dst, src, bytes, src_bytes, -1, loc});
}

void cp_async_commit() {
  Thread& t = *g_block->cur;
  for (CpAsyncCopy& c : t.cp)
    if (c.group < 0) c.group = t.cp_next_group;
  ++t.cp_next_group;  // an empty group is still a group
  cp_async_maybe_land(*g_block, t);
}

void cp_async_wait(int allowed) {
  Block& b = *g_block;
  Thread& t = *b.cur;
  cp_async_maybe_land(b, t);  // the groups this wait does not require may land too
  // Complete every committed group except the `allowed` most recent ones.
  const long limit = t.cp_next_group - allowed;
  size_t keep = 0;
  for (size_t i = 0; i < t.cp.size(); ++i) {
    CpAsyncCopy& c = t.cp[i];
    if (c.group >= 0 && c.group < limit) land(b, t, c);
    else t.cp[keep++] = c;
  }
  t.cp.resize(keep);
}

}  // namespace emu
}  // namespace fp8k
