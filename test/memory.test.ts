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
  stats: ReturnType<typeof fp8.memoryStats>;
}

function loop(name: string, heapMiB: number, env: Record<string, string> = {}): LoopResult {
  const s = seed(`memory ${name}`);
  const out = execFileSync(process.execPath, [`--max-old-space-size=${heapMiB}`, script, name, String(ITERATIONS), String(s)], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 240_000,
  });
  return JSON.parse(out.trim().split('\n').pop()!) as LoopResult;
}

const MiB = 2 ** 20;

// Sync forms hold one result at a time; the collector lags a few behind. Promise forms run 8 at a time,
// each with its output and (for caller-owned inputs) a snapshot of its input.
const cases: [string, number][] = [
  ['quantizeSync', 12],
  ['quantizeCastTransposeSync', 12],
  ['castToFp8Sync', 12],
  ['dequantizeSync', 12],
  ['gemmSync', 12],
  ['packWeightsSync', 12],
  ['routeSync', 12],
  ['dispatchLayoutSync', 12],
  ['groupedGemmContiguousSync', 12],
  ['groupedGemmMaskedSync', 12],
  ['uploadSync', 24],
  ['quantizePromise', 24],
  ['castToFp8Promise', 24],
  ['dequantizePromise', 24],
  ['dispatchCombinePromise', 24],
];

describe(`resident memory stays flat over ${ITERATIONS} calls that drop their results`, () => {
  for (const [name, outputs] of cases)
    test(`${name}: peak growth after warm-up under ${outputs} outputs' worth`, () => {
      const r = loop(name, 48);
      const growth = r.peak - r.warm;
      console.log(`[memory ${name}] warm ${(r.warm / MiB).toFixed(0)} MiB, peak growth ${(growth / MiB).toFixed(1)} MiB, ${(r.perCall / MiB).toFixed(1)} MiB per call`);
      expect(growth).toBeLessThan(outputs * r.perCall);
      expect(r.stats.pool.bytes).toBeLessThanOrEqual(r.stats.pool.limit);
    });

  test('the pool hands freed buffers to the next output of their size, and FP8KIT_POOL_MB=0 turns it off', () => {
    const on = loop('castToFp8Sync', 48);
    expect(on.stats.pool.hits).toBeGreaterThan(ITERATIONS / 2);
    const off = loop('castToFp8Sync', 48, { FP8KIT_POOL_MB: '0' });
    expect(off.stats.pool.hits).toBe(0);
    expect(off.stats.pool.bytes).toBe(0);
    expect(off.peak - off.warm).toBeLessThan(12 * off.perCall);
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
