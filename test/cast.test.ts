import { describe, expect, test } from 'vitest';

import { decode, encode, Format } from './fp8-model.js';
import { availableBackends, castInputs, firstMismatch, fp8, seed, variants } from './helpers.js';

const FORMATS: Format[] = ['e4m3', 'e5m2'];
const hex = (v: number) => `0x${v.toString(16).padStart(2, '0')}`;

describe('SPEC §1 values', () => {
  test('every code decodes to the value of the format table', () => {
    for (const format of FORMATS) {
      const codes = Uint8Array.from({ length: 256 }, (_, i) => i);
      const y = fp8.castFromFp8Sync({ dtype: format, shape: [256], data: codes }, { backend: 'ref' });
      for (let c = 0; c < 256; c++) {
        const want = decode(c, format);
        if (Number.isNaN(want)) expect(y.data[c], `${format} ${hex(c)}`).toBeNaN();
        else expect(Object.is(y.data[c], want) || y.data[c] === want, `${format} ${hex(c)} -> ${y.data[c]}, want ${want}`).toBe(true);
      }
    }
  });

  test('named values of the format table', () => {
    const cases: [number, Format, boolean, number][] = [
      [448, 'e4m3', true, 0x7e], [464, 'e4m3', true, 0x7e], [465, 'e4m3', true, 0x7e], [465, 'e4m3', false, 0x7f],
      [-1e9, 'e4m3', false, 0xff], [Infinity, 'e4m3', true, 0x7e], [-Infinity, 'e4m3', false, 0xff],
      [2 ** -9, 'e4m3', true, 0x01], [2 ** -10, 'e4m3', true, 0x00], [-(2 ** -10), 'e4m3', true, 0x80], [1.5 * 2 ** -10, 'e4m3', true, 0x01],
      [57344, 'e5m2', true, 0x7b], [61440, 'e5m2', true, 0x7b], [61440, 'e5m2', false, 0x7c], [-Infinity, 'e5m2', false, 0xfc],
      [Infinity, 'e5m2', true, 0x7b], [2 ** -16, 'e5m2', true, 0x01], [2 ** -17, 'e5m2', true, 0x00], [NaN, 'e5m2', false, 0x7f], [NaN, 'e4m3', true, 0x7f],
    ];
    for (const [x, format, saturate, want] of cases) {
      const q = fp8.castToFp8Sync({ dtype: 'f32', shape: [1], data: Float32Array.of(x) }, { format, saturate, backend: 'ref' });
      expect(hex(q.data[0]), `${x} -> ${format} saturate=${saturate}`).toBe(hex(want));
    }
  });

  test('ref rounds like a nearest-value search over the format table', () => {
    const s = seed('ref-vs-model');
    const x = castInputs(40_000, s);
    for (const format of FORMATS)
      for (const saturate of [true, false]) {
        const q = fp8.castToFp8Sync({ dtype: 'f32', shape: [x.length], data: x }, { format, saturate, backend: 'ref' });
        for (let i = 0; i < x.length; i++) {
          const want = encode(x[i], format, saturate);
          if (q.data[i] !== want) expect(`${x[i]} (${format}, saturate=${saturate}) -> ${hex(q.data[i])}`).toBe(`-> ${hex(want)}`);
        }
      }
  });

  test('bf16: round to nearest even, NaN stays quiet NaN', () => {
    const x = Float32Array.of(1, 1 + 2 ** -8, 1 + 2 ** -7 + 2 ** -8, 1 + 2 ** -8 + 2 ** -20, -3.5, Infinity, NaN, -NaN);
    const b = fp8.castToBf16Sync({ dtype: 'f32', shape: [x.length], data: x }, { backend: 'ref' });
    expect([...b.data.slice(0, 6)].map((v) => v.toString(16))).toEqual(['3f80', '3f80', '3f82', '3f81', 'c060', '7f80']);
    const back = fp8.castToF32Sync(b, { backend: 'ref' });
    expect(back.data[6]).toBeNaN();
    expect(b.data[6] & 0x40).toBe(0x40);
  });
});

const others = availableBackends().filter((b) => b !== 'ref');
// Lengths around vector widths and the threading threshold.
const LENGTHS = [0, 1, 7, 15, 16, 17, 63, 65, 1000, 4099, 1 << 19, (1 << 20) + 13];

describe.each(others)('backend %s equals ref bit for bit', (backend) => {
  describe.each(variants(backend))('%s', (_label, withVariant) => {
    const withLevel = withVariant;

    test('castToFp8 from f32 and bf16, both formats, saturating and not', () => {
      const s = seed(`cast ${backend}/${_label}`);
      for (const n of LENGTHS) {
        const x = { dtype: 'f32' as const, shape: [n], data: castInputs(n, s + n) };
        const xb = fp8.castToBf16Sync(x, { backend: 'ref' });
        for (const input of [x, xb])
          for (const format of FORMATS)
            for (const saturate of [true, false]) {
              const want = fp8.castToFp8Sync(input, { format, saturate, backend: 'ref' });
              const got = withLevel(() => fp8.castToFp8Sync(input, { format, saturate, backend }));
              const i = firstMismatch(got.data, want.data);
              expect(i, `${input.dtype} n=${n} ${format} sat=${saturate}: first mismatch at ${i}`).toBe(-1);
            }
      }
    });

    test('castFromFp8 to f32 and bf16, and f32 <-> bf16', () => {
      const s = seed(`decode ${backend}/${_label}`);
      for (const n of LENGTHS) {
        const bytes = new Uint8Array(castInputs(n, s + n).buffer).subarray(0, n);
        for (const format of FORMATS)
          for (const out of ['f32', 'bf16'] as const) {
            const q = { dtype: format, shape: [n], data: bytes };
            const want = fp8.castFromFp8Sync(q, { out, backend: 'ref' });
            const got = withLevel(() => fp8.castFromFp8Sync(q, { out, backend }));
            const bits = (t: typeof want) => new Uint32Array(new Float32Array(t.data).buffer);
            expect(firstMismatch(out === 'f32' ? bits(got) : got.data, out === 'f32' ? bits(want) : want.data), `${format} -> ${out} n=${n}`).toBe(-1);
          }
        const x = { dtype: 'f32' as const, shape: [n], data: castInputs(n, s ^ n) };
        const b = withLevel(() => fp8.castToBf16Sync(x, { backend }));
        expect(firstMismatch(b.data, fp8.castToBf16Sync(x, { backend: 'ref' }).data), `f32 -> bf16 n=${n}`).toBe(-1);
        const f = withLevel(() => fp8.castToF32Sync(b, { backend }));
        expect(firstMismatch(new Uint32Array(f.data.buffer), new Uint32Array(fp8.castToF32Sync(b, { backend: 'ref' }).data.buffer))).toBe(-1);
      }
    });
  });

  test('Promise forms give the Sync results', async () => {
    const s = seed(`async ${backend}`);
    const x = { dtype: 'f32' as const, shape: [3, 100_003], data: castInputs(300_009, s) };
    const [a, b] = await Promise.all([fp8.castToFp8(x, { backend }), fp8.castToFp8(x, { backend, format: 'e5m2' })]);
    expect(a.shape).toEqual([3, 100_003]);
    expect(firstMismatch(a.data, fp8.castToFp8Sync(x, { backend }).data)).toBe(-1);
    expect(firstMismatch(b.data, fp8.castToFp8Sync(x, { backend, format: 'e5m2' }).data)).toBe(-1);
    const back = await fp8.castFromFp8(a, { backend, out: 'bf16' });
    expect(firstMismatch(back.data, fp8.castFromFp8Sync(a, { backend, out: 'bf16' }).data)).toBe(-1);
  });
});
