/**
 * A tiny protobuf writer and just enough of onnx.proto3 to build the two models the onnxruntime peer
 * benchmarks need: QuantizeLinear (opset 21) with blocked f32 scales and a FLOAT8E4M3FN zero point, and
 * a Cast to FLOAT8E4M3FN / FLOAT8E5M2; each followed by a Cast back (onnxruntime cannot hand float8
 * tensors to JavaScript).
 *
 * Field numbers (onnx/onnx.proto3): ModelProto{ir_version=1, graph=7, opset_import=8},
 * OperatorSetIdProto{domain=1, version=2}, GraphProto{node=1, name=2, initializer=5, input=11, output=12},
 * NodeProto{input=1, output=2, name=3, op_type=4, attribute=5}, AttributeProto{name=1, i=3, type=20},
 * TensorProto{dims=1, data_type=2, name=8, raw_data=9}, ValueInfoProto{name=1, type=2},
 * TypeProto{tensor_type=1}, TypeProto.Tensor{elem_type=1, shape=2}, TensorShapeProto{dim=1},
 * TensorShapeProto.Dimension{dim_value=1}.
 */

/** TensorProto.DataType values used here. */
export const ONNX_FLOAT = 1;
export const ONNX_FLOAT16 = 10;
export const ONNX_FLOAT8E4M3FN = 17;
export const ONNX_FLOAT8E5M2 = 19;
/** AttributeProto.AttributeType.INT. */
const ATTR_INT = 2;

const WIRE_VARINT = 0;
const WIRE_LEN = 2;

/** Appends protobuf fields to a growing list of chunks; `finish()` concatenates them. */
export class ProtoWriter {
  private chunks: Uint8Array[] = [];
  private length = 0;

  private push(b: Uint8Array): this {
    this.chunks.push(b);
    this.length += b.length;
    return this;
  }

  /** Base-128 varint of a non-negative integer (up to 2^53) or a bigint (negative ones as 64-bit two's complement). */
  static varint(v: number | bigint): Uint8Array {
    let x = typeof v === 'bigint' ? BigInt.asUintN(64, v) : BigInt(v);
    if (typeof v === 'number' && (!Number.isSafeInteger(v) || v < 0)) throw new RangeError(`varint: ${v} is not a non-negative safe integer`);
    const out: number[] = [];
    do {
      const low = Number(x & 0x7fn);
      x >>= 7n;
      out.push(x ? low | 0x80 : low);
    } while (x);
    return Uint8Array.from(out);
  }

  private tag(field: number, wire: number): this {
    return this.push(ProtoWriter.varint(field * 8 + wire));
  }

  /** An int32/int64/enum field (varint wire type). */
  int(field: number, v: number | bigint): this {
    return this.tag(field, WIRE_VARINT).push(ProtoWriter.varint(v));
  }

  /** A bytes field (length-delimited). */
  bytes(field: number, b: Uint8Array): this {
    return this.tag(field, WIRE_LEN).push(ProtoWriter.varint(b.length)).push(b);
  }

  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  /** An embedded message (length-delimited), written by `fill` into a fresh writer. */
  message(field: number, fill: (w: ProtoWriter) => void): this {
    const w = new ProtoWriter();
    fill(w);
    return this.bytes(field, w.finish());
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

export interface OnnxTensor {
  name: string;
  dataType: number;
  dims: readonly number[];
  /** Little-endian element bytes. */
  raw: Uint8Array;
}

export interface OnnxValueInfo {
  name: string;
  elemType: number;
  dims: readonly number[];
}

export interface OnnxNode {
  name: string;
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  /** INT attributes only: all this model needs. */
  intAttributes?: Record<string, number>;
}

export interface OnnxGraph {
  name: string;
  nodes: readonly OnnxNode[];
  initializers: readonly OnnxTensor[];
  inputs: readonly OnnxValueInfo[];
  outputs: readonly OnnxValueInfo[];
}

function writeTensor(w: ProtoWriter, t: OnnxTensor): void {
  for (const d of t.dims) w.int(1, d);
  w.int(2, t.dataType);
  w.string(8, t.name);
  w.bytes(9, t.raw);
}

function writeValueInfo(w: ProtoWriter, v: OnnxValueInfo): void {
  w.string(1, v.name);
  w.message(2, (type) =>
    type.message(1, (tensorType) => {
      tensorType.int(1, v.elemType);
      tensorType.message(2, (shape) => {
        for (const d of v.dims) shape.message(1, (dim) => dim.int(1, d));
      });
    }),
  );
}

function writeNode(w: ProtoWriter, n: OnnxNode): void {
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.name);
  w.string(4, n.opType);
  for (const [name, i] of Object.entries(n.intAttributes ?? {}))
    w.message(5, (a) => {
      a.string(1, name);
      a.int(3, BigInt(i));
      a.int(20, ATTR_INT);
    });
}

/** ModelProto bytes: one graph, the default ("") domain at `opset`. */
export function encodeModel(graph: OnnxGraph, opts: { irVersion: number; opset: number }): Uint8Array {
  const w = new ProtoWriter();
  w.int(1, opts.irVersion);
  w.message(7, (g) => {
    for (const n of graph.nodes) g.message(1, (m) => writeNode(m, n));
    g.string(2, graph.name);
    for (const t of graph.initializers) g.message(5, (m) => writeTensor(m, t));
    for (const v of graph.inputs) g.message(11, (m) => writeValueInfo(m, v));
    for (const v of graph.outputs) g.message(12, (m) => writeValueInfo(m, v));
  });
  w.message(8, (o) => {
    o.string(1, '');
    o.int(2, opts.opset);
  });
  return w.finish();
}

export interface PeerModel {
  /** The node whose kernel time is the peer's, and its op type, for finding it in the profiler's trace. */
  timedNode: string;
  timedOp: string;
  input: string;
  output: string;
  bytes: Uint8Array;
}

/**
 * x f32 [rows, cols] → QuantizeLinear(x, y_scale [rows, cols/block] f32, y_zero_point float8e4m3fn zeros;
 * axis 1, block_size `block`, saturate 1) → Cast(to `castTo`) → y. Opset 21, IR version 10.
 */
export function quantizeLinearModel(rows: number, cols: number, block: number, scales: Float32Array, castTo: number = ONNX_FLOAT): PeerModel {
  const nb = Math.ceil(cols / block);
  if (scales.length !== rows * nb) throw new RangeError(`quantizeLinearModel: ${scales.length} scales for [${rows}, ${nb}] blocks`);
  const scaleBytes = new Uint8Array(scales.buffer, scales.byteOffset, scales.byteLength);
  const graph: OnnxGraph = {
    name: 'fp8kit_peer_quantize_linear',
    nodes: [
      { name: 'quantize', opType: 'QuantizeLinear', inputs: ['x', 'y_scale', 'y_zero_point'], outputs: ['q'], intAttributes: { axis: 1, block_size: block, saturate: 1 } },
      { name: 'cast', opType: 'Cast', inputs: ['q'], outputs: ['y'], intAttributes: { to: castTo } },
    ],
    initializers: [
      { name: 'y_scale', dataType: ONNX_FLOAT, dims: [rows, nb], raw: scaleBytes },
      { name: 'y_zero_point', dataType: ONNX_FLOAT8E4M3FN, dims: [rows, nb], raw: new Uint8Array(rows * nb) },
    ],
    inputs: [{ name: 'x', elemType: ONNX_FLOAT, dims: [rows, cols] }],
    outputs: [{ name: 'y', elemType: castTo, dims: [rows, cols] }],
  };
  return { timedNode: 'quantize', timedOp: 'QuantizeLinear', input: 'x', output: 'y', bytes: encodeModel(graph, { irVersion: 10, opset: 21 }) };
}

/** x f32 [n] → Cast(to `format`, saturate `saturate`) → Cast(to float) → y. Opset 21, IR version 10. */
export function castModel(n: number, format: typeof ONNX_FLOAT8E4M3FN | typeof ONNX_FLOAT8E5M2, saturate: boolean): PeerModel {
  const graph: OnnxGraph = {
    name: 'fp8kit_peer_cast',
    nodes: [
      { name: 'to_fp8', opType: 'Cast', inputs: ['x'], outputs: ['q'], intAttributes: { to: format, saturate: saturate ? 1 : 0 } },
      { name: 'to_float', opType: 'Cast', inputs: ['q'], outputs: ['y'], intAttributes: { to: ONNX_FLOAT } },
    ],
    initializers: [],
    inputs: [{ name: 'x', elemType: ONNX_FLOAT, dims: [n] }],
    outputs: [{ name: 'y', elemType: ONNX_FLOAT, dims: [n] }],
  };
  return { timedNode: 'to_fp8', timedOp: 'Cast', input: 'x', output: 'y', bytes: encodeModel(graph, { irVersion: 10, opset: 21 }) };
}
