/**
 * SPEC §4 "Prepacked weights" on the cuda backends: packWeights puts B in device memory in the GEMM
 * kernel's own layout ('nt' rows padded to 16 bytes, scales beside them), and every later GEMM gives the
 * unpacked call's bits — both thread orders of cuda-emu, every layout and tiling (grouped: test/pack.test.ts).
 */
import { describe, expect, test } from 'vitest';

import { availableBackends, expectFp8kitError, firstMismatch, fp8, packCases, packValues, seed, variants } from './helpers.js';

const deviceBackends = availableBackends().filter((b) => b === 'cuda-emu' || b === 'cuda');

const values = packValues;
const bits = (t: fp8.Tensor) => (t.dtype === 'f32' ? new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length) : (t.data as Uint16Array));

for (const backend of deviceBackends)
  describe(`${backend}: packed weights in device memory`, () => {
    for (const [label, within] of variants(backend))
      test(`${label}: layouts nt/nn/tn/tt, 1D2D and 1D1D, both outputs, equal to unpacked B`, () =>
        within(() => {
          const s = seed(`pack device ${backend} ${label}`);
          // K = 130 and 257: A unaligned (bytewise copies) beside a padded B; 32 <= M: the small-M kernel for 'nt'/'nn'.
          for (const { m, n, k, layout, bTile, qa, qb } of packCases(s, (lines) => (lines ? 'e5m2' : 'e4m3'))) {
            const packed = fp8.packWeightsSync(qb, { layout, backend });
            expect(packed.location).toBe('device');
            expect(packed.shape).toEqual([n, k]);
            for (const out of ['f32', 'bf16'] as const) {
              const want = fp8.gemmSync(qa, qb, { out, layout, backend });
              const got = fp8.gemmSync(qa, packed, { out, layout });
              expect(got.data, 'a host A gives a host result').toBeInstanceOf(out === 'f32' ? Float32Array : Uint16Array);
              expect(firstMismatch(bits(got), bits(want)), `[${m}, ${n}, ${k}] ${layout} ${bTile} ${out}`).toBe(-1);
            }
          }
        }), 120_000);

    test('device operands and a device result with device-packed weights; free() releases them and later calls are refused', () => {
      const s = seed(`pack device operands ${backend}`);
      const [m, n, k] = [5, 48, 256];
      const qa = fp8.quantizeSync(fp8.tensor('f32', [m, k], values(m * k, s)), { backend: 'ref' });
      const qb = fp8.quantizeSync(fp8.tensor('f32', [n, k], values(n * k, s + 1)), { tile: [128, 128], backend: 'ref' });
      const want = fp8.gemmSync(qa, qb, { out: 'f32', backend });
      const packed = fp8.packWeightsSync({ ...qb, data: fp8.uploadSync(qb.data, { backend }), scales: fp8.uploadSync(qb.scales, { backend }) }, { backend });
      const da = { ...qa, data: fp8.uploadSync(qa.data, { backend }), scales: fp8.uploadSync(qa.scales, { backend }) };
      const got = fp8.gemmSync(da, packed, { out: 'f32' });
      expect(got).toBeInstanceOf(fp8.DeviceTensor);
      expect(firstMismatch(bits((got as fp8.DeviceTensor<'f32'>).downloadSync()), bits(want))).toBe(-1);
      expect(packed.freed).toBe(false);
      packed.free();
      expect(packed.freed).toBe(true);
      expectFp8kitError(() => fp8.gemmSync(qa, packed), 'ERR_ARGUMENT', /b is packed weights whose device memory was freed/);
    });

    test('refused where it does not belong: another backend, and (cuda-emu, whose device memory the host reads) bytes that are not this B', () => {
      const s = seed(`pack device refusals ${backend}`);
      const qa = fp8.quantizeSync(fp8.tensor('f32', [4, 256], values(1024, s)), { backend: 'ref' });
      const qb = fp8.quantizeSync(fp8.tensor('f32', [8, 256], values(2048, s + 1)), { tile: [128, 128], backend: 'ref' });
      const packed = fp8.packWeightsSync(qb, { backend });
      expectFp8kitError(() => fp8.gemmSync(qa, packed, { backend: 'cpu' }), 'ERR_ARGUMENT', new RegExp(`b was packed for backend '${backend}' and this call runs on 'cpu'`));
      expectFp8kitError(() => fp8.gemmSync(qa, fp8.packWeightsSync(qb, { backend: 'cpu' }), { backend }), 'ERR_ARGUMENT', new RegExp(`b was packed for backend 'cpu' and this call runs on '${backend}'`));
      expectFp8kitError(() => fp8.gemmSync(qa, packed, { accumulate: 'exact' }), 'ERR_ARGUMENT', /'exact' and 'limited' are ref\/cpu modes/);
      if (backend !== 'cuda-emu') return;
      const zeros = fp8.uploadSync(fp8.tensor('u8', [packed.bytes], new Uint8Array(packed.bytes)), { backend });
      const forged = new fp8.PackedWeights(backend, [8, 256], 'e4m3', [128, 128], packed.bytes, [zeros]);
      expectFp8kitError(() => fp8.gemmSync(qa, forged), 'ERR_ARGUMENT', /b is not a packed B/);
      // This B's bytes presented as a B with K = 200 (which needs no more bytes): the header says otherwise.
      const relabelled = new fp8.PackedWeights(backend, [8, 200], 'e4m3', [128, 128], packed.bytes, [packed.data as fp8.DeviceTensor<'u8'>]);
      const a200 = fp8.quantizeSync(fp8.tensor('f32', [4, 200], values(800, s + 2)), { backend: 'ref' });
      expectFp8kitError(() => fp8.gemmSync(a200, relabelled), 'ERR_ARGUMENT', /packed b holds N = 8, K = 256, format 0; the call needs N = 8, K = 200/);
    });
  });
