/**
 * A server calls fp8kit millions of times: resident memory must stay flat in a loop that drops every
 * result, synchronous loops included (Node frees external buffers only from the event loop, so these
 * depend on fp8kit taking memory back itself). Each loop runs in a child process with a small V8 heap
 * (test/memory/loops.cjs), so a leak shows as resident memory, not as a slow test.
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';

import { fp8, seed } from './helpers.js';

const script = path.join(__dirname, 'memory', 'loops.cjs');
const ITERATIONS = 1200;

interface LoopResult {
  warm: number;
  peak: number;
  perCall: number;
  maxOutputs: number;
  maxBytes: number;
  afterGc: number;
  stats: ReturnType<typeof fp8.memoryStats>;
}

function loop(name: string, heapMiB: number, env: Record<string, string> = {}): LoopResult {
  const s = seed(`memory ${name}`);
  const out = execFileSync(process.execPath, [`--max-old-space-size=${heapMiB}`, '--expose-gc', script, name, String(ITERATIONS), String(s)], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 240_000,
  });
  return JSON.parse(out.trim().split('\n').pop()!) as LoopResult;
}

const MiB = 2 ** 20;

// Resident memory may grow by what fp8kit was seen holding at once (outputs V8 had not yet collected
// plus the pool's freed buffers: how many depends on the machine's GC timing, so it is measured in the
// loop) and by two more outputs (the one being made while the last is still referenced, and scratch);
// nothing else may accumulate, and a full collection takes back every dropped output.
const cases: string[] = [
  'quantizeSync',
  'quantizeCastTransposeSync',
  'castToFp8Sync',
  'dequantizeSync',
  'gemmSync',
  'packWeightsSync',
  'routeSync',
  'dispatchLayoutSync',
  'groupedGemmContiguousSync',
  'groupedGemmMaskedSync',
  'uploadSync',
  'quantizePromise',
  'castToFp8Promise',
  'dequantizePromise',
  'dispatchCombinePromise',
];

function expectFlat(name: string, r: LoopResult): void {
  const growth = r.peak - r.warm;
  const bound = Math.max(r.maxBytes, r.maxOutputs * r.perCall) + 2 * r.perCall;
  console.log(
    `[memory ${name}] warm ${(r.warm / MiB).toFixed(0)} MiB, peak growth ${(growth / MiB).toFixed(1)} MiB, ${(r.perCall / MiB).toFixed(1)} MiB per call; ` +
      `held at most ${r.maxOutputs} outputs, ${(r.maxBytes / MiB).toFixed(1)} MiB; ${r.afterGc} left after a full GC`,
  );
  expect(growth).toBeLessThan(bound);
  // A leak of tracked outputs would keep them past a full collection (and hold one per call).
  expect(r.afterGc).toBeLessThanOrEqual(1);
  expect(r.maxOutputs).toBeLessThan(ITERATIONS / 4);
  expect(r.stats.pool.bytes).toBeLessThanOrEqual(r.stats.pool.limit);
}

describe(`resident memory stays flat over ${ITERATIONS} calls that drop their results`, () => {
  for (const name of cases) test(`${name}: peak growth after warm-up within what fp8kit held, and nothing left after a GC`, () => expectFlat(name, loop(name, 48)));

  test('the pool hands freed buffers to the next output of their size, and FP8KIT_POOL_MB=0 turns it off', () => {
    const on = loop('castToFp8Sync', 48);
    expect(on.stats.pool.hits).toBeGreaterThan(ITERATIONS / 2);
    const off = loop('castToFp8Sync', 48, { FP8KIT_POOL_MB: '0' });
    expect(off.stats.pool.hits).toBe(0);
    expect(off.stats.pool.bytes).toBe(0);
    expectFlat('castToFp8Sync FP8KIT_POOL_MB=0', off);
  });
});

test('memoryStats counts live outputs, releaseMemory empties the pool', () => {
  const x = fp8.tensor('f32', [1 << 20], new Float32Array(1 << 20).fill(3));
  const before = fp8.memoryStats().outputs.count;
  const kept = [fp8.castToFp8Sync(x), fp8.castToFp8Sync(x)];
  expect(fp8.memoryStats().outputs.count).toBeGreaterThanOrEqual(before + 2);
  expect(fp8.memoryStats().outputs.bytes).toBeGreaterThanOrEqual(2 * (1 << 20));
  expect(kept[0].data[0]).toBe(0x44); // 3 = 1.5 · 2^1 in e4m3: exponent 8, mantissa 100b
  fp8.releaseMemory();
  expect(fp8.memoryStats().pool.bytes).toBe(0);
});
