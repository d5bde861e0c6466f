/**
 * DeepSeek-V3-style FP8 checkpoints ↔ BF16 (SPEC.md §9): each FP8 weight `W` (F8_E4M3, [out, in]) has a
 * `W_scale_inv` (F32, [ceil(out/128), ceil(in/128)]), and `W ≈ block · scale_inv`.
 *
 * Memory: tensors are streamed in strips of whole 128-row block rows (about STRIP_ELEMS elements, never
 * fewer than 128 rows), read with positioned reads and written at their planned offsets in the output
 * file; pass-through tensors are copied in COPY_CHUNK pieces. The read and f32 buffers are reused, so the
 * live memory is one strip's buffers (source + f32 temporaries + result: about 8 bytes an element, ~16 MiB
 * at the default, 128·in·8 bytes for weights wider than 16384) plus one copy chunk, whatever the size of
 * the tensors or the checkpoint; the kernels' outputs (a strip's result) are garbage the GC collects late,
 * which measures as ~45–55 MiB of peak RSS growth in test/convert.test.ts for 32 MiB and 128 MiB tensors.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { Fp8kitError } from '../errors.js';
import { checkOptions } from '../options.js';
import { byName, openForRead, planLayout, readExactSync, TensorInfo, TensorSpec, writeAllSync, FileLayout } from '../safetensors.js';
import { bytesPerElement, Tensor } from '../tensor.js';
import { BLOCK, Blocks, blockDequantize, blockDequantizeSync, blockQuantize, blockQuantizeSync } from './blocks.js';
import { Checkpoint, INDEX_FILE, openCheckpoint, Shard } from './layout.js';
import { Progress, progressMode } from './progress.js';
import { Include, includePredicate } from './select.js';

const STRIP_ELEMS = 1 << 21;
const COPY_CHUNK = 16 << 20;
const SCALE_SUFFIX = '_scale_inv';
/** What DeepSeek-V3's config.json says of its FP8 weights. */
const QUANTIZATION_CONFIG = { activation_scheme: 'dynamic', fmt: 'e4m3', quant_method: 'fp8', weight_block_size: [BLOCK, BLOCK] };

export interface CheckpointOptions {
  /** bf16ToFp8 only: which tensors to quantize (default: DeepSeek-V3's choice, see select.ts). */
  include?: Include;
  /** A progress bar on stderr; default: when stderr is a TTY. */
  progress?: boolean;
  /** Write into a destination that exists and is not empty (files of the same name are replaced). */
  overwrite?: boolean;
}

export interface ConvertSummary {
  shards: number;
  /** Tensors written. */
  tensors: number;
  /** Tensors quantized or dequantized. */
  converted: number;
  bytesRead: number;
  bytesWritten: number;
  warnings: string[];
}

type Job =
  | { kind: 'copy'; name: string; src: Shard; info: TensorInfo }
  | { kind: 'dequant'; name: string; src: Shard; info: TensorInfo; scale: Shard; scaleInfo: TensorInfo }
  | { kind: 'quant'; name: string; src: Shard; info: TensorInfo };

interface OutShard {
  file: string;
  specs: TensorSpec[];
  jobs: Job[];
  metadata: Record<string, string>;
}

interface Plan {
  to: 'bf16' | 'fp8';
  shards: OutShard[];
  warnings: string[];
}

const cdiv = (a: number, b: number) => Math.ceil(a / b);
const shapeStr = (s: readonly number[]) => `[${s.join(', ')}]`;

function planFp8ToBf16(cp: Checkpoint): Plan {
  const warnings: string[] = [];
  const isFp8 = (name: string) => cp.where.get(name)?.header.tensors.get(name)?.dtype === 'e4m3';
  const shards = cp.shards.map((sh) => {
    const out: OutShard = { file: sh.file, specs: [], jobs: [], metadata: shardMetadata(sh) };
    for (const [name, info] of sh.header.tensors) {
      if (name.endsWith(SCALE_SUFFIX) && isFp8(name.slice(0, -SCALE_SUFFIX.length))) continue; // consumed by its weight
      const scale = info.dtype === 'e4m3' ? cp.where.get(name + SCALE_SUFFIX) : undefined;
      if (info.dtype === 'e4m3' && !scale) warnings.push(`'${name}' is F8_E4M3 without '${name}${SCALE_SUFFIX}'; copied unchanged`);
      if (!scale) {
        out.specs.push({ name, dtype: info.dtype, shape: info.shape });
        out.jobs.push({ kind: 'copy', name, src: sh, info });
        continue;
      }
      const scaleInfo = scale.header.tensors.get(name + SCALE_SUFFIX)!;
      if (info.shape.length !== 2) throw new Fp8kitError('ERR_SHAPE', `FP8 weight '${name}' must be 2-D; got ${shapeStr(info.shape)}`);
      if (scaleInfo.dtype !== 'f32') throw new Fp8kitError('ERR_DTYPE', `'${name}${SCALE_SUFFIX}' must be F32; got ${scaleInfo.dtype}`);
      const want = [cdiv(info.shape[0], BLOCK), cdiv(info.shape[1], BLOCK)];
      if (scaleInfo.shape.length !== 2 || scaleInfo.shape[0] !== want[0] || scaleInfo.shape[1] !== want[1])
        throw new Fp8kitError('ERR_SHAPE', `'${name}${SCALE_SUFFIX}' of ${shapeStr(info.shape)} must be ${shapeStr(want)}; got ${shapeStr(scaleInfo.shape)}`);
      out.specs.push({ name, dtype: 'bf16', shape: info.shape });
      out.jobs.push({ kind: 'dequant', name, src: sh, info, scale, scaleInfo });
    }
    return out;
  });
  return { to: 'bf16', shards, warnings };
}

function planBf16ToFp8(cp: Checkpoint, include: Include | undefined): Plan {
  const pick = includePredicate(include);
  const shards = cp.shards.map((sh) => {
    const out: OutShard = { file: sh.file, specs: [], jobs: [], metadata: shardMetadata(sh) };
    for (const [name, info] of sh.header.tensors) {
      const quantize = !name.endsWith(SCALE_SUFFIX) && info.dtype !== 'e4m3' && pick(name, info);
      if (!quantize) {
        out.specs.push({ name, dtype: info.dtype, shape: info.shape });
        out.jobs.push({ kind: 'copy', name, src: sh, info });
        continue;
      }
      if (info.dtype !== 'bf16' && info.dtype !== 'f32') throw new Fp8kitError('ERR_DTYPE', `'${name}' is ${info.dtype}; only BF16 and F32 weights can be quantized`);
      if (info.shape.length !== 2) throw new Fp8kitError('ERR_SHAPE', `'${name}' must be 2-D to quantize in 128×128 blocks; got ${shapeStr(info.shape)}`);
      if (cp.where.has(name + SCALE_SUFFIX)) throw new Fp8kitError('ERR_ARGUMENT', `'${name}' would be quantized but '${name}${SCALE_SUFFIX}' already exists`);
      out.specs.push({ name, dtype: 'e4m3', shape: info.shape });
      out.specs.push({ name: name + SCALE_SUFFIX, dtype: 'f32', shape: [cdiv(info.shape[0], BLOCK), cdiv(info.shape[1], BLOCK)] });
      out.jobs.push({ kind: 'quant', name, src: sh, info });
    }
    return out;
  });
  return { to: 'fp8', shards, warnings: [] };
}

/** transformers refuses safetensors without `format: pt`; keep the shard's own metadata otherwise. */
function shardMetadata(sh: Shard): Record<string, string> {
  return Object.keys(sh.header.metadata).length ? sh.header.metadata : { format: 'pt' };
}

// The conversion is one generator yielding its I/O and kernels as effects, run by a sync or async driver.
type Effect =
  | { op: 'read'; fd: number; buf: Uint8Array; pos: number; path: string }
  | { op: 'write'; fd: number; buf: Uint8Array; pos: number }
  | { op: 'quantize'; x: Tensor<'bf16' | 'f32'> }
  | { op: 'dequantize'; q: Tensor<'e4m3'>; scales: Tensor<'f32'> };

/** Grow-only buffers reused for every strip and chunk: the source bytes, and the f32 temporaries. */
class Scratch {
  private bufs = [new ArrayBuffer(0), new ArrayBuffer(0)];
  private grow(i: number, n: number): ArrayBuffer {
    if (n > this.bufs[i].byteLength) {
      this.bufs[i] = new ArrayBuffer(0); // let the old one go first
      try {
        this.bufs[i] = new ArrayBuffer(n);
      } catch (e) {
        throw new Fp8kitError('ERR_OUT_OF_MEMORY', `cannot allocate a ${n}-byte conversion buffer: ${(e as Error).message}`);
      }
    }
    return this.bufs[i];
  }
  take(n: number): Uint8Array {
    return new Uint8Array(this.grow(0, n), 0, n);
  }
}

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Rows per strip: whole 128-row block rows, about STRIP_ELEMS elements. */
const stripRows = (cols: number) => BLOCK * Math.max(1, Math.floor(STRIP_ELEMS / (BLOCK * Math.max(cols, 1))));

function* runJob(job: Job, fd: number, layout: FileLayout, srcFd: (s: Shard) => number, scratch: Scratch, progress: Progress): Generator<Effect, void, unknown> {
  const { info, src } = job;
  const base = src.header.dataStart + info.begin;
  const dst = layout.at.get(job.name)!.pos;
  if (job.kind === 'copy') {
    const total = info.end - info.begin;
    for (let off = 0; off < total; off += COPY_CHUNK) {
      const buf = scratch.take(Math.min(COPY_CHUNK, total - off));
      yield { op: 'read', fd: srcFd(src), buf, pos: base + off, path: src.path };
      yield { op: 'write', fd, buf, pos: dst + off };
      progress.advance(buf.length);
    }
    return progress.advance(0, true);
  }
  const [M, K] = info.shape;
  const nb = cdiv(K, BLOCK);
  const rows = stripRows(K);
  if (job.kind === 'quant') {
    const bpe = bytesPerElement(info.dtype);
    const scalePos = layout.at.get(job.name + SCALE_SUFFIX)!.pos;
    for (let r0 = 0; r0 < M; r0 += rows) {
      const r1 = Math.min(M, r0 + rows), n = (r1 - r0) * K;
      const buf = scratch.take(n * bpe);
      yield { op: 'read', fd: srcFd(src), buf, pos: base + r0 * K * bpe, path: src.path };
      const data = info.dtype === 'bf16' ? new Uint16Array(buf.buffer, 0, n) : new Float32Array(buf.buffer, 0, n);
      const x = { dtype: info.dtype, shape: [r1 - r0, K], data } as Tensor<'bf16' | 'f32'>;
      const q = (yield { op: 'quantize', x }) as Blocks;
      yield { op: 'write', fd, buf: bytesOf(q.data.data), pos: dst + r0 * K };
      yield { op: 'write', fd, buf: bytesOf(q.scales.data), pos: scalePos + (r0 / BLOCK) * nb * 4 };
      progress.advance(n * bpe);
    }
    return progress.advance(0, true);
  }
  // dequant: the scales are small (1/16384 of the weight's elements), read whole.
  const sBytes = new Uint8Array(job.scaleInfo.end - job.scaleInfo.begin);
  yield { op: 'read', fd: srcFd(job.scale), buf: sBytes, pos: job.scale.header.dataStart + job.scaleInfo.begin, path: job.scale.path };
  const scales = new Float32Array(sBytes.buffer);
  for (let r0 = 0; r0 < M; r0 += rows) {
    const r1 = Math.min(M, r0 + rows), n = (r1 - r0) * K;
    const buf = scratch.take(n);
    yield { op: 'read', fd: srcFd(src), buf, pos: base + r0 * K, path: src.path };
    const s = scales.subarray((r0 / BLOCK) * nb, cdiv(r1, BLOCK) * nb);
    const q: Tensor<'e4m3'> = { dtype: 'e4m3', shape: [r1 - r0, K], data: buf };
    const y = (yield { op: 'dequantize', q, scales: { dtype: 'f32', shape: [cdiv(r1 - r0, BLOCK), nb], data: s } }) as Tensor<'bf16'>;
    yield { op: 'write', fd, buf: bytesOf(y.data), pos: dst + r0 * K * 2 };
    progress.advance(n);
  }
  progress.advance(0, true);
}

function* convert(plan: Plan, cp: Checkpoint, dstDir: string, mode: boolean | undefined): Generator<Effect, ConvertSummary, unknown> {
  const jobs = plan.shards.flatMap((s) => s.jobs);
  const bytesRead = jobs.reduce((a, j) => a + j.info.end - j.info.begin, 0);
  const progress = new Progress(jobs.length, bytesRead, progressMode(mode));
  const scratch = new Scratch();
  const fds = new Map<string, number>();
  const srcFd = (s: Shard) => {
    let fd = fds.get(s.path);
    if (fd === undefined) fds.set(s.path, (fd = openForRead(s.path)));
    return fd;
  };
  const weightMap: Record<string, string> = {};
  let bytesWritten = 0;
  try {
    for (const out of plan.shards) {
      const layout = planLayout(out.specs, out.metadata);
      const fd = fs.openSync(path.join(dstDir, out.file), 'w');
      try {
        yield { op: 'write', fd, buf: layout.header, pos: 0 };
        for (const job of out.jobs) yield* runJob(job, fd, layout, srcFd, scratch, progress);
        fs.ftruncateSync(fd, layout.size); // a trailing empty tensor writes nothing
      } finally {
        fs.closeSync(fd);
      }
      for (const s of out.specs) weightMap[s.name] = out.file;
      bytesWritten += layout.size - layout.header.length;
      progress.shardDone(out.file);
    }
  } finally {
    for (const fd of fds.values()) fs.closeSync(fd);
  }
  progress.finish();
  writeSideFiles(cp, dstDir, plan.to, weightMap, bytesWritten);
  const converted = jobs.filter((j) => j.kind !== 'copy').length;
  return { shards: plan.shards.length, tensors: Object.keys(weightMap).length, converted, bytesRead, bytesWritten, warnings: plan.warnings };
}

/** The new index (total_size = tensor bytes, as HF writes it), config.json adjusted, other files copied. */
function writeSideFiles(cp: Checkpoint, dstDir: string, to: 'bf16' | 'fp8', weightMap: Record<string, string>, totalSize: number): void {
  const sorted = Object.fromEntries(Object.entries(weightMap).sort(([a], [b]) => byName(a, b))); // as transformers writes it
  const index = { metadata: { ...cp.metadata, total_size: totalSize }, weight_map: sorted };
  fs.writeFileSync(path.join(dstDir, INDEX_FILE), JSON.stringify(index, null, 2) + '\n');
  for (const f of fs.readdirSync(cp.dir, { withFileTypes: true })) {
    if (!f.isFile() || f.name.endsWith('.safetensors') || f.name === INDEX_FILE) continue;
    const from = path.join(cp.dir, f.name), dest = path.join(dstDir, f.name);
    if (f.name === 'config.json') {
      try {
        const config = JSON.parse(fs.readFileSync(from, 'utf8'));
        if (config && typeof config === 'object' && !Array.isArray(config)) {
          if (to === 'bf16') delete config.quantization_config;
          else config.quantization_config = QUANTIZATION_CONFIG;
          fs.writeFileSync(dest, JSON.stringify(config, null, 2) + '\n');
          continue;
        }
      } catch {
        // not JSON we understand: copied verbatim below
      }
    }
    fs.copyFileSync(from, dest);
  }
}

/** The destination: created, or empty, or `overwrite`; never the source itself. */
function prepareDestination(src: string, dst: string, overwrite: boolean): void {
  if (typeof dst !== 'string' || !dst) throw new Fp8kitError('ERR_ARGUMENT', 'destination must be a directory path');
  if (fs.existsSync(dst)) {
    if (!fs.statSync(dst).isDirectory()) throw new Fp8kitError('ERR_ARGUMENT', `destination ${dst} exists and is not a directory`);
    if (fs.realpathSync(dst) === fs.realpathSync(src)) throw new Fp8kitError('ERR_ARGUMENT', `destination ${dst} is the source directory`);
    if (fs.readdirSync(dst).length && !overwrite)
      throw new Fp8kitError('ERR_ARGUMENT', `destination ${dst} exists and is not empty (pass --overwrite / overwrite: true to write into it)`);
  }
  fs.mkdirSync(dst, { recursive: true });
}

function prepare(to: 'bf16' | 'fp8', src: string, dst: string, opts: CheckpointOptions | undefined): [Plan, Checkpoint] {
  const fn = to === 'bf16' ? 'fp8ToBf16' : 'bf16ToFp8';
  const o = checkOptions(opts, to === 'bf16' ? ['progress', 'overwrite'] : ['include', 'progress', 'overwrite'], fn);
  if (typeof src !== 'string' || !src) throw new Fp8kitError('ERR_ARGUMENT', `${fn}: source must be a directory path`);
  const cp = openCheckpoint(src);
  const plan = to === 'bf16' ? planFp8ToBf16(cp) : planBf16ToFp8(cp, o.include);
  prepareDestination(src, dst, o.overwrite === true);
  return [plan, cp];
}

function runSync<T>(g: Generator<Effect, T, unknown>): T {
  let r = g.next();
  while (!r.done) {
    const e = r.value;
    let v: unknown;
    try {
      if (e.op === 'read') readExactSync(e.fd, e.buf, e.pos, e.path);
      else if (e.op === 'write') writeAllSync(e.fd, e.buf, e.pos);
      else v = e.op === 'quantize' ? blockQuantizeSync(e.x) : blockDequantizeSync(e.q, e.scales);
    } catch (err) {
      r = g.throw(err); // lets the generator close its files
      continue;
    }
    r = g.next(v);
  }
  return r.value;
}

function ioAsync(e: Effect & { op: 'read' | 'write' }): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (done: number): void => {
      if (done === e.buf.length) return resolve();
      const cb = (err: NodeJS.ErrnoException | null, n: number) => {
        if (err) return reject(err);
        if (n === 0 && e.op === 'read') return reject(new Fp8kitError('ERR_ARGUMENT', `${e.path}: not a valid safetensors file: unexpected end of file at byte ${e.pos + done}`));
        step(done + n);
      };
      const len = Math.min(e.buf.length - done, 1 << 30);
      if (e.op === 'read') fs.read(e.fd, e.buf, done, len, e.pos + done, cb);
      else fs.write(e.fd, e.buf, done, len, e.pos + done, cb);
    };
    step(0);
  });
}

async function runAsync<T>(g: Generator<Effect, T, unknown>): Promise<T> {
  let r = g.next();
  while (!r.done) {
    const e = r.value;
    let v: unknown;
    try {
      if (e.op === 'read' || e.op === 'write') await ioAsync(e);
      else v = e.op === 'quantize' ? await blockQuantize(e.x) : await blockDequantize(e.q, e.scales);
    } catch (err) {
      r = g.throw(err);
      continue;
    }
    r = g.next(v);
  }
  return r.value;
}

/** FP8 checkpoint → BF16: each F8_E4M3 `W` with a `W_scale_inv` becomes bf16(f32(W)·scale_inv); other tensors are copied. */
export function fp8ToBf16Sync(src: string, dst: string, opts?: CheckpointOptions): ConvertSummary {
  const [plan, cp] = prepare('bf16', src, dst, opts);
  return runSync(convert(plan, cp, dst, opts?.progress));
}

export async function fp8ToBf16(src: string, dst: string, opts?: CheckpointOptions): Promise<ConvertSummary> {
  const [plan, cp] = prepare('bf16', src, dst, opts);
  return runAsync(convert(plan, cp, dst, opts?.progress));
}

/** BF16 checkpoint → FP8: the selected 2-D weights become e4m3 `W` + f32 `W_scale_inv` (128×128 blocks). */
export function bf16ToFp8Sync(src: string, dst: string, opts?: CheckpointOptions): ConvertSummary {
  const [plan, cp] = prepare('fp8', src, dst, opts);
  return runSync(convert(plan, cp, dst, opts?.progress));
}

export async function bf16ToFp8(src: string, dst: string, opts?: CheckpointOptions): Promise<ConvertSummary> {
  const [plan, cp] = prepare('fp8', src, dst, opts);
  return runAsync(convert(plan, cp, dst, opts?.progress));
}
