import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';

import { readSafetensors, readSafetensorsSync, writeSafetensors, writeSafetensorsSync } from '../dist/safetensors.js';
import { fp8, rng, seed } from './helpers.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fp8kit-st-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const file = (name: string) => path.join(dir, name);

type AnyTensor = { dtype: string; shape: number[]; data: ArrayBufferView & ArrayLike<number> };

/** Random raw bits of every dtype (bit patterns, so NaNs of bf16/f16/e4m3 come through as bits). */
function randomTensors(s: number): Record<string, AnyTensor> {
  const next = rng(s);
  const fill = <T extends ArrayBufferView>(a: T): T => {
    const b = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    for (let i = 0; i < b.length; i++) b[i] = next() & 0xff;
    return a;
  };
  return {
    w_e4m3: { dtype: 'e4m3', shape: [3, 5], data: fill(new Uint8Array(15)) },
    w_e5m2: { dtype: 'e5m2', shape: [7], data: fill(new Uint8Array(7)) },
    w_bf16: { dtype: 'bf16', shape: [2, 3, 3], data: fill(new Uint16Array(18)) },
    w_f16: { dtype: 'f16', shape: [5], data: fill(new Uint16Array(5)) },
    w_f32: { dtype: 'f32', shape: [4, 3], data: fill(new Float32Array(12)) },
    w_i32: { dtype: 'i32', shape: [3], data: fill(new Int32Array(3)) },
    w_u8: { dtype: 'u8', shape: [9], data: fill(new Uint8Array(9)) },
    scalar_f32: { dtype: 'f32', shape: [], data: Float32Array.of(-2.5) },
    scalar_e4m3: { dtype: 'e4m3', shape: [], data: Uint8Array.of(0x7e) },
    empty_bf16: { dtype: 'bf16', shape: [0, 4], data: new Uint16Array(0) },
    empty_f32: { dtype: 'f32', shape: [0], data: new Float32Array(0) },
  };
}

const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

function expectSame(got: Map<string, AnyTensor>, want: Record<string, AnyTensor>) {
  expect([...got.keys()].sort()).toEqual(Object.keys(want).sort());
  for (const [name, t] of Object.entries(want)) {
    const g = got.get(name)!;
    expect(g.dtype, name).toBe(t.dtype);
    expect(g.shape, name).toEqual(t.shape);
    expect(Object.prototype.toString.call(g.data), name).toBe(Object.prototype.toString.call(t.data));
    expect(bytes(g.data).equals(bytes(t.data)), `${name} bytes`).toBe(true);
  }
}

/** A file assembled by hand from the format description: no fp8kit code involved. */
function handWritten(header: object | string, data: Uint8Array, pad = 0): Buffer {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header) + ' '.repeat(pad));
  const len = Buffer.alloc(8);
  len.writeUInt32LE(json.length, 0); // u64 LE: the high word stays 0
  return Buffer.concat([len, json, data]);
}

describe('round trip', () => {
  test('every dtype, empty tensors, 0-d scalars and metadata (sync)', () => {
    const t = randomTensors(seed('safetensors-roundtrip'));
    writeSafetensorsSync(file('all.safetensors'), t as never, { format: 'pt', note: 'é ✓' });
    const r = readSafetensorsSync(file('all.safetensors'));
    expectSame(r.tensors as never, t);
    expect(r.metadata).toEqual({ format: 'pt', note: 'é ✓' });
    // tensors can go straight back into the API
    for (const x of r.tensors.values()) fp8.checkTensor(x, 'x');
  });

  test('the async forms, a Map of tensors, and no metadata', async () => {
    const t = randomTensors(seed('safetensors-async'));
    await writeSafetensors(file('async.safetensors'), new Map(Object.entries(t)) as never);
    const r = await readSafetensors(file('async.safetensors'));
    expectSame(r.tensors as never, t);
    expect(r.metadata).toEqual({});
  });

  test('the writer pads the header with spaces to a multiple of 8 and lays tensors out contiguously', () => {
    const t = randomTensors(seed('safetensors-layout'));
    writeSafetensorsSync(file('layout.safetensors'), t as never);
    const buf = fs.readFileSync(file('layout.safetensors'));
    const n = Number(buf.readBigUInt64LE(0));
    expect((8 + n) % 8).toBe(0);
    const text = buf.subarray(8, 8 + n).toString('utf8');
    expect(text).toMatch(/^\{.*\} *$/);
    const header = JSON.parse(text) as Record<string, { dtype: string; data_offsets: [number, number] }>;
    const spans = Object.values(header).map((h) => h.data_offsets).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let at = 0;
    for (const [b, e] of spans) {
      expect(b).toBe(at); // no gaps: the HF reader rejects them
      at = e;
    }
    expect(buf.length).toBe(8 + n + at);
    const size: Record<string, number> = { F32: 4, I32: 4, BF16: 2, F16: 2, F8_E4M3: 1, F8_E5M2: 1, U8: 1 };
    for (const [name, h] of Object.entries(header)) {
      expect(h.data_offsets[0] % size[h.dtype], `${name} aligned`).toBe(0);
      const d = t[name].data;
      expect(buf.subarray(8 + n + h.data_offsets[0], 8 + n + h.data_offsets[1]).equals(bytes(d)), name).toBe(true);
    }
  });

  test('the writer validates its tensors', () => {
    expect(() => writeSafetensorsSync(file('bad.safetensors'), { a: { dtype: 'f32', shape: [2], data: new Uint16Array(2) } } as never)).toThrow(
      expect.objectContaining({ code: 'ERR_DTYPE' }),
    );
    expect(() => writeSafetensorsSync(file('bad.safetensors'), { a: { dtype: 'f32', shape: [3], data: new Float32Array(2) } } as never)).toThrow(
      expect.objectContaining({ code: 'ERR_SHAPE' }),
    );
    expect(() => writeSafetensorsSync(file('bad.safetensors'), {}, { n: 1 } as never)).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT' }));
  });
});

describe('no copies', () => {
  test('aligned tensors are views into one shared ArrayBuffer', () => {
    const t = randomTensors(seed('safetensors-views'));
    writeSafetensorsSync(file('views.safetensors'), t as never);
    const r = readSafetensorsSync(file('views.safetensors'));
    const buffers = new Set([...r.tensors.values()].map((x) => x.data.buffer));
    expect(buffers.size).toBe(1);
    const [buffer] = buffers;
    // the one buffer holds the data bytes and nothing more
    const total = Object.values(t).reduce((a, x) => a + x.data.byteLength, 0);
    expect(buffer.byteLength).toBe(total);
  });

  test('a misaligned tensor is copied (and still read right); the aligned ones stay views', () => {
    // u8 [3] at 0..3, then an f32 at 3..7 (misaligned), then bf16 at 8..10 (aligned)
    const data = new Uint8Array(10);
    data.set([1, 2, 3]);
    new DataView(data.buffer).setFloat32(3, 1.75, true);
    new DataView(data.buffer).setUint16(8, 0x3fc0, true);
    const header = {
      a: { dtype: 'U8', shape: [3], data_offsets: [0, 3] },
      b: { dtype: 'F32', shape: [], data_offsets: [3, 7] },
      c: { dtype: 'BF16', shape: [1], data_offsets: [8, 10] },
    };
    fs.writeFileSync(file('misaligned.safetensors'), handWritten(header, data));
    const r = readSafetensorsSync(file('misaligned.safetensors'));
    expect([...r.tensors.get('a')!.data]).toEqual([1, 2, 3]);
    expect(r.tensors.get('b')!.data[0]).toBe(1.75);
    expect(r.tensors.get('c')!.data[0]).toBe(0x3fc0);
    expect(r.tensors.get('b')!.data.buffer).not.toBe(r.tensors.get('a')!.data.buffer);
    expect(r.tensors.get('c')!.data.buffer).toBe(r.tensors.get('a')!.data.buffer);
  });
});

describe('a file from an independent writer', () => {
  test('hand-assembled bytes, unpadded header, keys out of offset order', () => {
    const data = Buffer.alloc(4 * 2 + 2 * 3 + 2);
    data.writeFloatLE(3.5, 0);
    data.writeFloatLE(-0.25, 4);
    data.writeUInt16LE(0x3f80, 8); // bf16 1.0
    data.writeUInt16LE(0xc000, 10); // bf16 -2.0
    data.writeUInt16LE(0x7fc0, 12); // bf16 NaN
    data[14] = 0x7e; // e4m3 448
    data[15] = 0x81; // e4m3 -2^-9
    const header = `{"q":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[14,16]},"__metadata__":{"format":"pt"},` +
      `"x":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]},"h":{"dtype":"BF16","shape":[3],"data_offsets":[8,14]}}`;
    fs.writeFileSync(file('hand.safetensors'), handWritten(header, data));
    const r = readSafetensorsSync(file('hand.safetensors'));
    expect([...r.tensors.keys()]).toEqual(['x', 'h', 'q']); // file order
    expect(r.metadata).toEqual({ format: 'pt' });
    expect(r.tensors.get('x')).toMatchObject({ dtype: 'f32', shape: [1, 2] });
    expect([...r.tensors.get('x')!.data]).toEqual([3.5, -0.25]);
    expect([...r.tensors.get('h')!.data]).toEqual([0x3f80, 0xc000, 0x7fc0]);
    const q = r.tensors.get('q')! as never;
    expect([...fp8.castFromFp8Sync(q).data]).toEqual([448, -(2 ** -9)]);
  });
});

describe('malformed files are Fp8kitErrors with the right code', () => {
  const ok = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };
  const cases: [string, () => Buffer, string, RegExp][] = [
    ['shorter than the length prefix', () => Buffer.from([1, 0, 0]), 'ERR_ARGUMENT', /fewer than the 8/],
    ['header length beyond the file', () => { const b = handWritten({ a: ok }, new Uint8Array(8)); b.writeUInt32LE(1000, 0); return b; }, 'ERR_ARGUMENT', /header length 1000 runs past the end/],
    ['header length with the high word set', () => { const b = handWritten({ a: ok }, new Uint8Array(8)); b.writeUInt32LE(1, 4); return b; }, 'ERR_ARGUMENT', /runs past the end/],
    ['bad JSON', () => handWritten('{"a": {', new Uint8Array(8)), 'ERR_ARGUMENT', /not UTF-8 JSON/],
    ['invalid UTF-8', () => handWritten(Buffer.from([0x7b, 0xff, 0x7d]).toString('latin1'), new Uint8Array(0)), 'ERR_ARGUMENT', /not UTF-8 JSON|not a JSON object/],
    ['a JSON array', () => handWritten([1, 2], new Uint8Array(0)), 'ERR_ARGUMENT', /not a JSON object/],
    ['an entry that is not an object', () => handWritten({ a: 5 }, new Uint8Array(0)), 'ERR_ARGUMENT', /tensor 'a' is not an object/],
    ['non-string metadata', () => handWritten({ __metadata__: { n: 1 } }, new Uint8Array(0)), 'ERR_ARGUMENT', /__metadata__\.n is not a string/],
    ['unknown dtype', () => handWritten({ good: ok, weird: { dtype: 'F64', shape: [1], data_offsets: [8, 16] } }, new Uint8Array(16)), 'ERR_DTYPE', /tensor 'weird' has unsupported dtype "F64"/],
    ['missing dtype', () => handWritten({ nod: { shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)), 'ERR_DTYPE', /tensor 'nod'/],
    ['offsets not matching shape × dtype', () => handWritten({ w: { dtype: 'BF16', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)), 'ERR_SHAPE', /tensor 'w' data_offsets \[0, 8\] hold 8 bytes but BF16 \[3\] needs 6/],
    ['end before begin', () => handWritten({ w: { dtype: 'U8', shape: [0], data_offsets: [4, 2] } }, new Uint8Array(8)), 'ERR_SHAPE', /tensor 'w'/],
    ['negative / fractional offsets', () => handWritten({ w: { dtype: 'U8', shape: [1], data_offsets: [-1, 0] } }, new Uint8Array(8)), 'ERR_SHAPE', /tensor 'w' has invalid data_offsets/],
    ['one offset', () => handWritten({ w: { dtype: 'U8', shape: [1], data_offsets: [1] } }, new Uint8Array(8)), 'ERR_SHAPE', /invalid data_offsets/],
    ['a bad shape', () => handWritten({ w: { dtype: 'U8', shape: [-1], data_offsets: [0, 0] } }, new Uint8Array(8)), 'ERR_SHAPE', /tensor 'w' shape\[0\]/],
    ['overlapping tensors', () => handWritten({ a: ok, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8)), 'ERR_SHAPE', /'a' and 'b' overlap/],
    ['offsets beyond the data (truncated file)', () => handWritten({ a: ok, b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] } }, new Uint8Array(20)), 'ERR_ARGUMENT', /truncated: tensor 'b' ends at data byte 24 but the file holds 20/],
  ];
  for (const [what, make, code, message] of cases)
    test(what, async () => {
      const p = file(`bad-${what.replace(/\W+/g, '-')}.safetensors`);
      fs.writeFileSync(p, make());
      expect(() => readSafetensorsSync(p)).toThrow(expect.objectContaining({ name: 'Fp8kitError', code, message: expect.stringMatching(message) }));
      await expect(readSafetensors(p)).rejects.toMatchObject({ code, message: expect.stringMatching(message) });
    });

  test('a missing file', async () => {
    expect(() => readSafetensorsSync(file('nope.safetensors'))).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT', message: expect.stringMatching(/cannot open .*nope/) }));
    await expect(readSafetensors(file('nope.safetensors'))).rejects.toMatchObject({ code: 'ERR_ARGUMENT' });
  });

  test('every truncation of a valid file is ERR_ARGUMENT', () => {
    const t = randomTensors(seed('safetensors-truncate'));
    writeSafetensorsSync(file('full.safetensors'), t as never);
    const full = fs.readFileSync(file('full.safetensors'));
    for (let n = 0; n < full.length; n++) {
      fs.writeFileSync(file('cut.safetensors'), full.subarray(0, n));
      let err: unknown;
      try {
        readSafetensorsSync(file('cut.safetensors'));
      } catch (e) {
        err = e;
      }
      expect(err, `cut at ${n}`).toBeInstanceOf(fp8.Fp8kitError);
      expect((err as { code: string }).code).toBe('ERR_ARGUMENT');
    }
  });
});
