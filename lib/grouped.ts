/**
 * SPEC §4 "Grouped GEMMs": the MoE expert layer in DeepGEMM's two layouts, as one dense GEMM per group
 * over views of the operands (no copies), with the rows no group owns written as zeros.
 */
import { isDeviceTensor } from './device.js';
import { Fp8kitError } from './errors.js';
import { checkQuantizedOperand, GemmOptions, gemm, gemmSync } from './gemm.js';
import { Chosen } from './operand.js';
import { checkOptions, describe } from './options.js';
import { isPackedWeights, PackedWeights } from './packed.js';
import type { QuantizedTensor } from './quant.js';
import { allocateOutput, checkTensor, numel, Tensor } from './tensor.js';

export type GroupedGemmOptions = Omit<GemmOptions, 'layout' | 'c' | 'stream' | 'into'> & {
  /** A host tensor of the output dtype and shape to write into (and return). */
  into?: Tensor<'bf16' | 'f32'>;
  /** groupedGemmContiguous: every group's rows start at a multiple of this (default 128). */
  alignment?: number;
};

const BLOCK = 128;
const cdiv = (a: number, b: number) => Math.ceil(a / b);

function hostQuantized(q: unknown, name: string, fn: string, dims: number): { q: QuantizedTensor; data: Tensor<'e4m3' | 'e5m2'>; scales: Tensor<'f32'> } {
  const { q: r } = checkQuantizedOperand(q, name, fn, dims);
  if (isDeviceTensor(r.data) || isDeviceTensor(r.scales)) throw new Fp8kitError('ERR_ARGUMENT', `${fn}: ${name} must be on the host (device tensors are not supported by grouped GEMMs yet)`);
  if (r.scaleLayout === 'mn-major') throw new Fp8kitError('ERR_ARGUMENT', `${fn}: ${name}'s scales must be in the row layout`);
  return { q: r, data: r.data as Tensor<'e4m3' | 'e5m2'>, scales: r.scales as Tensor<'f32'> };
}

/** Rows [r0, r1) of a quantized matrix whose scales have one row per data row (1×128 tiles). */
function rowView(x: ReturnType<typeof hostQuantized>, base: number, k: number, r0: number, r1: number): QuantizedTensor {
  const ks = cdiv(k, BLOCK);
  return {
    ...x.q,
    data: { dtype: x.data.dtype, shape: [r1 - r0, k], data: x.data.data.subarray((base + r0) * k, (base + r1) * k) } as Tensor<'e4m3' | 'e5m2'>,
    scales: { dtype: 'f32', shape: [r1 - r0, ks], data: x.scales.data.subarray((base + r0) * ks, (base + r1) * ks) },
  };
}

type Weights = ReturnType<typeof hostQuantized> | PackedWeights;

/** B of a grouped GEMM: quantized [G, N, K] on the host, or weights packed as one (packWeights). */
function groupedWeights(b: unknown, fn: string): { w: Weights; shape: readonly number[] } {
  if (!isPackedWeights(b)) {
    const w = hostQuantized(b, 'b', fn, 3);
    return { w, shape: w.data.shape };
  }
  if (b.shape.length !== 3) throw new Fp8kitError('ERR_SHAPE', `${fn}: b is packed weights of one matrix [${b.shape.join(', ')}]; a grouped GEMM takes weights packed from [G, N, K]`);
  return { w: b, shape: b.shape };
}

/** Group g of the weights as an [N, K] matrix with its own scales (a view: no copy). */
function groupView(b: Weights, g: number): QuantizedTensor | PackedWeights {
  if (isPackedWeights(b)) return b.group(g);
  const [, n, k] = b.data.shape;
  const per = b.scales.data.length / b.data.shape[0];
  return {
    ...b.q,
    data: { dtype: b.data.dtype, shape: [n, k], data: b.data.data.subarray(g * n * k, (g + 1) * n * k) } as Tensor<'e4m3' | 'e5m2'>,
    scales: { dtype: 'f32', shape: b.scales.shape.slice(1), data: b.scales.data.subarray(g * per, (g + 1) * per) },
  };
}

function checkIndices(v: unknown, name: string, length: number, fn: string): Int32Array {
  if (!(v instanceof Int32Array)) throw new Fp8kitError('ERR_DTYPE', `${fn}: ${name} must be an Int32Array; got ${describe(v)}`);
  if (v.length !== length) throw new Fp8kitError('ERR_SHAPE', `${fn}: ${name} has ${v.length} entries; ${length} are needed`);
  return v;
}

function outputFor(into: unknown, out: 'bf16' | 'f32', shape: number[], fn: string): Tensor<'bf16' | 'f32'> {
  if (into === undefined) return { dtype: out, shape, data: allocateOutput(out, numel(shape)) };
  const t = checkTensor(into, `${fn}: options.into`, [out]);
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
    throw new Fp8kitError('ERR_SHAPE', `${fn}: options.into has shape [${t.shape.join(', ')}]; the result has shape [${shape.join(', ')}]`);
  return t;
}

/** One dense GEMM per (rows, group) piece, written into row ranges of d; other rows zero. */
interface Plan {
  d: Tensor<'bf16' | 'f32'>;
  pieces: { a: QuantizedTensor; b: QuantizedTensor | PackedWeights; row0: number; rows: number }[];
  n: number;
  opts: GemmOptions;
}

function sub(d: Tensor<'bf16' | 'f32'>, row0: number, rows: number, n: number): Tensor<'bf16' | 'f32'> {
  return { dtype: d.dtype, shape: [rows, n], data: d.data.subarray(row0 * n, (row0 + rows) * n) } as Tensor<'bf16' | 'f32'>;
}

function zeroUncovered(p: Plan): void {
  const covered = new Uint8Array(p.d.data.length / p.n);
  for (const x of p.pieces) covered.fill(1, x.row0, x.row0 + x.rows);
  for (let r = 0; r < covered.length; r++) if (!covered[r]) p.d.data.fill(0, r * p.n, (r + 1) * p.n);
}

function runSyncPlan(p: Plan): Tensor<'bf16' | 'f32'> {
  zeroUncovered(p);
  for (const x of p.pieces) gemmSync(x.a, x.b, { ...p.opts, into: sub(p.d, x.row0, x.rows, p.n) });
  return p.d;
}

async function runAsyncPlan(prepare: () => Plan): Promise<Tensor<'bf16' | 'f32'>> {
  const p = prepare();
  zeroUncovered(p);
  for (const x of p.pieces) await gemm(x.a, x.b, { ...p.opts, into: sub(p.d, x.row0, x.rows, p.n) });
  return p.d;
}

function commonOptions(o: Partial<GroupedGemmOptions>): { out: 'bf16' | 'f32'; opts: GemmOptions } {
  const { alignment: _alignment, into: _into, ...rest } = o;
  const out = rest.out ?? 'bf16';
  return { out: out as 'bf16' | 'f32', opts: { ...rest, out } };
}

function planContiguous(a: QuantizedTensor, b: QuantizedTensor | PackedWeights, mIndices: Int32Array, opts: GroupedGemmOptions | undefined): Plan {
  const fn = 'groupedGemmContiguous';
  const o = checkOptions(opts, ['out', 'accumulate', 'accumulatorBits', 'promotionInterval', 'backend', 'into', 'alignment'], fn);
  const A = hostQuantized(a, 'a', fn, 2);
  const { w: B, shape: bShape } = groupedWeights(b, fn);
  const [mSum, k] = A.data.shape;
  const [groups, n, kb] = bShape;
  if (kb !== k) throw new Fp8kitError('ERR_SHAPE', `${fn}: K differs: a.data [${mSum}, ${k}] and b [${groups}, ${n}, ${kb}]`);
  const idx = checkIndices(mIndices, 'mIndices', mSum, fn);
  const alignment = o.alignment ?? 128;
  if (!Number.isInteger(alignment) || alignment < 1) throw new Fp8kitError('ERR_ARGUMENT', `${fn}: options.alignment must be a positive integer; got ${describe(o.alignment)}`);
  const { out, opts: g } = commonOptions(o);
  const d = outputFor(o.into, out, [mSum, n], fn);
  const pieces: Plan['pieces'] = [];
  const seen = new Set<number>();
  for (let r = 0; r < mSum; ) {
    const id = idx[r];
    if (id === -1) {
      r++;
      continue;
    }
    if (!Number.isInteger(id) || id < 0 || id >= groups) throw new Fp8kitError('ERR_ARGUMENT', `${fn}: mIndices[${r}] = ${id} is not a group of b (0 to ${groups - 1}) nor -1`);
    if (r % alignment !== 0) throw new Fp8kitError('ERR_ARGUMENT', `${fn}: group ${id} starts at row ${r}, not at a multiple of the alignment ${alignment}`);
    if (seen.has(id)) throw new Fp8kitError('ERR_ARGUMENT', `${fn}: group ${id}'s rows are not contiguous (it starts again at row ${r})`);
    seen.add(id);
    let end = r;
    while (end < mSum && idx[end] === id) end++;
    // The rest of its last alignment block may only be padding.
    const blockEnd = Math.min(mSum, cdiv(end, alignment) * alignment);
    for (let t = end; t < blockEnd; t++)
      if (idx[t] !== -1) throw new Fp8kitError('ERR_ARGUMENT', `${fn}: the alignment block of rows ${blockEnd - alignment}–${blockEnd - 1} mixes group ${id} with ${idx[t]} (row ${t})`);
    pieces.push({ a: rowView(A, 0, k, r, end), b: groupView(B, id), row0: r, rows: end - r });
    r = blockEnd;
  }
  return { d, pieces, n, opts: g };
}

function planMasked(a: QuantizedTensor, b: QuantizedTensor | PackedWeights, maskedM: Int32Array, opts: GroupedGemmOptions | undefined): Plan {
  const fn = 'groupedGemmMasked';
  const o = checkOptions(opts, ['out', 'accumulate', 'accumulatorBits', 'promotionInterval', 'backend', 'into'], fn);
  const A = hostQuantized(a, 'a', fn, 3);
  const { w: B, shape: bShape } = groupedWeights(b, fn);
  const [groups, mMax, k] = A.data.shape;
  const [gb, n, kb] = bShape;
  if (gb !== groups) throw new Fp8kitError('ERR_SHAPE', `${fn}: a has ${groups} groups and b ${gb}`);
  if (kb !== k) throw new Fp8kitError('ERR_SHAPE', `${fn}: K differs: a.data [${A.data.shape.join(', ')}] and b [${bShape.join(', ')}]`);
  const masked = checkIndices(maskedM, 'maskedM', groups, fn);
  const { out, opts: g } = commonOptions(o);
  const d = outputFor(o.into, out, [groups, mMax, n], fn);
  const pieces: Plan['pieces'] = [];
  masked.forEach((rows, gi) => {
    if (rows < 0 || rows > mMax) throw new Fp8kitError('ERR_ARGUMENT', `${fn}: maskedM[${gi}] = ${rows} is outside 0 to ${mMax}`);
    if (rows > 0) pieces.push({ a: rowView(A, gi * mMax, k, 0, rows), b: groupView(B, gi), row0: gi * mMax, rows });
  });
  return { d, pieces, n, opts: g };
}

/** DeepGEMM's m-grouped contiguous layout: A [M_sum, K], B [G, N, K] (or packed from one), mIndices naming each row's group (−1: padding, zero output). */
export function groupedGemmContiguousSync<O extends GroupedGemmOptions = {}>(a: QuantizedTensor, b: QuantizedTensor | PackedWeights, mIndices: Int32Array, opts?: O): Tensor<Chosen<O, 'out', 'bf16', 'bf16' | 'f32'>> {
  return runSyncPlan(planContiguous(a, b, mIndices, opts)) as Tensor<Chosen<O, 'out', 'bf16', 'bf16' | 'f32'>>;
}
export function groupedGemmContiguous<O extends GroupedGemmOptions = {}>(a: QuantizedTensor, b: QuantizedTensor | PackedWeights, mIndices: Int32Array, opts?: O): Promise<Tensor<Chosen<O, 'out', 'bf16', 'bf16' | 'f32'>>> {
  return runAsyncPlan(() => planContiguous(a, b, mIndices, opts)) as Promise<Tensor<Chosen<O, 'out', 'bf16', 'bf16' | 'f32'>>>;
}

/** DeepGEMM's masked layout: A [G, M_max, K], B [G, N, K]; rows at or past maskedM[g] are zero. */
export function groupedGemmMaskedSync<O extends GroupedGemmOptions = {}>(a: QuantizedTensor, b: QuantizedTensor | PackedWeights, maskedM: Int32Array, opts?: O): Tensor<Chosen<O, 'out', 'bf16', 'bf16' | 'f32'>> {
  return runSyncPlan(planMasked(a, b, maskedM, opts)) as Tensor<Chosen<O, 'out', 'bf16', 'bf16' | 'f32'>>;
}
export function groupedGemmMasked<O extends GroupedGemmOptions = {}>(a: QuantizedTensor, b: QuantizedTensor | PackedWeights, maskedM: Int32Array, opts?: O): Promise<Tensor<Chosen<O, 'out', 'bf16', 'bf16' | 'f32'>>> {
  return runAsyncPlan(() => planMasked(a, b, maskedM, opts)) as Promise<Tensor<Chosen<O, 'out', 'bf16', 'bf16' | 'f32'>>>;
}
