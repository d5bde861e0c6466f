/**
 * The onnxruntime-node peer of `fp8kit bench quant` and `bench cast`: the hand-written ONNX protobuf
 * encoder, checked byte by byte against the protobuf wire format and onnx.proto3, and (when
 * onnxruntime-node is installed: ONNXRUNTIME_NODE_INSTALL=skip npm install --no-save onnxruntime-node) a
 * small blocked QuantizeLinear and Casts run through onnxruntime, whose float8 codes must agree with fp8kit's.
 */
import { describe, expect, test } from 'vitest';

import { formatTable } from '../dist/bench/harness.js';
import { castModel, encodeModel, ONNX_FLOAT, ONNX_FLOAT8E4M3FN, ONNX_FLOAT8E5M2, ProtoWriter, quantizeLinearModel } from '../dist/bench/peers/onnx-model.js';
import { countDiffering, kernelTimes, loadOnnxruntime, ORT_INSTALL, ortQuantizeLinear, ortRunModel } from '../dist/bench/peers/onnxruntime.js';
import { fp8, rng, seed, uniform } from './helpers.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** A minimal protobuf reader: the fields of one message, varints as bigint, length-delimited as bytes. */
function fields(b: Uint8Array): { field: number; wire: number; v: bigint | Uint8Array }[] {
  const out: { field: number; wire: number; v: bigint | Uint8Array }[] = [];
  let p = 0;
  const varint = () => {
    let x = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const c = b[p++];
      if (c === undefined) throw new Error('truncated varint');
      x |= BigInt(c & 0x7f) << shift;
      if (!(c & 0x80)) return x;
    }
  };
  while (p < b.length) {
    const tag = Number(varint());
    const wire = tag & 7;
    if (wire === 0) out.push({ field: tag >> 3, wire, v: varint() });
    else if (wire === 2) {
      const n = Number(varint());
      out.push({ field: tag >> 3, wire, v: b.subarray(p, p + n) });
      p += n;
      if (p > b.length) throw new Error('truncated bytes');
    } else throw new Error(`unexpected wire type ${wire}`);
  }
  return out;
}
const one = (b: Uint8Array, field: number) => {
  const f = fields(b).filter((x) => x.field === field);
  expect(f, `field ${field}`).toHaveLength(1);
  return f[0].v;
};
const all = (b: Uint8Array, field: number) => fields(b).filter((x) => x.field === field).map((x) => x.v);
const str = (v: bigint | Uint8Array) => new TextDecoder().decode(v as Uint8Array);

describe('protobuf writer', () => {
  test('varints: the wire-format examples', () => {
    expect(hex(ProtoWriter.varint(0))).toBe('00');
    expect(hex(ProtoWriter.varint(1))).toBe('01');
    expect(hex(ProtoWriter.varint(127))).toBe('7f');
    expect(hex(ProtoWriter.varint(128))).toBe('8001');
    expect(hex(ProtoWriter.varint(150))).toBe('9601');
    expect(hex(ProtoWriter.varint(300))).toBe('ac02');
    expect(hex(ProtoWriter.varint(2 ** 35))).toBe('8080808080' + '01');
    // int64 -1: ten bytes, two's complement
    expect(hex(ProtoWriter.varint(-1n))).toBe('ffffffffffffffffff01');
    expect(() => ProtoWriter.varint(-1)).toThrow(RangeError);
    expect(() => ProtoWriter.varint(0.5)).toThrow(RangeError);
  });

  test('fields: tag = field << 3 | wire type', () => {
    // the encoding guide's examples: field 1 = 150; field 2 = "testing"
    expect(hex(new ProtoWriter().int(1, 150).finish())).toBe('089601');
    expect(hex(new ProtoWriter().string(2, 'testing').finish())).toBe('120774657374696e67');
    // an embedded message: field 3 { field 1 = 150 }
    expect(hex(new ProtoWriter().message(3, (w) => w.int(1, 150)).finish())).toBe('1a03089601');
    // field 20 (AttributeProto.type) needs a two-byte tag: 20 << 3 = 160
    expect(hex(new ProtoWriter().int(20, 2).finish())).toBe('a00102');
    expect(hex(new ProtoWriter().bytes(9, new Uint8Array(200)).finish().subarray(0, 3))).toBe('4ac801');
  });
});

describe('ONNX model encoding (onnx.proto3 field numbers)', () => {
  test('a one-node graph, byte for byte at the ends', () => {
    const b = encodeModel(
      {
        name: 'g',
        nodes: [{ name: 'n', opType: 'Relu', inputs: ['x'], outputs: ['y'] }],
        initializers: [],
        inputs: [{ name: 'x', elemType: ONNX_FLOAT, dims: [2] }],
        outputs: [{ name: 'y', elemType: ONNX_FLOAT, dims: [2] }],
      },
      { irVersion: 10, opset: 21 },
    );
    // ModelProto.ir_version (1) = 10
    expect(hex(b.subarray(0, 2))).toBe('080a');
    // ModelProto.graph (7, length-delimited: 0x3a)
    expect(b[2]).toBe(0x3a);
    // ModelProto.opset_import (8: 0x42) { domain (1) = "", version (2) = 21 } closes the model
    expect(hex(b.subarray(b.length - 6))).toBe('42040a001015');
    const graph = one(b, 7) as Uint8Array;
    // the node (GraphProto.node = 1): input 1, output 2, name 3, op_type 4
    expect(hex(one(graph, 1) as Uint8Array)).toBe('0a0178' + '120179' + '1a016e' + '2204' + Buffer.from('Relu').toString('hex'));
    // GraphProto.input (11): ValueInfoProto { name 1, type 2 { tensor_type 1 { elem_type 1, shape 2 { dim 1 { dim_value 1 } } } } }
    expect(hex(one(graph, 11) as Uint8Array)).toBe('0a0178' + '120a' + '0a08' + '0801' + '1204' + '0a02' + '0802');
    expect(str(one(graph, 2))).toBe('g');
  });

  test('the QuantizeLinear model: initializers, attributes, the Cast', () => {
    const scales = Float32Array.from([0.5, 0.25, 2, 4]);
    const m = quantizeLinearModel(2, 256, 128, scales);
    expect(one(m.bytes, 1)).toBe(10n);
    const opset = one(m.bytes, 8) as Uint8Array;
    expect(str(one(opset, 1))).toBe('');
    expect(one(opset, 2)).toBe(21n);
    const graph = one(m.bytes, 7) as Uint8Array;
    const [q, cast] = all(graph, 1) as Uint8Array[];
    expect(str(one(q, 4))).toBe('QuantizeLinear');
    expect(all(q, 1).map(str)).toEqual(['x', 'y_scale', 'y_zero_point']);
    const attrs = Object.fromEntries((all(q, 5) as Uint8Array[]).map((a) => [str(one(a, 1)), [one(a, 3), one(a, 20)]]));
    expect(attrs).toEqual({ axis: [1n, 2n], block_size: [128n, 2n], saturate: [1n, 2n] });
    expect(str(one(cast, 4))).toBe('Cast');
    expect(all(cast, 5).map((a) => one(a as Uint8Array, 3))).toEqual([BigInt(ONNX_FLOAT)]);
    const inits = all(graph, 5) as Uint8Array[];
    const byName = Object.fromEntries(inits.map((t) => [str(one(t, 8)), t]));
    // TensorProto: dims 1, data_type 2, name 8, raw_data 9
    expect(all(byName.y_scale, 1)).toEqual([2n, 2n]);
    expect(one(byName.y_scale, 2)).toBe(BigInt(ONNX_FLOAT));
    expect(hex(one(byName.y_scale, 9) as Uint8Array)).toBe(hex(new Uint8Array(scales.buffer)));
    expect(one(byName.y_zero_point, 2)).toBe(BigInt(ONNX_FLOAT8E4M3FN));
    expect(Array.from(one(byName.y_zero_point, 9) as Uint8Array)).toEqual([0, 0, 0, 0]);
    expect(() => quantizeLinearModel(2, 256, 128, new Float32Array(3))).toThrow(RangeError);
  });

  test('the Cast model: to float8 with saturate, then back to float; the first node is the timed one', () => {
    for (const [format, saturate] of [[ONNX_FLOAT8E4M3FN, true], [ONNX_FLOAT8E5M2, false]] as const) {
      const m = castModel(1000, format, saturate);
      expect([m.timedNode, m.timedOp, m.input, m.output]).toEqual(['to_fp8', 'Cast', 'x', 'y']);
      const graph = one(m.bytes, 7) as Uint8Array;
      const [a, b] = all(graph, 1) as Uint8Array[];
      expect([str(one(a, 3)), str(one(a, 4)), str(one(a, 1)), str(one(a, 2))]).toEqual(['to_fp8', 'Cast', 'x', 'q']);
      const attrs = Object.fromEntries((all(a, 5) as Uint8Array[]).map((x) => [str(one(x, 1)), one(x, 3)]));
      expect(attrs).toEqual({ to: BigInt(format), saturate: saturate ? 1n : 0n });
      expect(all(b, 5).map((x) => one(x as Uint8Array, 3))).toEqual([BigInt(ONNX_FLOAT)]);
      expect(all(graph, 5)).toEqual([]);  // no initializers
    }
  });

  test('kernel times come from the profiler trace of the named node', () => {
    const trace = [
      { cat: 'Session', name: 'model_run', dur: 999 },
      { cat: 'Node', name: 'quantize_kernel_time', dur: 1500, args: { op_name: 'QuantizeLinear' } },
      { cat: 'Node', name: 'cast_kernel_time', dur: 700, args: { op_name: 'Cast' } },
      { cat: 'Node', name: 'quantize_fence_before', dur: 0, args: { op_name: 'QuantizeLinear' } },
      { cat: 'Node', name: 'quantize_kernel_time', dur: 1250, args: { op_name: 'QuantizeLinear' } },
    ];
    expect(kernelTimes(trace, 'quantize', 'QuantizeLinear')).toEqual([1.5, 1.25]);
    expect(() => kernelTimes({}, 'quantize', 'QuantizeLinear')).toThrow();
  });

  test('notes print under the table', () => {
    const row = { name: 'r', bytes: 1e6, medianMs: 1, gbps: 1, copyGbps: 2, ofCopy: 0.5, notes: [`peer onnxruntime-node not installed: ${ORT_INSTALL}`] };
    expect(formatTable('t', [row]).trimEnd().split('\n').at(-1)).toBe('peer onnxruntime-node not installed: ONNXRUNTIME_NODE_INSTALL=skip npm install --no-save onnxruntime-node');
  });
});

const ort = loadOnnxruntime();

test.skipIf(!ort.ok)(`onnxruntime-node ${ort.ok ? ort.ort.version : `(not installed, skipped: ${ORT_INSTALL})`}: blocked QuantizeLinear [2, 256] agrees with fp8kit`, () => {
  if (!ort.ok) return;
  const s = seed('ort QuantizeLinear');
  const u = uniform(rng(s));
  const [m, k] = [2, 256];
  const x = new Float32Array(m * k);
  for (let i = 0; i < x.length; i++) x[i] = (u() - 0.5) * 2 ** Math.floor(u() * 12 - 6);
  // SPEC §2 on the reference backend (every backend agrees with it bit for bit)
  const q = fp8.quantizeSync(fp8.tensor('f32', [m, k], x), { tile: [1, 128], backend: 'ref' });
  const ours = fp8.castFromFp8Sync(q.data, { backend: 'ref' }).data as Float32Array;
  const r = ortQuantizeLinear(ort.ort, x, m, k, 128, q.scales.data as Float32Array, 2, 1024);
  expect(r.kernelMs).toHaveLength(2);
  for (const t of r.kernelMs) expect(t).toBeGreaterThan(0);
  expect(r.decoded).toHaveLength(m * k);
  expect(ours.filter((v) => v !== 0).length).toBeGreaterThan((m * k) / 2);
  const diff = countDiffering(ours, r.decoded);
  console.log(`onnxruntime vs fp8kit: ${diff} of ${m * k} codes differ`);
  expect(diff / (m * k)).toBeLessThanOrEqual(0.01);
});

test.skipIf(!ort.ok)(`onnxruntime-node ${ort.ok ? ort.ort.version : `(not installed, skipped: ${ORT_INSTALL})`}: Cast f32 -> e4m3fn / e5m2 gives fp8kit's codes, but for non-saturating overflow`, () => {
  if (!ort.ok) return;
  const u = uniform(rng(seed('ort Cast')));
  // every magnitude from below the subnormals to past the largest finite values, both signs, inf and NaN
  const x = Float32Array.from({ length: 8192 }, () => (u() < 0.5 ? -1 : 1) * 2 ** (u() * 44 - 26) * (1 + u()));
  x.set([Infinity, -Infinity, NaN, 448, 464, 480, 496, 57344, 61440, 61441, 65536]);
  for (const [format, code, saturate] of [['e4m3', ONNX_FLOAT8E4M3FN, true], ['e4m3', ONNX_FLOAT8E4M3FN, false], ['e5m2', ONNX_FLOAT8E5M2, true], ['e5m2', ONNX_FLOAT8E5M2, false]] as const) {
    const ours = fp8.castFromFp8Sync(fp8.castToFp8Sync(fp8.tensor('f32', [x.length], x), { format, saturate, backend: 'ref' }), { backend: 'ref' }).data as Float32Array;
    const r = ortRunModel(ort.ort, castModel(x.length, code, saturate), x, [x.length], 2, 1024);
    expect(r.kernelMs).toHaveLength(2);
    expect(ours.filter((v) => v !== 0 && Number.isFinite(v)).length).toBeGreaterThan(x.length / 3);
    const differ = [...x.keys()].filter((i) => !Object.is(ours[i], r.decoded[i]));
    if (saturate) {
      expect(differ.map((i) => x[i]), `${format} saturating`).toEqual([]);
      continue;
    }
    // Where the two part (cuda_fp8.h's __NV_NOSAT against onnxruntime's saturate = 0), and only there:
    // e4m3 |x| in [480, 496) is NaN for NVIDIA, 448 for onnxruntime; e5m2 |x| in [61440, 65536) is inf
    // for NVIDIA, NaN for onnxruntime.
    expect(differ.length, `${format} non-saturating`).toBeGreaterThan(0);
    for (const i of differ) {
      const a = Math.abs(x[i]);
      if (format === 'e4m3') expect([a >= 480 && a < 496, ours[i], r.decoded[i]], `x = ${x[i]}`).toEqual([true, NaN, Math.sign(x[i]) * 448]);
      else expect([a >= 61440 && a < 65536, ours[i], r.decoded[i]], `x = ${x[i]}`).toEqual([true, Math.sign(x[i]) * Infinity, NaN]);
    }
  }
});
