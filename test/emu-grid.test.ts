/**
 * The grid-stride kernels (casts, quantization) launch as many blocks as the device holds at once —
 * its SMs × the kernel's occupancy — rather than a fixed cap. On cuda-emu the device is FP8KIT_EMU_ARCH's
 * (sm_90: 132 SMs as an H100 SXM, sm_89: 142 as an L40S), the occupancy its threads, shared memory and
 * the registers of the resource table (FP8KIT_EMU_RESOURCES, here one written by the test); the profile
 * counters report the blocks.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';

import { fp8, rng, seed, uniform } from './helpers.js';

const KERNEL = 'void fp8k::cuda::cast_from_fp8_kernel<float, true>(unsigned char const*, int, float*, unsigned long)';

/** Resident 256-thread blocks per SM for a kernel of `registers` per thread: 64 warps an SM, 64 Ki registers. */
function occupancy(registers: number): number {
  const warps = 256 / 32;
  return Math.min(32, Math.floor(64 / warps), Math.floor(65536 / (warps * Math.ceil((registers * 32) / 256) * 256)));
}

test('castFromFp8 launches min(needed, SMs x occupancy) blocks, on sm_90 and sm_89', () => {
  // A resource table that gives the kernel 255 registers: one block per SM, so a small tensor needs more.
  const dir = mkdtempSync(join(tmpdir(), 'fp8kit-grid-'));
  const table = join(dir, 'resources.txt');
  writeFileSync(table, `# test\n${['sm_89', 'sm_90a'].map((a) => `${a}\t255\t0\t0\t0\t0\t${KERNEL}`).join('\n')}\n`);
  const n = 150 * 256 * 16;  // 16 elements a thread: 150 blocks needed
  const u = uniform(rng(seed('emu grid')));
  const q = fp8.castToFp8Sync(fp8.tensor('f32', [n], Float32Array.from({ length: n }, () => u() - 0.5)), { backend: 'ref' });
  try {
    for (const [arch, sms] of [['sm_90', 132], ['sm_89', 142]] as const) {
      const file = join(dir, `${arch}.jsonl`);
      Object.assign(process.env, { FP8KIT_EMU_PROFILE: file, FP8KIT_EMU_ARCH: arch, FP8KIT_EMU_RESOURCES: table });
      let y;
      try {
        y = fp8.castFromFp8Sync(q, { backend: 'cuda-emu' });
      } finally {
        for (const v of ['FP8KIT_EMU_PROFILE', 'FP8KIT_EMU_ARCH', 'FP8KIT_EMU_RESOURCES']) delete process.env[v];
      }
      expect(y.data).toEqual(fp8.castFromFp8Sync(q, { backend: 'ref' }).data);
      const want = Math.min(150, sms * occupancy(255));
      expect(want).toBeLessThan(150);  // the cap, not the need, decides here
      expect(JSON.parse(readFileSync(file, 'utf8').trim()).blocks, arch).toBe(want);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
