// cp.async emulated as a deferred copy: recorded at issue, performed at
// cp.async.wait_group / wait_all. A kernel that reads the destination before
// waiting sees the 0xFF poison, as it could see stale data on the device.
#include <cstdint>
#include <cstring>

#include "block.h"

namespace fp8k {
namespace emu {

void cp_async(void* dst, const void* src, unsigned bytes, unsigned src_bytes, Loc loc) {
  if (!g_block || !g_block->cur) fault(loc, "cp.async outside a kernel");
  if (bytes != 4 && bytes != 8 && bytes != 16) fault(loc, "cp.async: size %u (must be 4, 8 or 16)", bytes);
  if ((uintptr_t)dst % bytes || (uintptr_t)src % bytes)
    fault(loc, "cp.async: addresses %p <- %p not aligned to %u bytes", dst, src, bytes);
  if (!in_shared(dst, bytes)) fault(loc, "cp.async: destination %p is not in shared memory", dst);
  if (src_bytes > bytes) fault(loc, "cp.async: src-size %u exceeds cp-size %u", src_bytes, bytes);
  g_block->cur->cp.push_back({dst, src, bytes, src_bytes, -1, loc});
}

void cp_async_commit() {
  Thread& t = *g_block->cur;
  for (CpAsyncCopy& c : t.cp)
    if (c.group < 0) c.group = t.cp_next_group;
  ++t.cp_next_group;  // an empty group is still a group
}

void cp_async_wait(int allowed) {
  Thread& t = *g_block->cur;
  // Complete every committed group except the `allowed` most recent ones.
  const long limit = t.cp_next_group - allowed;
  size_t keep = 0;
  for (size_t i = 0; i < t.cp.size(); ++i) {
    CpAsyncCopy& c = t.cp[i];
    if (c.group >= 0 && c.group < limit) {
      memcpy(c.dst, c.src, c.src_bytes);
      memset((char*)c.dst + c.src_bytes, 0, c.bytes - c.src_bytes);  // zero-fill form
      if (g_racecheck) g_racecheck->write(*g_block, t, c.dst, c.bytes, c.loc);  // the issuer writes, now
    } else {
      t.cp[keep++] = c;
    }
  }
  t.cp.resize(keep);
}

}  // namespace emu
}  // namespace fp8k
