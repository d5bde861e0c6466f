/**
 * The CUDA quantization kernels under the emulator's racecheck: native/emu/backend.cc (where the
 * native/cuda kernels are instantiated) is compiled with -fsanitize=thread instrumentation feeding
 * fp8kit's own race checker, and test/quant_emu/driver.cc runs them against ref on random shapes,
 * in both thread orders. A shared-memory race (a missing __syncthreads) fails with both source lines.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';

import { seed } from './helpers.js';

const root = path.join(__dirname, '..');
const dir = mkdtempSync(path.join(tmpdir(), 'fp8kit-racecheck-'));
const exe = path.join(dir, 'quant_emu_racecheck');
const flags = ['-std=c++17', '-ffp-contract=off', '-fexceptions', `-I${root}`];

describe('quantization kernels under racecheck', () => {
  beforeAll(() => {
    const obj = path.join(dir, 'backend.o');
    execFileSync('g++', [...flags, '-O1', '-g', '-gdwarf-4', '-fsanitize=thread', '-c', 'native/emu/backend.cc', '-o', obj], { cwd: root });
    const plain = ['ref/cast', 'ref/quantize', 'ref/dequantize', 'ref/cast_transpose', 'common/quant_check', 'common/moe_check', 'common/status',
      'common/gemm_check', 'emu/fiber', 'emu/scheduler', 'emu/warp', 'emu/cp_async', 'emu/limits', 'emu/profile', 'emu/racecheck'].map((f) => `native/${f}.cc`);
    execFileSync('g++', [...flags, '-O2', 'test/quant_emu/driver.cc', ...plain, obj, '-o', exe, '-lpthread'], { cwd: root });
  }, 300_000);

  test.each(['forward', 'reverse'])('%s thread order: every case equals ref, no race reported', (order) => {
    const s = seed(`racecheck ${order}`) % 1_000_000;
    const out = execFileSync(exe, [String(s)], { encoding: 'utf8', env: { ...process.env, FP8KIT_EMU_ORDER: order } });
    expect(out).not.toMatch(/racecheck|MISMATCH/);
    expect(out).toMatch(/OK: \d+ cases, 0 failures/);
  });
});
