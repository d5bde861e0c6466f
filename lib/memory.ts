/** What fp8kit's host memory holds: the pool of large buffers kept for reuse, and the outputs alive. */
import { native } from './native.js';

export interface MemoryStats {
  /** Freed buffers of 2 MiB and more kept for the next output of their size (FP8KIT_POOL_MB bounds it; 0 disables). */
  pool: { bytes: number; buffers: number; limit: number; hits: number; misses: number; evictions: number };
  /** Output buffers of 1 MiB and more that this thread's JavaScript can still reach (or that were not yet collected). */
  outputs: { count: number; bytes: number };
  /** Device tensors (cuda, cuda-emu) of this thread not yet freed or collected. */
  device: { count: number; bytes: number };
}

export function memoryStats(): MemoryStats {
  const s = native().memoryStats();
  return {
    pool: { bytes: s.poolBytes, buffers: s.poolBuffers, limit: s.poolLimit, hits: s.poolHits, misses: s.poolMisses, evictions: s.poolEvictions },
    outputs: { count: s.outputs, bytes: s.outputBytes },
    device: { count: s.deviceTensors, bytes: s.deviceBytes },
  };
}

/** Returns the pool's cached buffers to the operating system now; the bytes released. */
export function releaseMemory(): number {
  return native().releaseMemory();
}
