/**
 * SPEC §4 "Prepacked weights": a packed B gives the unpacked call's bits — every backend, SIMD level,
 * layout, tiling and accumulation mode, dense and grouped — and a packing is refused where it does not belong.
 */
import { describe, expect, test } from 'vitest';

import { expectFp8kitError, firstMismatch, fp8, packCases, packValues, seed, variants } from './helpers.js';

type Q = ReturnType<typeof fp8.quantizeSync>;
const backends = fp8.backends().filter((b) => b.available && b.name !== 'cuda-emu' && b.name !== 'cuda').map((b) => b.name);

const values = packValues;

const bits = (t: unknown) => {
  const d = (t as fp8.Tensor).data as Float32Array;
  return new Uint32Array(d.buffer, d.byteOffset, d.length);
};

describe('packed B equals unpacked B, bit for bit', () => {
  for (const backend of backends)
    for (const [label, within] of variants(backend))
      test(`${backend} ${label}: layouts nt/nn/tn/tt, 1D2D and 1D1D, every accumulation`, () =>
        within(() => {
          const s = seed(`pack ${backend} ${label}`);
          for (const { m, n, k, layout, bTile, qa, qb } of packCases(s)) {
            const packed = fp8.packWeightsSync(qb, { layout, backend });
            expect(packed.shape).toEqual([n, k]);
            for (const accumulate of ['promoted', 'exact', 'limited'] as const)
              for (const out of ['f32', 'bf16'] as const) {
                const want = fp8.gemmSync(qa, qb, { out, layout, accumulate, backend });
                const got = fp8.gemmSync(qa, packed, { out, layout, accumulate });
                const w = out === 'f32' ? bits(want) : (want.data as Uint16Array);
                const g = out === 'f32' ? bits(got) : (got.data as Uint16Array);
                expect(firstMismatch(g, w), `[${m}, ${n}, ${k}] ${layout} ${bTile} ${accumulate} ${out}`).toBe(-1);
              }
          }
        }));
});

describe('grouped GEMMs take packed [G, N, K] weights', () => {
  const [G, N, K] = [3, 40, 200];
  // Every backend here: the cuda ones keep the packing in device memory (test/pack-device.test.ts has the rest).
  for (const backend of fp8.backends().filter((b) => b.available).map((b) => b.name))
    test(`${backend}: contiguous and masked, sync and Promise, equal to the unpacked weights`, async () => {
      const s = seed(`pack grouped ${backend}`);
      const qb = fp8.quantizeSync(fp8.tensor('f32', [G, N, K], values(G * N * K, s)), { tile: [128, 128], backend: 'ref' });
      const packed = await fp8.packWeights(qb, { backend });
      expect(packed.shape).toEqual([G, N, K]);
      expect(packed.location).toBe(backend.startsWith('cuda') ? 'device' : 'host');
      if (packed.location === 'host') expect(firstMismatch(packed.data as Uint8Array, fp8.packWeightsSync(qb, { backend }).data as Uint8Array)).toBe(-1);
      const M = 256;
      const idx = new Int32Array(M).fill(-1);
      idx.fill(2, 0, 100);
      idx.fill(0, 128, 131);
      const qa = fp8.quantizeSync(fp8.tensor('f32', [M, K], values(M * K, s + 1)), { backend: 'ref' });
      const want = fp8.groupedGemmContiguousSync(qa, qb, idx, { out: 'f32', backend });
      expect(firstMismatch(bits(fp8.groupedGemmContiguousSync(qa, packed, idx, { out: 'f32' })), bits(want))).toBe(-1);
      expect(firstMismatch(bits(await fp8.groupedGemmContiguous(qa, packed, idx, { out: 'f32' })), bits(want))).toBe(-1);
      const q3 = fp8.quantizeSync(fp8.tensor('f32', [G, 64, K], values(G * 64 * K, s + 2)), { backend: 'ref' });
      const masked = Int32Array.of(64, 0, 17);
      const wantM = fp8.groupedGemmMaskedSync(q3, qb, masked, { out: 'f32', backend });
      expect(firstMismatch(bits(fp8.groupedGemmMaskedSync(q3, packed, masked, { out: 'f32' })), bits(wantM))).toBe(-1);
      expect(firstMismatch(bits(await fp8.groupedGemmMasked(q3, packed, masked, { out: 'f32' })), bits(wantM))).toBe(-1);
    });
});

describe('a packing is refused where it does not belong', () => {
  const s = 5;
  const qa: Q = fp8.quantizeSync(fp8.tensor('f32', [4, 256], values(1024, s)));
  const qb: Q = fp8.quantizeSync(fp8.tensor('f32', [8, 256], values(2048, s + 1)), { tile: [128, 128] });

  test('another backend, another K, grouped weights in a dense GEMM and back, bad tiles', () => {
    const ref = fp8.packWeightsSync(qb, { backend: 'ref' });
    expectFp8kitError(() => fp8.gemmSync(qa, ref, { backend: 'cpu' }), 'ERR_ARGUMENT', /b was packed for backend 'ref' and this call runs on 'cpu'/);
    const other = fp8.packWeightsSync(fp8.quantizeSync(fp8.tensor('f32', [8, 384], values(3072, s)), { tile: [128, 128] }));
    expectFp8kitError(() => fp8.gemmSync(qa, other), 'ERR_SHAPE', /K differs: a\.data \[4, 256\] has K = 256 and packed b \[N, K\] = \[8, 384\]/);
    const grouped = fp8.packWeightsSync(fp8.quantizeSync(fp8.tensor('f32', [2, 8, 256], values(4096, s)), { tile: [128, 128] }));
    expectFp8kitError(() => fp8.gemmSync(qa, grouped), 'ERR_SHAPE', /a GEMM takes one matrix/);
    expectFp8kitError(() => fp8.groupedGemmMaskedSync(fp8.quantizeSync(fp8.tensor('f32', [2, 4, 256], values(2048, s))), fp8.packWeightsSync(qb), Int32Array.of(1, 1)), 'ERR_SHAPE', /a grouped GEMM takes weights packed from \[G, N, K\]/);
    expectFp8kitError(() => fp8.packWeightsSync(fp8.quantizeSync(fp8.tensor('f32', [8, 256], values(2048, s)), { tile: [1, 64] })), 'ERR_ARGUMENT', /tiles must be 128×128 or 1×128; got 1×64/);
    expectFp8kitError(() => fp8.packWeightsSync(fp8.quantizeSync(fp8.tensor('f32', [8, 256], values(2048, s))), { layout: 'nn' }), 'ERR_ARGUMENT', /b is stored \[K, N\] for layout 'nn', so its tiles must be 128×128 or 128×1; got 1×128/);
  });

  test('bytes another backend packed are refused by the native check', () => {
    const ref = fp8.packWeightsSync(qb, { backend: 'ref' });
    const cpuBytes = fp8.packWeightsSync(qb, { backend: 'cpu' }).bytes;
    const forged = new fp8.PackedWeights('cpu', [8, 256], 'e4m3', [128, 128], cpuBytes, new Uint8Array(Math.max(cpuBytes, ref.bytes)).fill(0).map((_, i) => ref.data[i] ?? 0));
    expectFp8kitError(() => fp8.gemmSync(qa, forged), 'ERR_ARGUMENT', /b was packed by another backend \('ref'; this one packs as 'cp1'\)/);
    const zeros = new fp8.PackedWeights('cpu', [8, 256], 'e4m3', [128, 128], cpuBytes, new Uint8Array(cpuBytes));
    expectFp8kitError(() => fp8.gemmSync(qa, zeros), 'ERR_ARGUMENT', /b is not a packed B/);
    const short = new fp8.PackedWeights('cpu', [8, 256], 'e4m3', [128, 128], 64, new Uint8Array(64));
    expectFp8kitError(() => fp8.gemmSync(qa, short), 'ERR_SHAPE', /b \(packed\) holds fewer elements/);
  });
});
