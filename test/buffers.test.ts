/**
 * Where tensor memory may come from: SharedArrayBuffers (as inputs and as `into`), fp8kit's own
 * buffers (empty()), and what a call says when it is handed the wrong kind of thing.
 */
import { describe, expect, test } from 'vitest';

import { availableBackends, castInputs, firstMismatch, fp8, seed } from './helpers.js';

function shared<T extends Float32Array | Uint8Array | Uint16Array>(a: T): T {
  const C = a.constructor as new (b: SharedArrayBuffer) => T;
  const out = new C(new SharedArrayBuffer(a.byteLength));
  out.set(a as never);
  return out;
}

const backends = availableBackends().filter((b) => b !== 'cuda');

describe('SharedArrayBuffer-backed tensors', () => {
  for (const backend of backends)
    test(`${backend}: as inputs and as into, sync and Promise, equal to ref on ordinary arrays`, async () => {
      const s = seed(`shared ${backend}`);
      const shape = [33, 300];
      const x = castInputs(shape[0] * shape[1], s).map((v) => (Number.isFinite(v) ? v : 1));
      const want = fp8.quantizeSync(fp8.tensor('f32', shape, x), { backend: 'ref' });
      const sx = fp8.tensor('f32', shape, shared(x));

      const q1 = fp8.quantizeSync(sx, { backend });
      const q2 = await fp8.quantize(sx, { backend });
      const into = { data: fp8.tensor('e4m3', shape, shared(new Uint8Array(x.length))), scales: fp8.tensor('f32', want.scales.shape, shared(new Float32Array(want.scales.data.length))) };
      const q3 = await fp8.quantize(sx, { backend, into });
      expect(q3.data.data).toBe(into.data.data);
      for (const q of [q1, q2, q3]) {
        expect(firstMismatch((q.data as fp8.Tensor).data, want.data.data as Uint8Array)).toBe(-1);
        expect(firstMismatch((q.scales as fp8.Tensor).data, want.scales.data as Float32Array)).toBe(-1);
      }

      const back = await fp8.dequantize({ ...want, data: fp8.tensor('e4m3', shape, shared(want.data.data as Uint8Array)) }, { backend });
      expect(firstMismatch((back as fp8.Tensor).data, fp8.dequantizeSync(want, { backend: 'ref' }).data as Float32Array)).toBe(-1);
    });
});

describe('fp8kit-owned buffers', () => {
  test('empty() gives a tensor of the shape whose memory, from 1 MiB up, fp8kit owns', () => {
    const t = fp8.empty('bf16', [1024, 1024]);
    expect(t.dtype).toBe('bf16');
    expect(t.shape).toEqual([1024, 1024]);
    expect(t.data).toBeInstanceOf(Uint16Array);
    expect(t.data.length).toBe(1 << 20);
    const before = fp8.memoryStats().outputs.count;
    const u = fp8.empty('f32', [1 << 18]);
    expect(fp8.memoryStats().outputs.count).toBeGreaterThanOrEqual(Math.min(before, 1));
    u.data.fill(2.5);
    expect(fp8.castToFp8Sync(u).data[0]).toBe(0x42); // 2.5 = 1.25 · 2^1: exponent 8, mantissa 010b
    expect(() => fp8.empty('f64' as never, [1])).toThrow(/unknown dtype 'f64'/);
    expect(() => fp8.empty('f32', [-1])).toThrow(/shape\[0\] must be a non-negative integer/);
  });
});

describe('messages that say what to do', () => {
  const x = fp8.tensor('f32', [4, 128], new Float32Array(512).fill(1));

  test('a bare typed array where a tensor is expected names what it got and how to wrap it', () => {
    expect(() => fp8.quantizeSync(new Float32Array(256) as never)).toThrow(
      /x must be a tensor \{dtype, shape, data\}, not a bare array; got a Float32Array of 256 elements\. Wrap it with fp8\.tensor\('f32', \[256\], data\)/,
    );
    expect(() => fp8.quantizeSync(new Uint16Array(8) as never)).toThrow(/fp8\.tensor\('bf16', \[8\], data\)/);
    expect(() => fp8.castFromFp8Sync(new Uint8Array(8) as never)).toThrow(/fp8\.tensor\('e4m3' or 'e5m2' or 'u8', \[8\], data\)/);
    expect(() => fp8.quantizeSync(new Int32Array(8) as never)).toThrow(/this call takes f32 or bf16/);
  });

  test('a plain tensor where a quantized tensor is expected says to quantize it first', () => {
    let e: unknown;
    try {
      fp8.dequantizeSync(x as never);
    } catch (err) {
      e = err;
    }
    expect(e).toBeInstanceOf(fp8.Fp8kitError);
    expect((e as fp8.Fp8kitError).code).toBe('ERR_ARGUMENT');
    expect((e as Error).message).toMatch(/q must be a quantized tensor .*; got a plain tensor \(dtype 'f32'\)\. Quantize it first: fp8\.quantizeSync\(x\)/);
    expect(() => fp8.dequantizeSync(fp8.castTransposeSync(x) as never)).toThrow(/a castTranspose result: pass its \.rowwise or \.columnwise/);
  });

  test('a wrong into says what it must be', () => {
    expect(() => fp8.quantizeSync(x, { into: x as never })).toThrow(/options\.into must be a quantized tensor \{data, scales, …\} such as an earlier result of the same call; got a plain tensor/);
    expect(() => fp8.castTransposeSync(x, { into: fp8.quantizeSync(x) as never })).toThrow(/options\.into must be an earlier castTranspose result \{rowwise, columnwise\}/);
    expect(() => fp8.castToFp8Sync(x, { into: new Uint8Array(512) as never })).toThrow(/castToFp8: options\.into must be a tensor \{dtype, shape, data\}, not a bare array.*fp8\.tensor\('e4m3', \[512\], data\)/);
  });
});
