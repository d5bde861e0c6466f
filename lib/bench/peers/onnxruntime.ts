/**
 * The onnxruntime-node peer of `fp8kit bench quant` (blocked QuantizeLinear f32 → float8e4m3fn) and of
 * `fp8kit bench cast` (Cast f32 → float8e4m3fn / float8e5m2), timed by onnxruntime's own profiler (the
 * node's kernel time), as in MEASURING.md "Peers".
 *
 * onnxruntime-node is not a dependency of fp8kit (its install script downloads from outside the npm
 * registry); it is loaded with a guarded require when present:
 *   ONNXRUNTIME_NODE_INSTALL=skip npm install --no-save onnxruntime-node
 *
 * The benchmarks are synchronous, and so is onnxruntime-node's native session underneath its Promise
 * API: this file drives that session (`onnxruntime-node/dist/binding`) directly. If that internal
 * layout ever changes, the peer reports itself unavailable with the reason instead of failing the run.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';

import { castFromFp8Sync } from '../../cast.js';
import { quantizeSync } from '../../quant.js';
import { Tensor, tensor } from '../../tensor.js';
import { BenchOptions } from '../cast.js';
import { BenchRow, copyOf, measure, median, uniforms } from '../harness.js';
import { castModel, ONNX_FLOAT, ONNX_FLOAT8E4M3FN, ONNX_FLOAT8E5M2, PeerModel, quantizeLinearModel } from './onnx-model.js';

export const ORT_INSTALL = 'ONNXRUNTIME_NODE_INSTALL=skip npm install --no-save onnxruntime-node';

interface OrtTensorLike {
  type: string;
  dims: readonly number[];
  data: ArrayLike<number>;
}

/** The native session of onnxruntime-node (bin/napi-v6/…/onnxruntime_binding.node). */
interface NativeSession {
  loadModel(buffer: ArrayBufferLike, byteOffset: number, byteLength: number, options: object): void;
  run(feeds: Record<string, unknown>, fetches: Record<string, null>, options: object): Record<string, OrtTensorLike>;
  endProfiling(): void;
  dispose(): void;
}

export interface Ort {
  version: string;
  newSession(): NativeSession;
  tensor(type: 'float32', data: Float32Array, dims: readonly number[]): unknown;
}

export type OrtLoad = { ok: true; ort: Ort } | { ok: false; installed: boolean; reason: string };

let loaded: OrtLoad | undefined;

/** onnxruntime-node if it can be required from here, else why not. */
export function loadOnnxruntime(): OrtLoad {
  if (loaded) return loaded;
  let version = '?';
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    version = (require('onnxruntime-node/package.json') as { version: string }).version;
  } catch (e) {
    return (loaded = { ok: false, installed: false, reason: `peer onnxruntime-node not installed: ${ORT_INSTALL}` });
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const b = require('onnxruntime-node/dist/binding') as { binding: { InferenceSession: new () => NativeSession }; initOrt: () => void };
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const common = require(require.resolve('onnxruntime-common', { paths: [require.resolve('onnxruntime-node')] })) as {
      Tensor: new (type: string, data: Float32Array, dims: readonly number[]) => unknown;
    };
    if (typeof b.initOrt !== 'function' || typeof b.binding?.InferenceSession !== 'function') throw new Error('dist/binding has no InferenceSession');
    b.initOrt();
    loaded = {
      ok: true,
      ort: { version, newSession: () => new b.binding.InferenceSession(), tensor: (type, data, dims) => new common.Tensor(type, data, dims) },
    };
  } catch (e) {
    loaded = { ok: false, installed: true, reason: `peer onnxruntime-node ${version} installed but unusable here: ${(e as Error).message.split('\n')[0]}` };
  }
  return loaded;
}

export interface OrtRunResult {
  /** The timed node's kernel time of each timed run (the warm-up run left out), from the profiler. */
  kernelMs: number[];
  /** session.run wall time of each timed run (the timed node + the Cast back + binding overhead). */
  runMs: number[];
  /** Copy of the same bytes timed between the runs, like harness.measure. */
  copyMs: number[];
  copyBytes: number;
  /** ORT's float8 output, decoded to f32 by the model's last Cast (from the last run). */
  decoded: Float32Array;
  threads: number;
}

/** Kernel times (ms) of the node named `node`, in trace order. */
export function kernelTimes(trace: unknown, node: string, opType: string): number[] {
  if (!Array.isArray(trace)) throw new Error('profile is not a JSON array of events');
  const out: number[] = [];
  for (const e of trace as { cat?: string; name?: string; dur?: number; args?: { op_name?: string } }[])
    if (e.cat === 'Node' && e.name === `${node}_kernel_time` && e.args?.op_name === opType && typeof e.dur === 'number') out.push(e.dur / 1000);
  return out;
}

/**
 * Runs `model` on x (dims `dims`) `reps` + 1 times (the first a warm-up), with a copy of `bytes` bytes
 * timed between runs; the kernel times are the model's timed node's, from onnxruntime's profiler.
 */
export function ortRunModel(ort: Ort, model: PeerModel, x: Float32Array, dims: readonly number[], reps: number, bytes: number, threads = availableParallelism()): OrtRunResult {
  const dir = mkdtempSync(join(tmpdir(), 'fp8kit-ort-'));
  const session = ort.newSession();
  const { copy, copyBytes } = copyOf(bytes);
  try {
    session.loadModel(model.bytes.buffer, model.bytes.byteOffset, model.bytes.byteLength, {
      enableProfiling: true,
      profileFilePrefix: join(dir, 'ort'),
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      // Idle pool threads must not spin into the measurements that follow in this process.
      extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
    });
    const feeds = { [model.input]: ort.tensor('float32', x, dims) };
    const fetches = { [model.output]: null };
    let out = session.run(feeds, fetches, {});
    copy();
    const runMs: number[] = [];
    const copyMs: number[] = [];
    for (let r = 0; r < reps; r++) {
      let t0 = process.hrtime.bigint();
      copy();
      copyMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
      t0 = process.hrtime.bigint();
      out = session.run(feeds, fetches, {});
      runMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    session.endProfiling();
    const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
    if (files.length !== 1) throw new Error(`expected one profile in ${dir}, found ${files.length}`);
    const all = kernelTimes(JSON.parse(readFileSync(join(dir, files[0]), 'utf8')), model.timedNode, model.timedOp);
    if (all.length !== reps + 1) throw new Error(`profile holds ${all.length} ${model.timedOp} kernel times for ${reps + 1} runs`);
    const y = out[model.output];
    if (y.type !== 'float32' || !(y.data instanceof Float32Array)) throw new Error(`Cast output is ${y.type}, not float32`);
    return { kernelMs: all.slice(1), runMs, copyMs, copyBytes, decoded: y.data, threads };
  } finally {
    session.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** QuantizeLinear(x [rows, cols] f32, scales [rows, cols/block]) → Cast(float), through ortRunModel. */
export function ortQuantizeLinear(
  ort: Ort, x: Float32Array, rows: number, cols: number, block: number, scales: Float32Array, reps: number, bytes: number,
  threads = availableParallelism(),
): OrtRunResult {
  return ortRunModel(ort, quantizeLinearModel(rows, cols, block, scales, ONNX_FLOAT), x, [rows, cols], reps, bytes, threads);
}

/** The peer's BenchRow: bytes over the median kernel time, with the interleaved copy. */
export function ortRow(name: string, bytes: number, r: OrtRunResult): BenchRow {
  const medianMs = median(r.kernelMs);
  const gbps = bytes / medianMs / 1e6;
  const copyGbps = r.copyBytes / median(r.copyMs) / 1e6;
  return { name, bytes, medianMs, minMs: Math.min(...r.kernelMs), maxMs: Math.max(...r.kernelMs), gbps, copyGbps, ofCopy: gbps / copyGbps };
}

/** How many of a and b differ (NaN equal to NaN). */
export function countDiffering(a: Float32Array, b: Float32Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && !(a[i] !== a[i] && b[i] !== b[i])) n++;
  return n;
}

/** Activation-like f32 data: normal values (fixed-seed xorshift, Box–Muller), row magnitudes 2^-8 … 2^7. */
export function activations(rows: number, cols: number, seed: number): Float32Array {
  const x = new Float32Array(rows * cols);
  const next = uniforms(seed);
  for (let r = 0; r < rows; r++) {
    const mag = 2 ** ((r % 16) - 8);
    for (let c = 0; c < cols; c += 2) {
      const rad = Math.sqrt(-2 * Math.log(next())) * mag;
      const a = 2 * Math.PI * next();
      x[r * cols + c] = rad * Math.cos(a);
      if (c + 1 < cols) x[r * cols + c + 1] = rad * Math.sin(a);
    }
  }
  return x;
}

/**
 * The rows `fp8kit bench quant` adds for the onnxruntime peer: fp8kit's 1×128 quantize of an f32
 * [4096, 7168] and, when onnxruntime-node is installed, its blocked QuantizeLinear of the same input
 * with the same scales (kernel time). Both count f32 read + fp8 written + scales; the notes carry the
 * ratio and how many fp8 codes differ (ORT divides by the scale, SPEC multiplies by 1/scale).
 */
export function benchQuantPeers(o: BenchOptions, m = 4096, k = 7168, block = 128): BenchRow[] {
  const x = activations(m, k, 0x5eed ^ m ^ k);
  const xt = tensor('f32', [m, k], x);
  const tile = [1, block] as const;
  const bytes = 4 * m * k + m * k + 4 * m * Math.ceil(k / block);
  const shape = `[${m}, ${k}]`;
  const into = quantizeSync(xt, { tile, backend: o.backend });
  const mine = measure(`1x${block} f32 ${shape}`, bytes, o.reps, () => quantizeSync(xt, { tile, backend: o.backend, into }));
  const peer = loadOnnxruntime();
  if (!peer.ok) return [{ ...mine, notes: [peer.reason] }];
  // Scales (amax / 448 per 1×128 block) and codes of the timed call; from ref when that backend keeps them on a device
  // (SPEC makes every backend agree bit for bit).
  let q = into;
  if (!ArrayBuffer.isView((q.data as Tensor).data)) q = quantizeSync(xt, { tile, backend: 'ref' });
  const scales = (q.scales as Tensor<'f32'>).data;
  const ours = (castFromFp8Sync(q.data as Tensor<'e4m3'>) as Tensor<'f32'>).data;
  let r: OrtRunResult;
  try {
    r = ortQuantizeLinear(peer.ort, x, m, k, block, scales, o.reps, bytes);
  } catch (e) {
    return [{ ...mine, notes: [`peer onnxruntime-node ${peer.ort.version} failed: ${(e as Error).message.split('\n')[0]}`] }];
  }
  const row = ortRow(`onnxruntime QuantizeLinear 1x${block} f32 ${shape} (kernel time)`, bytes, r);
  const diff = countDiffering(ours, r.decoded);
  const notes = [
    `fp8kit / onnxruntime-node ${peer.ort.version} QuantizeLinear, 1x${block} f32 ${shape}: ${(row.medianMs / mine.medianMs).toFixed(1)}x ` +
      `(fp8kit ${mine.medianMs.toFixed(2)} ms call time, ${mine.gbps.toFixed(1)} GB/s; ORT ${row.medianMs.toFixed(2)} ms kernel time, ${row.gbps.toFixed(1)} GB/s, ` +
      `${((4 * m * k) / row.medianMs / 1e6).toFixed(1)} GB/s of f32 input; ${r.threads} intra-op threads; session.run median ${median(r.runMs).toFixed(2)} ms)`,
    `fp8 codes differing from onnxruntime's (it rounds x / scale, SPEC x * (1 / scale)): ${diff} of ${m * k} (${((100 * diff) / (m * k)).toPrecision(2)}%)`,
  ];
  return [mine, { ...row, notes }];
}

/**
 * What `fp8kit bench cast` adds for the onnxruntime peer: its Cast f32 → e4m3fn (saturating and not) and
 * → e5m2 of the bench's input (kernel time), each against fp8kit's median for the same cast (`mine`: the
 * bench's row of that name) and with how many codes differ from fp8kit's (SPEC §1: cuda_fp8.h's, bit for bit);
 * or, without onnxruntime-node, the note that says how to install it.
 */
export function benchCastPeers(o: BenchOptions, x: Float32Array, mine: (name: string, format: 'e4m3' | 'e5m2', saturate: boolean) => { ms: number; decoded: Float32Array }): { rows: BenchRow[]; notes: string[] } {
  const peer = loadOnnxruntime();
  if (!peer.ok) return { rows: [], notes: [peer.reason] };
  const rows: BenchRow[] = [], notes: string[] = [];
  for (const [format, saturate] of [['e4m3', true], ['e4m3', false], ['e5m2', true]] as const) {
    const bytes = 5 * x.length;  // f32 read, one byte written
    const name = `f32 -> ${format}${saturate ? '' : ' (no saturate)'}`;
    let r: OrtRunResult;
    try {
      r = ortRunModel(peer.ort, castModel(x.length, format === 'e4m3' ? ONNX_FLOAT8E4M3FN : ONNX_FLOAT8E5M2, saturate), x, [x.length], o.reps, bytes);
    } catch (e) {
      notes.push(`peer onnxruntime-node ${peer.ort.version} failed on Cast ${name}: ${(e as Error).message.split('\n')[0]}`);
      continue;
    }
    const ours = mine(name, format, saturate);
    const row = ortRow(`onnxruntime Cast ${name} (kernel time)`, bytes, r);
    rows.push(row);
    notes.push(
      `fp8kit / onnxruntime-node ${peer.ort.version} Cast ${name}: ${(row.medianMs / ours.ms).toFixed(1)}x (fp8kit ${ours.ms.toFixed(2)} ms call time with into; ORT ${row.medianMs.toFixed(2)} ms kernel time, ` +
        `${r.threads} intra-op threads, session.run median ${median(r.runMs).toFixed(2)} ms); codes differing from fp8kit's: ${countDiffering(ours.decoded, r.decoded)} of ${x.length}`,
    );
  }
  return { rows, notes };
}
