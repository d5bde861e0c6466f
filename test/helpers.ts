/** Shared by the test files: the package under test (the built artifact), seeds, random data, backends. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import * as path from 'node:path';
import { expect } from 'vitest';

import * as fp8 from '../dist/index.js';
import { native } from '../dist/native.js';

export { fp8 };
/** The addon itself, for the hooks tests need (forcing a SIMD level). */
export const addon = native();

/** A seed from FP8KIT_SEED, else fresh; printed so a failure can be replayed. */
export function seed(label: string): number {
  const s = process.env.FP8KIT_SEED ? Number(process.env.FP8KIT_SEED) : (Math.random() * 2 ** 32) >>> 0;
  console.log(`[${label}] seed ${s} (replay with FP8KIT_SEED=${s})`);
  return s;
}

/** xorshift32: small, fast, reproducible. */
export function rng(s: number): () => number {
  let x = s >>> 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

/** Uniform in [0, 1). */
export function uniform(next: () => number): () => number {
  return () => next() / 4294967296;
}

/**
 * f32 values that exercise every path of an fp8 cast: arbitrary bit patterns (NaN, inf, f32 subnormals
 * included), values across the e4m3/e5m2 ranges and their subnormals, exact ties, and overflow.
 */
export function castInputs(n: number, s: number): Float32Array {
  const next = rng(s);
  const u = uniform(next);
  const x = new Float32Array(n);
  const bits = new Uint32Array(x.buffer);
  for (let i = 0; i < n; i++) {
    switch (next() % 4) {
      case 0:
        bits[i] = next();
        break;
      case 1: // magnitudes 2^-20 .. 2^17, both signs
        x[i] = (u() < 0.5 ? -1 : 1) * 2 ** (u() * 37 - 20);
        break;
      case 2: // exact midpoints between neighbouring fp8 values: ties to even
        x[i] = (u() < 0.5 ? -1 : 1) * (1 + (2 * (next() % 16) + 1) / 32) * 2 ** ((next() % 40) - 22);
        break;
      default: // a normal distribution in the range quantized data lives in
        x[i] = Math.sqrt(-2 * Math.log(u() + 1e-12)) * Math.cos(2 * Math.PI * u()) * 100;
    }
  }
  return x;
}

/** The backends available here, ref first. */
export function availableBackends(): string[] {
  return fp8.backends().filter((b) => b.available).map((b) => b.name);
}

const simdLevels = (() => {
  const max = addon.cpuSimd(99).level;
  addon.cpuSimd(-1);
  return Array.from({ length: max + 1 }, (_, i) => i);
})();

/** Ways to run a backend that must all agree: every SIMD level of cpu, both thread orders of cuda-emu. */
export function variants(backend: string): [string, <T>(fn: () => T) => T][] {
  const within = (enter: () => void, exit: () => void) => <T>(fn: () => T): T => {
    enter();
    try {
      return fn();
    } finally {
      exit();
    }
  };
  if (backend === 'cpu')
    return simdLevels.map((l) => [`SIMD level ${l}`, within(() => addon.cpuSimd(l), () => addon.cpuSimd(-1))]);
  if (backend === 'cuda-emu')
    return ['forward', 'reverse'].map((o) => [`${o} thread order`, within(() => (process.env.FP8KIT_EMU_ORDER = o), () => delete process.env.FP8KIT_EMU_ORDER)]);
  return [['default', (fn) => fn()]];
}

/** fn throws an Fp8kitError with this code and a message matching text. */
export function expectFp8kitError(fn: () => unknown, code: string, text: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(fp8.Fp8kitError);
  expect((caught as fp8.Fp8kitError).code).toBe(code);
  expect((caught as Error).message).toMatch(text);
}

/** Index of the first differing element, or -1. */
export function firstMismatch(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

// Under `npm run test:gpu` the cuda backend must be there: its absence fails the run instead of shrinking it.
if (process.env.FP8KIT_REQUIRE_CUDA && !availableBackends().includes('cuda'))
  throw new Error(`FP8KIT_REQUIRE_CUDA is set but cuda is unavailable: ${fp8.backends().find((b) => b.name === 'cuda')?.reason}`);

/** Compiles examples/ into a folder of its own inside the package (so `import 'fp8kit'` resolves to it); the caller removes it. */
export function compileExamples(): string {
  const root = path.join(__dirname, '..');
  const dir = mkdtempSync(path.join(root, 'examples', 'dist-test-'));
  const r = spawnSync(path.join(root, 'node_modules', '.bin', 'tsc'), ['-p', 'examples', '--outDir', dir], { cwd: root, encoding: 'utf8' });
  expect(r.status, r.stdout).toBe(0);
  return dir;
}

/** Uniform values in [-3, 3), seeded: the packed-weights tests' data. */
export function packValues(n: number, s: number): Float32Array {
  const u = uniform(rng(s));
  return Float32Array.from({ length: n }, () => (u() - 0.5) * 6);
}

/**
 * The packed-weights tests' cases: every shape, layout and B scaling (1D2D, 1D1D), A and B quantized
 * where they lie (on ref, seeded by s); `bFormat` picks B's format per scaling.
 */
export function* packCases(s: number, bFormat: (lines: boolean) => 'e4m3' | 'e5m2' = () => 'e4m3') {
  for (const [m, n, k] of [[1, 7, 130], [19, 70, 257], [3, 33, 1], [40, 129, 384]] as [number, number, number][])
    for (const layout of ['nt', 'nn', 'tn', 'tt'] as const)
      for (const lines of [false, true]) {
        const aT = layout === 'tn' || layout === 'tt';
        const bT = layout === 'nn' || layout === 'tn';
        const qa = fp8.quantizeSync(fp8.tensor('f32', aT ? [k, m] : [m, k], packValues(m * k, s + m)), { tile: aT ? [128, 1] : [1, 128], backend: 'ref' });
        const bTile: [number, number] = lines ? (bT ? [128, 1] : [1, 128]) : [128, 128];
        const qb = fp8.quantizeSync(fp8.tensor('f32', bT ? [k, n] : [n, k], packValues(n * k, s + n)), { tile: bTile, format: bFormat(lines), backend: 'ref' });
        yield { m, n, k, layout, bTile, qa, qb };
      }
}
