/**
 * For servers: tensorFromBytes (views where aligned, copies where not) and the quantized wire format
 * (lib/wire.ts): every tiling, format, scale format and layout round-trips bit for bit, decodes into views
 * of the received bytes, and a body that is not one is refused naming what is wrong.
 */
import { describe, expect, test } from 'vitest';

import { expectFp8kitError, firstMismatch, fp8, rng, seed, uniform } from './helpers.js';

const bytes = (d: ArrayBufferView) => new Uint8Array(d.buffer, d.byteOffset, d.byteLength);

describe('tensorFromBytes', () => {
  test('a view of aligned bytes, a copy of unaligned ones, the same values either way', () => {
    const buf = Buffer.alloc(4 * 6 + 1);
    const f = new Float32Array([1.5, -2, 3e-5, 4, 5, 6]);
    Buffer.from(bytes(f)).copy(buf, 0);
    const aligned = fp8.tensorFromBytes(buf.subarray(0, 24), 'f32', [2, 3]);
    expect(aligned.data.buffer).toBe(buf.buffer);
    expect(Array.from(aligned.data)).toEqual(Array.from(f));
    Buffer.from(bytes(f)).copy(buf, 1);
    const shifted = fp8.tensorFromBytes(buf.subarray(1, 25), 'f32', [6]);
    expect(shifted.data.buffer).not.toBe(buf.buffer);
    expect(Array.from(shifted.data)).toEqual(Array.from(f));
    expectFp8kitError(() => fp8.tensorFromBytes(buf.subarray(0, 20), 'f32', [2, 3]), 'ERR_SHAPE', /20 bytes; f32 \[2, 3\] needs 24/);
    expectFp8kitError(() => fp8.tensorFromBytes(new Float32Array(2) as never as Buffer, 'nosuch' as 'f32', [2]), 'ERR_DTYPE', /unknown dtype/);
  });
});

describe('encodeQuantized / decodeQuantized', () => {
  test('every tiling, format, scale format and layout round-trips bit for bit, decoded as views', () => {
    const s = seed('wire');
    const u = uniform(rng(s));
    const x = fp8.tensor('f32', [5, 300], Float32Array.from({ length: 1500 }, () => (u() - 0.5) * 2 ** Math.floor(u() * 16 - 8)));
    const cases: fp8.QuantizeOptions[] = [
      { tile: [1, 128] }, { tile: [1, 128], format: 'e5m2', scaleFormat: 'ue8m0' }, { tile: [1, 128], scaleLayout: 'mn-major' },
      { tile: [128, 128] }, { tile: [128, 1] }, { tile: [1, 32], format: 'e5m2' },
    ];
    for (const o of cases) {
      const q = fp8.quantizeSync(x, o) as fp8.QuantizedTensor<'host'>;
      const wire = fp8.encodeQuantized(q);
      const d = fp8.decodeQuantized(wire);
      expect([d.tile, d.format, d.scaleFormat, d.scaleLayout, d.data.shape, d.scales.shape]).toEqual([q.tile, q.format, q.scaleFormat, q.scaleLayout, q.data.shape, q.scales.shape]);
      expect(firstMismatch(d.data.data, q.data.data as Uint8Array), JSON.stringify(o)).toBe(-1);
      expect(firstMismatch(bytes(d.scales.data), bytes(q.scales.data as Float32Array))).toBe(-1);
      expect(d.data.data.buffer).toBe(wire.buffer);
      expect(d.scales.data.buffer).toBe(wire.buffer);
      // and it is a quantized tensor like any other
      expect(firstMismatch(bytes(fp8.dequantizeSync(d).data), bytes(fp8.dequantizeSync(q).data))).toBe(-1);
    }
  });

  test('what is not a quantized tensor is refused, saying why', () => {
    const q = fp8.quantizeSync(fp8.tensor('f32', [2, 256], new Float32Array(512).map((_, i) => i - 256))) as fp8.QuantizedTensor<'host'>;
    const wire = fp8.encodeQuantized(q);
    expectFp8kitError(() => fp8.decodeQuantized(new Uint8Array(40)), 'ERR_ARGUMENT', /no "FP8Q" magic/);
    const v2 = wire.slice();
    v2[4] = 2;
    expectFp8kitError(() => fp8.decodeQuantized(v2), 'ERR_ARGUMENT', /wire format version 2; this fp8kit reads version 1/);
    expectFp8kitError(() => fp8.decodeQuantized(wire.subarray(0, wire.length - 4)), 'ERR_SHAPE', /bytes; data \[2, 256\] and scales \[2, 2\] need/);
    expectFp8kitError(() => fp8.decodeQuantized(wire.subarray(0, 10)), 'ERR_SHAPE', /end inside the header/);
    const badScales = wire.slice();
    new DataView(badScales.buffer).setUint32(4 * 12, 3, true);  // scales [2, 3] for data [2, 256] in 1x128 tiles
    expectFp8kitError(() => fp8.decodeQuantized(badScales), 'ERR_SHAPE', /scales \[2, 3\]; data \[2, 256\] with 1×128 tiles \(row\) has \[2, 2\]/);
    expectFp8kitError(() => fp8.encodeQuantized(fp8.tensor('f32', [2], new Float32Array(2)) as never), 'ERR_ARGUMENT', /must be a quantized tensor/);
  });
});
