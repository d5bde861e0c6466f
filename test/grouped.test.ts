/** SPEC §4 grouped GEMMs against one dense GEMM per group, computed on ref from separately quantized pieces. */
import { describe, expect, test } from 'vitest';

import { firstMismatch, fp8, rng, seed, uniform } from './helpers.js';

const backends = ['ref', 'cpu', 'cuda-emu'];  // cuda-emu: the CUDA GEMM kernel on each piece

function values(n: number, s: number): Float32Array {
  const u = uniform(rng(s));
  return Float32Array.from({ length: n }, () => (u() - 0.5) * 4);
}

const [G, N, K] = [3, 72, 200];

function weights(s: number) {
  const w = values(G * N * K, s);
  const q = fp8.quantizeSync(fp8.tensor('f32', [G, N, K], w), { tile: [128, 128], backend: 'ref' });
  const group = (g: number) => fp8.quantizeSync(fp8.tensor('f32', [N, K], w.slice(g * N * K, (g + 1) * N * K)), { tile: [128, 128], backend: 'ref' });
  return { q, group };
}

describe('groupedGemmContiguous', () => {
  // Group 1 on rows 0–99 (padding to 128), group 0 on 128–130 (padding to 256), group 2 on 256–383.
  const runs: [number, number, number][] = [[1, 0, 100], [0, 128, 3], [2, 256, 128]];
  const M = 384;

  for (const backend of backends)
    test(`${backend}: each group equals its dense GEMM, padding rows are zero, sync and Promise`, async () => {
      const s = seed(`grouped contiguous ${backend}`);
      const x = values(M * K, s + 1);
      const idx = new Int32Array(M).fill(-1);
      for (const [g, r0, rows] of runs) idx.fill(g, r0, r0 + rows);
      const qa = fp8.quantizeSync(fp8.tensor('f32', [M, K], x), { backend: 'ref' });
      const { q, group } = weights(s);
      for (const d of [fp8.groupedGemmContiguousSync(qa, q, idx, { out: 'f32', backend }), await fp8.groupedGemmContiguous(qa, q, idx, { out: 'f32', backend })]) {
        expect(d.shape).toEqual([M, N]);
        const got = d.data as Float32Array;
        for (const [g, r0, rows] of runs) {
          const qa1 = fp8.quantizeSync(fp8.tensor('f32', [rows, K], x.slice(r0 * K, (r0 + rows) * K)), { backend: 'ref' });
          const want = fp8.gemmSync(qa1, group(g), { out: 'f32', backend }).data as Float32Array;
          expect(firstMismatch(got.subarray(r0 * N, (r0 + rows) * N), want), `group ${g}`).toBe(-1);
        }
        for (let r = 0; r < M; r++) if (idx[r] === -1) expect(got.subarray(r * N, (r + 1) * N).every((v) => v === 0), `row ${r}`).toBe(true);
      }
    });

  test('bad mIndices are refused: out of range, misaligned, mixed blocks, split groups, wrong type or length', () => {
    const qa = fp8.quantizeSync(fp8.tensor('f32', [256, K], values(256 * K, 3)), { backend: 'ref' });
    const { q } = weights(4);
    const call = (idx: Int32Array, o = {}) => () => fp8.groupedGemmContiguousSync(qa, q, idx, o);
    const of = (f: (i: Int32Array) => void) => {
      const i = new Int32Array(256).fill(-1);
      f(i);
      return i;
    };
    expect(call(of((i) => i.fill(3, 0, 10)))).toThrow(/mIndices\[0\] = 3 is not a group of b \(0 to 2\) nor -1/);
    expect(call(of((i) => i.fill(1, 5, 10)))).toThrow(/group 1 starts at row 5, not at a multiple of the alignment 128/);
    expect(call(of((i) => (i.fill(1, 0, 10), i.fill(2, 10, 20))))).toThrow(/alignment block of rows 0–127 mixes group 1 with 2 \(row 10\)/);
    expect(call(of((i) => (i.fill(1, 0, 10), i.fill(1, 128, 130))))).toThrow(/group 1's rows are not contiguous/);
    expect(call(of((i) => i.fill(1, 5, 10)), { alignment: 5 })).not.toThrow();
    expect(() => fp8.groupedGemmContiguousSync(qa, q, new Uint32Array(256) as never)).toThrow(/mIndices must be an Int32Array/);
    expect(() => fp8.groupedGemmContiguousSync(qa, q, new Int32Array(3))).toThrow(/mIndices has 3 entries; 256 are needed/);
  });
});

describe('groupedGemmMasked', () => {
  for (const backend of backends)
    test(`${backend}: rows below maskedM[g] equal the dense GEMM of group g, the rest are zero`, async () => {
      const s = seed(`grouped masked ${backend}`);
      const mMax = 40;
      const x = values(G * mMax * K, s + 2);
      const qa = fp8.quantizeSync(fp8.tensor('f32', [G, mMax, K], x), { backend: 'ref' });
      const { q, group } = weights(s);
      const masked = Int32Array.of(17, 0, 40);
      const into = fp8.tensor('bf16', [G, mMax, N], new Uint16Array(G * mMax * N).fill(0x7fc0));
      const d = await fp8.groupedGemmMasked(qa, q, masked, { backend, into });
      expect(d).toBe(into);
      const sync = fp8.groupedGemmMaskedSync(qa, q, masked, { backend });
      expect(firstMismatch(sync.data, into.data)).toBe(-1);
      masked.forEach((rows, g) => {
        const block = into.data.subarray(g * mMax * N, (g + 1) * mMax * N);
        if (rows) {
          const qa1 = fp8.quantizeSync(fp8.tensor('f32', [rows, K], x.slice(g * mMax * K, (g * mMax + rows) * K)), { backend: 'ref' });
          expect(firstMismatch(block.subarray(0, rows * N), fp8.gemmSync(qa1, group(g), { backend }).data as Uint16Array), `group ${g}`).toBe(-1);
        }
        expect(block.subarray(rows * N).every((v) => v === 0), `group ${g} beyond ${rows}`).toBe(true);
      });
      expect(() => fp8.groupedGemmMaskedSync(qa, q, Int32Array.of(41, 0, 0))).toThrow(/maskedM\[0\] = 41 is outside 0 to 40/);
    });
});
