/**
 * SPEC §2 G×1 column tiles: the scales of 1×G on the transpose, transposed, and its bytes transposed
 * back — checked against exactly that on ref, then every cpu SIMD level against ref bit for bit.
 */
import { describe, expect, test } from 'vitest';

import { castInputs, firstMismatch, fp8, seed, variants } from './helpers.js';

type Q = ReturnType<typeof fp8.quantizeSync>;
const bytes = (q: Q) => (q.data as fp8.Tensor).data as Uint8Array;
const scales = (q: Q) => new Uint32Array(((q.scales as fp8.Tensor<'f32'>).data as Float32Array).buffer);

function transpose<T extends Float32Array | Uint8Array | Uint32Array>(a: T, rows: number, cols: number): T {
  const out = new (a.constructor as new (n: number) => T)(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
  return out;
}

describe('quantize with [G, 1] column tiles', () => {
  test('ref: equals the transpose of 1×G on the transpose, for every format, scale format and G', () => {
    const s = seed('columns ref');
    for (const [m, k] of [[300, 77], [128, 128], [1, 5], [129, 1]] as [number, number][]) {
      const x = castInputs(m * k, s + m + k);
      for (const g of [16, 128, 256])
        for (const format of ['e4m3', 'e5m2'] as const)
          for (const scaleFormat of ['f32', 'ue8m0'] as const) {
            const got = fp8.quantizeSync(fp8.tensor('f32', [m, k], x), { tile: [g, 1], format, scaleFormat, backend: 'ref' });
            expect(got.scales.shape).toEqual([Math.ceil(m / g), k]);
            const t = fp8.quantizeSync(fp8.tensor('f32', [k, m], transpose(x, m, k)), { tile: [1, g], format, scaleFormat, backend: 'ref' });
            expect(firstMismatch(bytes(got), transpose(bytes(t), k, m)), `[${m}, ${k}] G ${g} ${format}`).toBe(-1);
            expect(firstMismatch(scales(got), transpose(scales(t), k, Math.ceil(m / g))), `[${m}, ${k}] G ${g} scales`).toBe(-1);
          }
    }
  });

  for (const [label, within] of variants('cpu'))
    test(`cpu, ${label}: equals ref bit for bit (f32 and bf16 input, a batch, NaN tiles), and dequantizes back like ref`, () => {
      const s = seed(`columns cpu ${label}`);
      const shape = [2, 260, 333];
      const x = castInputs(2 * 260 * 333, s);
      const f32 = fp8.tensor('f32', shape, x);
      for (const input of [f32, fp8.castToBf16Sync(f32)])
        for (const g of [32, 128]) {
          const want = fp8.quantizeSync(input, { tile: [g, 1], backend: 'ref' });
          const got = within(() => fp8.quantizeSync(input, { tile: [g, 1], backend: 'cpu' }));
          expect(firstMismatch(bytes(got), bytes(want))).toBe(-1);
          expect(firstMismatch(scales(got), scales(want))).toBe(-1);
          for (const out of ['f32', 'bf16'] as const) {
            const back = within(() => fp8.dequantizeSync(got, { out, backend: 'cpu' })) as fp8.Tensor;
            const ref = fp8.dequantizeSync(want, { out, backend: 'ref' }) as fp8.Tensor;
            const b = (t: fp8.Tensor) => (out === 'f32' ? new Uint32Array((t.data as Float32Array).buffer) : (t.data as Uint16Array));
            expect(firstMismatch(b(back), b(ref))).toBe(-1);
          }
        }
      // Subnormal scales (a tiny eps over columns of zeros and tiny values) take the scalar path per column.
      const tiny = Float32Array.from(x, (v, i) => (i % 333 < 40 ? 0 : i % 333 < 80 ? v * 1e-38 : v));
      for (const input of [fp8.tensor('f32', shape, tiny), fp8.castToBf16Sync(fp8.tensor('f32', shape, tiny))]) {
        const want = fp8.quantizeSync(input, { tile: [32, 1], eps: 1e-42, backend: 'ref' });
        const got = within(() => fp8.quantizeSync(input, { tile: [32, 1], eps: 1e-42, backend: 'cpu' }));
        expect(firstMismatch(bytes(got), bytes(want)), 'tiny eps').toBe(-1);
        expect(firstMismatch(scales(got), scales(want)), 'tiny eps').toBe(-1);
      }
    });

  // cuda-emu: native/cuda/quantize_columns.cuh. [*, 333]: columns one by one; [*, 2056]: 16-byte runs, and
  // more columns than one block's strip (1024 f32 / 2048 bf16).
  for (const [label, within] of variants('cuda-emu'))
    test(`cuda-emu, ${label}: the CUDA kernel equals ref bit for bit (f32 and bf16, a batch, NaN tiles, partial tiles, tiny eps)`, () => {
      const s = seed(`columns emu ${label}`);
      for (const shape of [[2, 260, 333], [1, 130, 2056]]) {
        const n = shape.reduce((a, b) => a * b);
        const x = castInputs(n, s + n);
        const tiny = Float32Array.from(x, (v, i) => (i % shape[2] < 40 ? 0 : i % shape[2] < 80 ? v * 1e-38 : v));
        for (const data of [x, tiny]) {
          const f32 = fp8.tensor('f32', shape, data);
          for (const input of [f32, fp8.castToBf16Sync(f32)])
            for (const g of [32, 128, 1024]) {
              const eps = data === tiny ? 1e-42 : undefined;
              const want = fp8.quantizeSync(input, { tile: [g, 1], eps, backend: 'ref' });
              const got = within(() => fp8.quantizeSync(input, { tile: [g, 1], eps, backend: 'cuda-emu' }));
              expect(firstMismatch(bytes(got), bytes(want)), `[${shape}] ${input.dtype} G ${g}`).toBe(-1);
              expect(firstMismatch(scales(got), scales(want)), `[${shape}] ${input.dtype} G ${g} scales`).toBe(-1);
            }
        }
      }
    });

  test('strict names the first non-finite column tile on ref, cpu and cuda-emu; castTranspose refuses column tiles', () => {
    const x = new Float32Array(40 * 20).fill(1);
    x[33 * 20 + 7] = NaN;
    x[38 * 20 + 12] = Infinity;
    for (const backend of ['ref', 'cpu', 'cuda-emu'])
      expect(() => fp8.quantizeSync(fp8.tensor('f32', [40, 20], x), { tile: [16, 1], strict: true, backend })).toThrow(/tile \[2, 7\] \(rows 32\.\.39, columns 7\.\.7\) holds a NaN/);
    expect(() => fp8.castTransposeSync(fp8.tensor('f32', [40, 20], x), { tile: [16, 1] })).toThrow(/options\.tile must be \[1, G\] or \[G, G\]/);
    expect(() => fp8.dequantizeSync(fp8.quantizeSync(fp8.tensor('f32', [40, 20]), { tile: [16, 1] }), { backend: 'cuda-emu' })).toThrow(/cuda-emu does not implement 16 x 1 column tiles/);
    expect(() => fp8.quantizeSync(fp8.tensor('f32', [40, 20], x), { tile: [16, 8] as never })).toThrow(/\[1, G\], \[G, 1\] or \[G, G\]/);
  });

  test("a 'tn' GEMM takes operands quantized where they lie, equal to 'nt' of the transposed copies", () => {
    const s = seed('columns gemm');
    const [m, n, k] = [40, 72, 300];
    const a = castInputs(k * m, s).map((v) => (Number.isFinite(v) ? Math.max(-1e4, Math.min(1e4, v)) : 0));
    const b = castInputs(k * n, s + 1).map((v) => (Number.isFinite(v) ? Math.max(-1e4, Math.min(1e4, v)) : 0));
    for (const backend of ['ref', 'cpu']) {
      const qa = fp8.quantizeSync(fp8.tensor('f32', [k, m], a), { tile: [128, 1], backend });
      const qb = fp8.quantizeSync(fp8.tensor('f32', [k, n], b), { tile: [128, 1], backend });
      const got = fp8.gemmSync(qa, qb, { layout: 'tn', out: 'f32', backend }) as fp8.Tensor<'f32'>;
      const qat = fp8.quantizeSync(fp8.tensor('f32', [m, k], transpose(a, k, m)), { backend });
      const qbt = fp8.quantizeSync(fp8.tensor('f32', [n, k], transpose(b, k, n)), { backend });
      const want = fp8.gemmSync(qat, qbt, { out: 'f32', backend }) as fp8.Tensor<'f32'>;
      expect(firstMismatch(new Uint32Array(got.data.buffer), new Uint32Array(want.data.buffer)), backend).toBe(-1);
    }
  });
});
