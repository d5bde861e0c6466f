import { describe, expect, test } from 'vitest';

import { Format } from './fp8-model.js';
import { availableBackends, firstMismatch, fp8, rng, seed, uniform, variants } from './helpers.js';
import { dequantizeValue, quantizeModel } from './quant-model.js';

type Tile = [number, number];
const bits = (a: Float32Array | ArrayLike<number>) => new Uint32Array(Float32Array.from(a as ArrayLike<number>).buffer);

/**
 * Random matrices whose rows span the whole e4m3 range (magnitudes scaled by 2^-12 … 2^12 per row),
 * with some tiny values (subnormal results next to a large tile max), zero rows, and exact zeros.
 */
function matrix(rows: number, cols: number, s: number): Float32Array {
  const next = rng(s);
  const u = uniform(next);
  const x = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const kind = next() % 8;
    const scale = 2 ** ((next() % 25) - 12);
    for (let c = 0; c < cols; c++) {
      const g = Math.sqrt(-2 * Math.log(u() + 1e-12)) * Math.cos(2 * Math.PI * u());
      x[r * cols + c] = kind === 0 ? 0 : kind === 1 && c % 7 ? g * scale * 2 ** -14 : g * scale;
    }
  }
  return x;
}

const SHAPES: [number, number][] = [[1, 1], [1, 300], [300, 1], [3, 128], [128, 256], [130, 257], [257, 64], [33, 1000]];
const CASES: { tile: Tile; format: Format; scaleFormat: 'f32' | 'ue8m0' }[] = [
  { tile: [1, 128], format: 'e4m3', scaleFormat: 'f32' },
  { tile: [1, 128], format: 'e5m2', scaleFormat: 'ue8m0' },
  { tile: [1, 32], format: 'e4m3', scaleFormat: 'ue8m0' },
  { tile: [128, 128], format: 'e4m3', scaleFormat: 'f32' },
  { tile: [64, 64], format: 'e5m2', scaleFormat: 'f32' },
  { tile: [16, 16], format: 'e4m3', scaleFormat: 'ue8m0' },
];

describe('ref follows SPEC §2 (a JavaScript restatement)', () => {
  test.each(CASES)('quantize $tile $format $scaleFormat', ({ tile, format, scaleFormat }) => {
    const s = seed(`ref-quant ${tile} ${format} ${scaleFormat}`);
    for (const [m, k] of SHAPES) {
      const x = matrix(m, k, s + m * 7 + k);
      const q = fp8.quantizeSync(fp8.tensor('f32', [m, k], x), { tile, format, scaleFormat, backend: 'ref' });
      const want = quantizeModel(x, m, k, { tile, format, scaleFormat, eps: 1e-4 });
      expect(firstMismatch(bits(q.scales.data as Float32Array), bits(want.scales)), `scales [${m}, ${k}]`).toBe(-1);
      expect(firstMismatch(q.data.data as Uint8Array, want.data), `data [${m}, ${k}]`).toBe(-1);
      const y = fp8.dequantizeSync(q, { backend: 'ref' }).data as Float32Array;
      const sc = q.scales.data as Float32Array;
      const nc = Math.ceil(k / tile[1]);
      for (let i = 0; i < m * k; i += 13) {
        const [r, c] = [Math.floor(i / k), i % k];
        const scale = sc[Math.floor(r / tile[0]) * nc + Math.floor(c / tile[1])];
        expect(y[i]).toBe(dequantizeValue((q.data.data as Uint8Array)[i], scale, format));
      }
    }
  });

  test('eps: an all-zero tile gets scale eps/fmax and zero bytes; eps is an option', () => {
    const z = fp8.tensor('f32', [2, 256]);
    const q = fp8.quantizeSync(z, { backend: 'ref' });
    expect([...(q.scales.data as Float32Array)]).toEqual(Array(4).fill(Math.fround(Math.fround(1e-4) / 448)));
    expect((q.data.data as Uint8Array).every((b) => b === 0)).toBe(true);
    const q2 = fp8.quantizeSync(z, { backend: 'ref', eps: 0.5, format: 'e5m2' });
    expect((q2.scales.data as Float32Array)[0]).toBe(Math.fround(0.5 / 57344));
  });

  test('a tile holding NaN or ±inf gets a NaN scale and 0x7F bytes; the other tiles are untouched', () => {
    const x = matrix(4, 300, 5);
    x[1 * 300 + 200] = NaN;
    x[3 * 300 + 5] = -Infinity;
    const q = fp8.quantizeSync(fp8.tensor('f32', [4, 300], x), { backend: 'ref' });
    const sc = q.scales.data as Float32Array;
    expect(Number.isNaN(sc[1 * 3 + 1])).toBe(true);
    expect(Number.isNaN(sc[3 * 3 + 0])).toBe(true);
    expect([...(q.data.data as Uint8Array).slice(300 + 128, 300 + 256)].every((b) => b === 0x7f)).toBe(true);
    const clean = quantizeModel(x, 4, 300, { tile: [1, 128], format: 'e4m3', scaleFormat: 'f32', eps: 1e-4 });
    expect(firstMismatch(q.data.data as Uint8Array, clean.data)).toBe(-1);
  });

  test('strict: ERR_NON_FINITE naming the first tile that holds one', () => {
    const x = matrix(300, 300, 9);
    x[200 * 300 + 150] = Infinity;
    x[250 * 300 + 10] = NaN;
    for (const backend of availableBackends()) {
      let err: unknown;
      try {
        fp8.quantizeSync(fp8.tensor('f32', [300, 300], x), { tile: [128, 128], strict: true, backend });
      } catch (e) {
        err = e;
      }
      expect(err, backend).toBeInstanceOf(fp8.Fp8kitError);
      expect((err as { code: string }).code).toBe('ERR_NON_FINITE');
      expect((err as Error).message, backend).toMatch(/tile \[1, 0\] \(rows 128\.\.255, columns 0\.\.127\) holds a NaN or an infinity/);
    }
  });

  test('mn-major scales: [ceil(K/G), align4(M)], the transpose of the row layout, zero padded', () => {
    const x = fp8.tensor('f32', [5, 300], matrix(5, 300, 3));
    const row = fp8.quantizeSync(x, { backend: 'ref' });
    const mn = fp8.quantizeSync(x, { backend: 'ref', scaleLayout: 'mn-major' });
    expect(mn.scales.shape).toEqual([3, 8]);
    const r = row.scales.data as Float32Array;
    const t = mn.scales.data as Float32Array;
    for (let kb = 0; kb < 3; kb++)
      for (let m = 0; m < 8; m++) expect(t[kb * 8 + m]).toBe(m < 5 ? r[m * 3 + kb] : 0);
    expect(firstMismatch(mn.data.data as Uint8Array, row.data.data as Uint8Array)).toBe(-1);
    expect(firstMismatch(bits(fp8.dequantizeSync(mn).data as Float32Array), bits(fp8.dequantizeSync(row).data as Float32Array))).toBe(-1);
  });

  test('bf16 input quantizes as its exact f32 value; batches of matrices get per-matrix block scales', () => {
    const x = fp8.tensor('f32', [3, 130, 70], matrix(390, 70, 11));
    const xb = fp8.castToBf16Sync(x);
    const fromBf16 = fp8.quantizeSync(xb, { tile: [64, 64], backend: 'ref' });
    const viaF32 = fp8.quantizeSync(fp8.castToF32Sync(xb), { tile: [64, 64], backend: 'ref' });
    expect(fromBf16.scales.shape).toEqual([3, 3, 2]);
    expect(firstMismatch(fromBf16.data.data as Uint8Array, viaF32.data.data as Uint8Array)).toBe(-1);
    const xf = fp8.castToF32Sync(xb).data as Float32Array;
    for (let b = 0; b < 3; b++) {
      const want = quantizeModel(xf.subarray(b * 130 * 70, (b + 1) * 130 * 70), 130, 70, { tile: [64, 64], format: 'e4m3', scaleFormat: 'f32', eps: 1e-4 });
      expect(firstMismatch(bits((fromBf16.scales.data as Float32Array).subarray(b * 6, b * 6 + 6)), bits(want.scales))).toBe(-1);
    }
  });

  test('bad arguments', () => {
    const x = fp8.tensor('f32', [4, 4]);
    expect(() => fp8.quantizeSync(x, { tile: [1, 100] })).toThrow(/options\.tile must be \[1, G\], \[G, 1\] or \[G, G\]/);
    expect(() => fp8.quantizeSync(x, { tile: [2, 128] as never })).toThrow(/options\.tile/);
    expect(() => fp8.quantizeSync(x, { eps: 0 })).toThrow(/options\.eps must be a positive finite number/);
    expect(() => fp8.quantizeSync(x, { scaleLayout: 'col' as never })).toThrow(/options\.scaleLayout/);
    expect(() => fp8.quantizeSync(fp8.tensor('f32', [4]), { tile: [128, 128] })).toThrow(/need a matrix/);
    expect(() => fp8.quantizeSync(x, { tile: [128, 128], scaleLayout: 'mn-major' })).toThrow(/mn-major scale layout is for 1×G tiles/);
    const q = fp8.quantizeSync(x);
    expect(() => fp8.dequantizeSync({ ...q, scales: fp8.tensor('f32', [4, 2]) })).toThrow(/q\.scales has shape \[4, 2\]/);
    expect(() => fp8.dequantizeSync({ ...q, format: 'e5m2' })).toThrow(/q\.data\.dtype must be e5m2/);
    expect(() => fp8.castTransposeSync(fp8.tensor('f32', [2, 2, 2]))).toThrow(/x must be a matrix/);
  });
});

const others = availableBackends().filter((b) => b !== 'ref');

describe.each(others)('backend %s equals ref bit for bit', (backend) => {
  test.each(CASES.flatMap((c) => variants(backend).map(([label, run]) => ({ ...c, label, run }))))(
    'quantize and dequantize $tile $format $scaleFormat, $label', ({ tile, format, scaleFormat, label, run }) => run(() => {
    const s = seed(`quant ${backend} ${tile} ${format} ${label}`);
    for (const [m, k] of SHAPES)
      for (const dtype of ['f32', 'bf16'] as const) {
        let x = fp8.tensor('f32', [m, k], matrix(m, k, s + m + 3 * k));
        if (dtype === 'bf16') x = fp8.castToBf16Sync(x) as never;
        const layouts = tile[0] === 1 ? (['row', 'mn-major'] as const) : (['row'] as const);
        for (const scaleLayout of layouts) {
          const opts = { tile, format, scaleFormat, scaleLayout };
          const want = fp8.quantizeSync(x, { ...opts, backend: 'ref' });
          const got = fp8.quantizeSync(x, { ...opts, backend });
          const at = `${dtype} [${m}, ${k}] ${scaleLayout}`;
          expect(firstMismatch(bits(got.scales.data as Float32Array), bits(want.scales.data as Float32Array)), `scales ${at}`).toBe(-1);
          expect(firstMismatch(got.data.data as Uint8Array, want.data.data as Uint8Array), `data ${at}`).toBe(-1);
          for (const out of ['f32', 'bf16'] as const) {
            const a = fp8.dequantizeSync(want, { out, backend: 'ref' }).data;
            const b = fp8.dequantizeSync(want, { out, backend }).data;
            expect(firstMismatch(out === 'f32' ? bits(b as Float32Array) : b, out === 'f32' ? bits(a as Float32Array) : a), `dequantize ${out} ${at}`).toBe(-1);
          }
        }
      }
  }));

  test('non-finite tiles propagate as in ref', () => {
    const x = matrix(140, 300, 21);
    x[5] = NaN;
    x[139 * 300 + 299] = Infinity;
    x[64 * 300 + 130] = -Infinity;
    for (const tile of [[1, 128], [128, 128], [32, 32]] as Tile[]) {
      const t = fp8.tensor('f32', [140, 300], x);
      const want = fp8.quantizeSync(t, { tile, backend: 'ref' });
      const got = fp8.quantizeSync(t, { tile, backend });
      expect(firstMismatch(bits(got.scales.data as Float32Array), bits(want.scales.data as Float32Array)), `${tile}`).toBe(-1);
      expect(firstMismatch(got.data.data as Uint8Array, want.data.data as Uint8Array), `${tile}`).toBe(-1);
    }
  });
});

describe.each(availableBackends())('castTranspose on %s equals two quantize calls', (backend) => {
  const tiles = [[1, 128], [128, 128], [1, 64], [32, 32], [1, 32], [1, 256]] as Tile[];
  test.each(tiles.flatMap((tile) => variants(backend).map(([label, run]) => ({ tile, label, run }))))('tile $tile, $label', ({ tile, label, run }) => run(() => {
    const s = seed(`cast-transpose ${backend} ${tile} ${label}`);
    for (const [m, k] of [[1, 1], [1, 200], [200, 1], [128, 128], [130, 257], [300, 64]] as [number, number][])
      for (const dtype of ['f32', 'bf16'] as const) {
        let x = fp8.tensor('f32', [m, k], matrix(m, k, s + m * k));
        if (dtype === 'bf16') x = fp8.castToBf16Sync(x) as never;
        const xf = fp8.castToF32Sync(x).data as Float32Array;
        const xt = new Float32Array(m * k);
        for (let r = 0; r < m; r++) for (let c = 0; c < k; c++) xt[c * m + r] = xf[r * k + c];
        const ct = fp8.castTransposeSync(x, { tile, backend });
        const row = fp8.quantizeSync(x, { tile, backend: 'ref' });
        const col = fp8.quantizeSync(fp8.tensor('f32', [k, m], xt), { tile, backend: 'ref' });
        const at = `${dtype} [${m}, ${k}]`;
        expect(ct.columnwise.data.shape).toEqual([k, m]);
        expect(firstMismatch(ct.rowwise.data.data as Uint8Array, row.data.data as Uint8Array), `rowwise ${at}`).toBe(-1);
        expect(firstMismatch(bits(ct.rowwise.scales.data as Float32Array), bits(row.scales.data as Float32Array)), `rowwise scales ${at}`).toBe(-1);
        expect(firstMismatch(ct.columnwise.data.data as Uint8Array, col.data.data as Uint8Array), `columnwise ${at}`).toBe(-1);
        expect(firstMismatch(bits(ct.columnwise.scales.data as Float32Array), bits(col.scales.data as Float32Array)), `columnwise scales ${at}`).toBe(-1);
      }
  }));
});

describe('castTranspose past the streaming threshold (16 MiB of output) equals two ref quantize calls', () => {
  // [4160, 4100]: whole 64-row groups and column chunks (the pipelined transpose) next to a last
  // band of 64 rows and a last chunk of 4 columns; one NaN for the fix-ups.
  const [m, k] = [4160, 4100];
  const s = seed('cast-transpose streamed');
  const xf = matrix(m, k, s);
  xf[4097 * k + 4099] = NaN;
  const x = fp8.castToBf16Sync(fp8.tensor('f32', [m, k], xf));
  const back = fp8.castToF32Sync(x).data as Float32Array;
  const xt = new Float32Array(m * k);
  for (let r = 0; r < m; r++) for (let c = 0; c < k; c++) xt[c * m + r] = back[r * k + c];
  test.each(variants('cpu').flatMap(([label, run]) => ([[1, 128], [128, 128]] as Tile[]).map((tile) => ({ tile, label, run }))))(
    'tile $tile, $label',
    ({ tile, run }) => run(() => {
      const ct = fp8.castTransposeSync(x, { tile, backend: 'cpu' });
      const row = fp8.quantizeSync(x, { tile, backend: 'ref' });
      const col = fp8.quantizeSync(fp8.tensor('f32', [k, m], xt), { tile, backend: 'ref' });
      expect(firstMismatch(ct.rowwise.data.data as Uint8Array, row.data.data as Uint8Array), 'rowwise').toBe(-1);
      expect(firstMismatch(bits(ct.rowwise.scales.data as Float32Array), bits(row.scales.data as Float32Array)), 'rowwise scales').toBe(-1);
      expect(firstMismatch(ct.columnwise.data.data as Uint8Array, col.data.data as Uint8Array), 'columnwise').toBe(-1);
      expect(firstMismatch(bits(ct.columnwise.scales.data as Float32Array), bits(col.scales.data as Float32Array)), 'columnwise scales').toBe(-1);
    }),
    60_000,
  );
});

test('Promise forms give the Sync results', async () => {
  const x = fp8.tensor('f32', [64, 512], matrix(64, 512, seed('quant-async')));
  const [a, b] = await Promise.all([fp8.quantize(x), fp8.castTranspose(x, { tile: [128, 128] })]);
  expect(firstMismatch(a.data.data as Uint8Array, fp8.quantizeSync(x).data.data as Uint8Array)).toBe(-1);
  expect(firstMismatch(b.columnwise.data.data as Uint8Array, fp8.castTransposeSync(x, { tile: [128, 128] }).columnwise.data.data as Uint8Array)).toBe(-1);
  const y = await fp8.dequantize(a, { out: 'bf16' });
  expect(y.dtype).toBe('bf16');
});

test('into: results written into caller-owned tensors, checked first', () => {
  const x = fp8.tensor('f32', [64, 300], matrix(64, 300, seed('into')));
  const first = fp8.quantizeSync(x, { tile: [1, 128] });
  const again = fp8.quantizeSync(fp8.tensor('f32', [64, 300], matrix(64, 300, 77)), { into: first });
  expect(again.data).toBe(first.data);
  expect(firstMismatch(again.data.data as Uint8Array, fp8.quantizeSync(fp8.tensor('f32', [64, 300], matrix(64, 300, 77)), { backend: 'ref' }).data.data as Uint8Array)).toBe(-1);
  const ct = fp8.castTransposeSync(x);
  expect(fp8.castTransposeSync(x, { into: ct }).columnwise.data).toBe(ct.columnwise.data);
  const q = fp8.castToFp8Sync(x);
  expect(fp8.castToFp8Sync(x, { into: q })).toBe(q);
  expect(() => fp8.quantizeSync(x, { tile: [128, 128], into: first })).toThrow(/options\.into\.scales has shape \[64, 3\]; the result has shape \[1, 3\]/);
  expect(() => fp8.castToFp8Sync(x, { into: fp8.tensor('e5m2', [64, 300]) })).toThrow(/options\.into\.dtype must be e4m3/);
  expect(() => fp8.castToBf16Sync(x, { into: x as never })).toThrow(/options\.into\.dtype must be bf16/);
  const y = fp8.dequantizeSync(first, { out: 'bf16', into: fp8.tensor('bf16', [64, 300]) });
  expect(firstMismatch(y.data, fp8.dequantizeSync(first, { out: 'bf16' }).data)).toBe(-1);
});
