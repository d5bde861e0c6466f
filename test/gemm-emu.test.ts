/**
 * SPEC §4 on the CUDA GEMM kernel (native/cuda/gemm.cuh), run by cuda-emu in both thread orders:
 * against ref 'exact' by calcDiff with the emulator's exact MMA, and against ref 'limited' with
 * promotionInterval 128 bit for bit with its hardware-like MMA (FP8KIT_EMU_MMA=limited), whose
 * K order the kernel shares. Edges in M, N and K (K not a multiple of 16 takes the bytewise copies),
 * both B scalings, both A scale layouts, both formats, C, both outputs.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';

import { availableBackends, expectFp8kitError, firstMismatch, fp8, rng, seed, uniform, variants } from './helpers.js';

const backend = 'cuda-emu';
const SHAPES: [number, number, number][] = [[1, 7, 130], [17, 129, 256], [3, 5, 1], [130, 64, 300], [129, 257, 77], [200, 136, 512]];

function normal(n: number, s: number): Float32Array {
  const u = uniform(rng(s));
  return Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(u() + 1e-12)) * Math.cos(2 * Math.PI * u()));
}

interface Case {
  m: number;
  n: number;
  k: number;
  bTile: [number, number];
  scaleLayout: 'row' | 'mn-major';
  formats: ['e4m3' | 'e5m2', 'e4m3' | 'e5m2'];
}

/** Every shape once, the options cycling so each is met on several shapes. */
function cases(): Case[] {
  const formats: Case['formats'][] = [['e4m3', 'e4m3'], ['e4m3', 'e5m2'], ['e5m2', 'e4m3'], ['e5m2', 'e5m2']];
  return SHAPES.flatMap(([m, n, k], i) =>
    [0, 1].map((j) => ({ m, n, k, bTile: (i + j) % 2 ? [1, 128] : [128, 128], scaleLayout: j ? 'mn-major' : 'row', formats: formats[(i + 2 * j) % 4] }) as Case),
  );
}

function operands(c: Case, s: number) {
  const a = fp8.tensor('f32', [c.m, c.k], normal(c.m * c.k, s));
  const b = fp8.tensor('f32', [c.n, c.k], normal(c.n * c.k, s + 1));
  return {
    qa: fp8.quantizeSync(a, { format: c.formats[0], scaleLayout: c.scaleLayout, backend: 'ref' }),
    qb: fp8.quantizeSync(b, { tile: c.bTile, format: c.formats[1], backend: 'ref' }),
    c: fp8.tensor('f32', [c.m, c.n], normal(c.m * c.n, s + 2)),
  };
}

const label = (c: Case) => `[${c.m}, ${c.n}, ${c.k}] B ${c.bTile.join('x')}, A scales ${c.scaleLayout}, ${c.formats.join(' x ')}`;

describe('the CUDA GEMM kernel on cuda-emu', () => {
  for (const [order, within] of variants(backend)) {
    test(`${order}: promoted against exact, f32 out, calcDiff < 1e-10 (exact emulated MMA)`, () => {
      const s = seed(`gemm emu exact ${order}`);
      for (const [i, c] of cases().entries()) {
        const { qa, qb, c: cm } = operands(c, s + i);
        for (const withC of [undefined, cm]) {
          const got = within(() => fp8.gemmSync(qa, qb, { out: 'f32', c: withC, backend }));
          const want = fp8.gemmSync(qa, qb, { out: 'f32', c: withC, accumulate: 'exact', backend: 'ref' });
          expect(fp8.calcDiff(got, want), label(c)).toBeLessThan(1e-10);
        }
      }
    }, 60_000);

    test(`${order}: with the hardware-like MMA, equals ref 'limited' + promotionInterval 128 bit for bit, f32 and bf16 out`, () => {
      const s = seed(`gemm emu limited ${order}`);
      process.env.FP8KIT_EMU_MMA = 'limited';
      try {
        for (const [i, c] of cases().entries()) {
          const { qa, qb, c: cm } = operands(c, s + i);
          for (const out of ['f32', 'bf16'] as const) {
            const withC = i % 2 ? cm : undefined;
            const got = within(() => fp8.gemmSync(qa, qb, { out, c: withC, backend }));
            const want = fp8.gemmSync(qa, qb, { out, c: withC, accumulate: 'limited', promotionInterval: 128, backend: 'ref' });
            expect(firstMismatch(got.data, want.data), `${label(c)} ${out}${withC ? ' + C' : ''}`).toBe(-1);
          }
        }
      } finally {
        delete process.env.FP8KIT_EMU_MMA;
      }
    }, 60_000);
  }

  test('a kernel that skipped promotion would be caught: at K = 4096 the limited MMA without promotion is far from the kernel', () => {
    // The kernel's bits equal ref's promoted-every-128 model (above); the same data without promotion
    // (ref 'limited' with no interval) differs from it by orders of magnitude more than the bar.
    const s = seed('gemm emu promotion');
    const u = uniform(rng(s));
    const a = fp8.quantizeSync(fp8.tensor('f32', [16, 4096], Float32Array.from({ length: 16 * 4096 }, () => u() + 0.01)), { backend: 'ref' });
    const b = fp8.quantizeSync(fp8.tensor('f32', [16, 4096], Float32Array.from({ length: 16 * 4096 }, () => u() + 0.01)), { tile: [128, 128], backend: 'ref' });
    const exact = fp8.gemmSync(a, b, { out: 'f32', accumulate: 'exact', backend: 'ref' });
    process.env.FP8KIT_EMU_MMA = 'limited';
    let got;
    try {
      got = fp8.gemmSync(a, b, { out: 'f32', backend });
    } finally {
      delete process.env.FP8KIT_EMU_MMA;
    }
    const never = fp8.gemmSync(a, b, { out: 'f32', accumulate: 'limited', backend: 'ref' });
    const rel = (x: fp8.Tensor<'f32'>) => {
      let num = 0, den = 0;
      for (let i = 0; i < x.data.length; i++) (num = Math.max(num, Math.abs(x.data[i] - exact.data[i]))), (den = Math.max(den, Math.abs(exact.data[i])));
      return num / den;
    };
    console.log(`[gemm emu] K = 4096, all positive: kernel (limited MMA) ${rel(got).toExponential(2)}, never promoting ${rel(never).toExponential(2)} of max|exact|`);
    expect(rel(got)).toBeLessThan(1e-3);
    expect(rel(never)).toBeGreaterThan(1e-2);
  }, 60_000);

  /** The profile counters' rows (one per launch) for `fn` on cuda-emu. */
  function profiledRows(fn: () => unknown) {
    const dir = mkdtempSync(join(tmpdir(), 'fp8kit-gemm-profile-'));
    const file = join(dir, 'profile.jsonl');
    process.env.FP8KIT_EMU_PROFILE = file;
    try {
      fn();
    } finally {
      delete process.env.FP8KIT_EMU_PROFILE;
    }
    const rows = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    rmSync(dir, { recursive: true, force: true });
    return rows;
  }
  /** The row of a call of `fn` that launches one kernel. */
  function profiled(fn: () => unknown) {
    const rows = profiledRows(fn);
    expect(rows).toHaveLength(1);
    return rows[0];
  }

  test("FP8KIT_EMU_PROFILE, packWeights of B stored [K, N]: whole lines read and written, no bank conflicts", () => {
    const [n, k] = [256, 384];
    const bt = fp8.quantizeSync(fp8.tensor('f32', [k, n], normal(k * n, 14)), { tile: [128, 128], backend: 'ref' });
    const rows = profiledRows(() => fp8.packWeightsSync(bt, { layout: 'nn', backend }));
    console.log(`[gemm emu profile pack] ${JSON.stringify(rows)}`);
    const p = rows.find((r) => /gemm_pack_b_kernel/.test(r.kernel));
    expect(p.blocks).toBe(3 * 2);
    expect(p.globalLoads.requests).toBe(6 * 8 * 4);  // blocks x warps x 4 cp.async per thread
    expect(p.globalLoads.sectors).toBe(16 * p.globalLoads.requests);
    expect(p.globalStores.sectors).toBe(16 * p.globalStores.requests);
    expect(p.sharedStores.wavefronts).toBe(p.sharedStores.idealWavefronts);
    expect(p.sharedLoads.wavefronts).toBe(p.sharedLoads.idealWavefronts);
    expect(rows.map((r) => r.kernel)).toEqual([expect.stringMatching(/gemm_pack_b_kernel<true>/), 'gemm_pack_scales_kernel']);
  }, 60_000);

  test('FP8KIT_EMU_PROFILE: no bank conflicts in its ldmatrix reads and cp.async writes, 16 sectors per global request', () => {
    const c: Case = { m: 256, n: 200, k: 384, bTile: [128, 128], scaleLayout: 'row', formats: ['e4m3', 'e4m3'] };
    const { qa, qb } = operands(c, 11);
    const p = profiled(() => fp8.gemmSync(qa, qb, { backend }));
    console.log(`[gemm emu profile] ${JSON.stringify(p)}`);
    expect(p.kernel).toMatch(/gemm_kernel/);
    expect(p.blocks).toBe(2 * 2);
    // per block: 3 K tiles x (A + B) x 4 cp.async per thread = 24 per thread, 8 warps
    expect(p.globalLoads.requests).toBe(4 * 8 * 24);
    expect(p.globalLoads.sectors).toBeLessThanOrEqual(16 * p.globalLoads.requests);
    expect(p.sharedStores.wavefronts).toBe(p.sharedStores.idealWavefronts);
    // per warp and K tile: 2 halves x 4 k32 steps x (2 A + 2 B) ldmatrix.x4
    expect(p.sharedLoads.requests).toBe(4 * 8 * 3 * 2 * 4 * 4);
    expect(p.sharedLoads.wavefronts).toBe(p.sharedLoads.idealWavefronts);
    // 16-byte stores along whole rows: sectors wasted only where a 400-byte row of D ends mid-sector
    expect(p.globalStores.bytes / (32 * p.globalStores.sectors)).toBeGreaterThan(0.9);
  }, 60_000);

  test("FP8KIT_EMU_PROFILE, layout 'tn': the shared-memory transposes write without bank conflicts", () => {
    const [m, n, k] = [128, 128, 256];
    const at = fp8.quantizeSync(fp8.tensor('f32', [k, m], normal(k * m, 12)), { tile: [128, 1], backend: 'ref' });
    const bt = fp8.quantizeSync(fp8.tensor('f32', [k, n], normal(k * n, 13)), { tile: [128, 128], backend: 'ref' });
    const p = profiled(() => fp8.gemmSync(at, bt, { layout: 'tn', backend }));
    console.log(`[gemm emu profile tn] ${JSON.stringify(p)}`);
    // per K tile: 2 x 4 cp.async (1 phase-set each) and 2 x 4 transposed 16-byte rows per thread, 8 warps
    expect(p.sharedStores.requests).toBe(2 * 8 * (8 + 8));
    expect(p.sharedStores.wavefronts).toBe(p.sharedStores.idealWavefronts);
    expect(p.sharedLoads.wavefronts).toBe(p.sharedLoads.idealWavefronts);
    expect(p.globalLoads.sectors).toBe(16 * p.globalLoads.requests);  // whole 128-byte rows of K tiles, M and N contiguous
  }, 60_000);

  test("small M ('nt', M <= 32) takes the 32 x 32 kernel, with the large kernel's bits; no bank conflicts in it", () => {
    // The first 32 rows of a 33-row GEMM (the 128 x 128 kernel) against a 32-row GEMM (the small one), the same B.
    const s = seed('gemm emu decode');
    const c: Case = { m: 33, n: 300, k: 700, bTile: [1, 128], scaleLayout: 'row', formats: ['e4m3', 'e4m3'] };
    const { qa, qb } = operands(c, s);
    const a32 = fp8.quantizeSync(fp8.tensor('f32', [32, 700], normal(33 * 700, s).subarray(0, 32 * 700)), { backend: 'ref' });
    expect(firstMismatch((qa.data as fp8.Tensor).data.subarray(0, 32 * 700), (a32.data as fp8.Tensor).data)).toBe(-1);
    for (const mode of ['exact', 'limited']) {
      process.env.FP8KIT_EMU_MMA = mode;
      try {
        const big = fp8.gemmSync(qa, qb, { out: 'f32', backend });
        const small = fp8.gemmSync(a32, qb, { out: 'f32', backend });
        expect(firstMismatch(new Uint32Array(small.data.buffer), new Uint32Array(big.data.buffer, 0, 32 * 300)), mode).toBe(-1);
      } finally {
        delete process.env.FP8KIT_EMU_MMA;
      }
    }
    // Profiled where the copies are cp.async and the stores 16 bytes (K, N multiples of 16).
    const aligned = operands({ ...c, m: 4, n: 320, k: 768 }, s + 1);
    const p = profiled(() => fp8.gemmSync(aligned.qa, aligned.qb, { backend }));
    console.log(`[gemm emu profile decode] ${JSON.stringify(p)}`);
    expect(p.kernel).toMatch(/gemm_decode_kernel/);
    expect(p.blocks).toBe(320 / 32);
    expect(p.globalLoads.requests).toBe(10 * 8 * 6 * 2);  // blocks x warps x K tiles x (A + B)
    expect(p.globalStores.requests).toBeGreaterThan(0);
    expect(p.sharedLoads.wavefronts).toBe(p.sharedLoads.idealWavefronts);
    expect(p.sharedStores.wavefronts).toBe(p.sharedStores.idealWavefronts);
    expect(p.globalLoads.sectors).toBeLessThanOrEqual(16 * p.globalLoads.requests);
  }, 60_000);

  test('refuses what the kernel does not compute, naming it', () => {
    const c: Case = { m: 4, n: 8, k: 128, bTile: [128, 128], scaleLayout: 'row', formats: ['e4m3', 'e4m3'] };
    const { qa, qb } = operands(c, 5);
    expectFp8kitError(() => fp8.gemmSync(qa, qb, { accumulate: 'exact', backend }), 'ERR_ARGUMENT', /accumulates as the tensor cores do.*'exact' and 'limited' are ref\/cpu modes/);
    expectFp8kitError(() => fp8.gemmSync(qa, qb, { accumulate: 'limited', backend }), 'ERR_ARGUMENT', /'exact' and 'limited' are ref\/cpu modes/);
  });
});

/** 'tn' and 'nn' of operands quantized where they lie against 'nt' of the same data quantized [M, K] /
 * [N, K]: the same tiles, so the same codes and scales, and the same bits from a deterministic kernel. */
function layoutsAgainstNt(backend: string, s: number) {
  const [m, n, k] = [200, 136, 512];
  const a = fp8.tensor('f32', [m, k], normal(m * k, s)), b = fp8.tensor('f32', [n, k], normal(n * k, s + 1));
  const t = (x: fp8.Tensor<'f32'>, r: number, q: number) => fp8.tensor('f32', [q, r], Float32Array.from({ length: r * q }, (_, j) => x.data[(j % r) * q + Math.floor(j / r)]));
  const at = fp8.quantizeSync(t(a, m, k), { tile: [128, 1], backend: 'ref' }), bt = fp8.quantizeSync(t(b, n, k), { tile: [128, 128], backend: 'ref' });
  const qa = fp8.quantizeSync(a, { backend: 'ref' }), qb = fp8.quantizeSync(b, { tile: [128, 128], backend: 'ref' });
  const nt = fp8.gemmSync(qa, qb, { out: 'f32', backend });
  for (const [layout, A, B] of [['tn', at, bt], ['nn', qa, bt], ['tt', at, qb]] as const)
    expect(firstMismatch(new Uint32Array(fp8.gemmSync(A, B, { out: 'f32', layout, backend }).data.buffer), new Uint32Array(nt.data.buffer)), layout).toBe(-1);
}

test('cuda-emu: layouts of operands quantized where they lie equal nt bit for bit', () => layoutsAgainstNt('cuda-emu', seed('gemm emu layouts')));

// On a GPU (npm run test:gpu requires one): the same kernel on the hardware tensor cores, against SPEC's
// bar for them (calcDiff < 1e-6: they keep about 14 bits inside each 128-block), and its transposed reads
// against its own 'nt' bit for bit.
describe.skipIf(!availableBackends().includes('cuda'))('the CUDA GEMM kernel on the GPU', () => {
  test('promoted against exact, f32 out, calcDiff < 1e-6; the layouts equal nt bit for bit', () => {
    const s = seed('gemm cuda');
    for (const [i, c] of cases().entries()) {
      const { qa, qb, c: cm } = operands(c, s + i);
      const got = fp8.gemmSync(qa, qb, { out: 'f32', c: cm, backend: 'cuda' });
      const want = fp8.gemmSync(qa, qb, { out: 'f32', c: cm, accumulate: 'exact', backend: 'ref' });
      expect(fp8.calcDiff(got, want), label(c)).toBeLessThan(1e-6);
    }
    layoutsAgainstNt('cuda', s);
  }, 120_000);
});
