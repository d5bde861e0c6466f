// Launch geometry shared by the elementwise kernels.
#pragma once
#include <stddef.h>

namespace fp8k::cuda {

constexpr int kElementwiseBlock = 256;

// Blocks for `work` items of `per_thread` elements each; the kernels stride over the grid,
// so the count is capped (a few waves on a large GPU, few enough for the emulator).
inline unsigned elementwise_blocks(size_t n, size_t per_thread) {
  size_t threads = (n + per_thread - 1) / per_thread;
  size_t blocks = (threads + kElementwiseBlock - 1) / kElementwiseBlock;
  return static_cast<unsigned>(blocks < 1 ? 1 : blocks > 4096 ? 4096 : blocks);
}

}  // namespace fp8k::cuda
