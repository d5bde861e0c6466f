/**
 * The CUDA MoE kernels (native/cuda/{route,dispatch_layout,copy_rows,reduce_rows}.cuh) at kernel level:
 * test/moe_emu/driver.cc runs them through the cuda-emu backend on seeded random inputs and compares
 * with native/ref bit for bit (route: sigmoid/softmax, with/without bias, f32/bf16, exact ties, odd
 * shapes, non-finite inputs; dispatchLayout: -1 entries, bad ids, both histogram paths; copyRows:
 * zero rows, unaligned sizes and pointers; reduceRows: with/without weights, empty sums, unaligned
 * rows), in both thread orders. A second build has the kernels under the emulator's racecheck
 * (native/emu/racecheck.cc), so a missing __syncthreads / __syncwarp fails with both source lines.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

const root = path.join(__dirname, '..');
const dir = mkdtempSync(path.join(tmpdir(), 'fp8kit-moe-emu-'));
const exe = path.join(dir, 'moe_emu');
const exeRc = path.join(dir, 'moe_emu_racecheck');
const flags = ['-std=c++17', '-ffp-contract=off', '-fexceptions', '-Wall', '-Wextra', '-Werror', `-I${root}`];
const plain = ['ref/route', 'ref/dispatch_layout', 'ref/rows', 'ref/cast', 'common/moe_check', 'common/quant_check', 'common/status',
  'common/gemm_check', 'emu/fiber', 'emu/scheduler', 'emu/warp', 'emu/cp_async', 'emu/limits', 'emu/profile'].map((f) => `native/${f}.cc`);

// Not helpers.ts's seed(): that module loads the built package, which this kernel-level test does not need.
const seed = process.env.FP8KIT_SEED ?? String(Math.floor(Math.random() * 1_000_000));
console.log(`moe-emu: seed ${seed} (replay with FP8KIT_SEED=${seed})`);

function run(bin: string, order: string): string {
  return execFileSync(bin, [seed], { encoding: 'utf8', env: { ...process.env, FP8KIT_EMU_ORDER: order }, timeout: 60_000 });
}

describe('CUDA MoE kernels on cuda-emu equal ref', () => {
  beforeAll(() => {
    execFileSync('g++', [...flags, '-O2', 'test/moe_emu/driver.cc', 'native/emu/backend.cc', ...plain, '-o', exe, '-lpthread'], { cwd: root });
    const obj = path.join(dir, 'backend-rc.o');
    execFileSync('g++', [...flags, '-O1', '-g', '-gdwarf-4', '-fsanitize=thread', '-c', 'native/emu/backend.cc', '-o', obj], { cwd: root });
    execFileSync('g++', [...flags, '-O2', 'test/moe_emu/driver.cc', obj, ...plain, 'native/emu/racecheck.cc', '-o', exeRc, '-lpthread'], { cwd: root });
  }, 300_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test.each(['forward', 'reverse'])('%s thread order: every case bit-identical', (order) => {
    const out = run(exe, order);
    expect(out).toMatch(new RegExp(`${order} thread order`));
    expect(out).not.toMatch(/MISMATCH/);
    expect(out).toMatch(/OK: \d+ cases, 0 failures/);
  });

  test.each(['forward', 'reverse'])('%s thread order under racecheck: no race reported', (order) => {
    const out = run(exeRc, order);
    expect(out).not.toMatch(/racecheck|MISMATCH/);
    expect(out).toMatch(/OK: \d+ cases, 0 failures/);
  });
});
