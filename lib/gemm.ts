/** SPEC §4: FP8 GEMM with promoted accumulation, and DeepGEMM's calcDiff. */
import { isDeviceTensor, Stream, streamHandle } from './device.js';
import { Fp8kitError, NativeCall, runAsync, runSync } from './errors.js';
import { native } from './native.js';
import type { BackendName } from './backends.js';
import { At, checkOperand, Chosen, LocationOf, nativeArg, Operand, operandBackend, outputOrGiven } from './operand.js';
import { checkOptions, choice, describe } from './options.js';
import { isPackedWeights, packedArg, PackedWeights } from './packed.js';
import { quantizedHint } from './quant.js';
import type { QuantizedTensor } from './quant.js';
import { checkTensor, dtypeCode, Tensor } from './tensor.js';

export type GemmLayout = 'nt' | 'nn' | 'tn' | 'tt';
export type Accumulate = 'promoted' | 'exact' | 'limited';

export interface GemmOptions {
  /** 'bf16' (default) or 'f32'. */
  out?: 'bf16' | 'f32';
  /** f32 [M, N], added once at the end. */
  c?: Operand<'f32'>;
  /** How A and B are stored (BLAS letters, D = op(A)·op(B)): 'nt' (default) A [M,K], B [N,K]; 'nn' B [K,N]; 'tn' A [K,M], B [K,N]; 'tt' A [K,M], B [N,K]. */
  layout?: GemmLayout;
  /** 'promoted' (default, DeepSeek-V3's promotion every 128 of K), 'exact' (f64) or 'limited' (the Hopper accumulator model). */
  accumulate?: Accumulate;
  /** limited: bits the accumulator keeps after aligning to the largest exponent (default 14). */
  accumulatorBits?: number;
  /** limited: restart the limited accumulator and promote every 32, 64 or 128 of K (default: never). */
  promotionInterval?: 32 | 64 | 128;
  backend?: BackendName;
  stream?: Stream;
  /** A tensor of the output dtype and shape [M, N] to write into (and return). */
  into?: Operand;
}

const BLOCK = 128;
export const LAYOUT_CODE: Record<GemmLayout, number> = { nt: 0, nn: 1, tn: 2, tt: 3 };
const ACC_CODE: Record<Accumulate, number> = { promoted: 0, exact: 1, limited: 2 };
const FORMAT_CODE = { e4m3: 0, e5m2: 1 } as const;
const cdiv = (a: number, b: number) => Math.ceil(a / b);
const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

export interface Side {
  q: QuantizedTensor;
  /** Its stored shape. */
  rows: number;
  cols: number;
}

/**
 * A quantized operand of a GEMM: FP8 data of `dims` dimensions whose dtype its format names, and f32
 * scales (their shape is checked against the layout by the caller).
 */
export function checkQuantizedOperand(q: unknown, name: string, fn: string, dims: number): { q: QuantizedTensor; data: Operand<'e4m3' | 'e5m2'> } {
  if (q === null || typeof q !== 'object' || ArrayBuffer.isView(q) || !('data' in q) || !('scales' in q) || !('tile' in q))
    throw new Fp8kitError('ERR_ARGUMENT', `${fn}: ${name} must be a quantized tensor {data, scales, tile, format, scaleFormat, scaleLayout} (from quantize); got ${quantizedHint(q)}`);
  const r = q as QuantizedTensor;
  const data = checkOperand(r.data, `${name}.data`, ['e4m3', 'e5m2'] as const);
  checkOperand(r.scales, `${name}.scales`, ['f32'] as const);
  if (r.format !== data.dtype) throw new Fp8kitError('ERR_ARGUMENT', `${fn}: ${name}.format '${String(r.format)}' disagrees with ${name}.data.dtype '${data.dtype}'`);
  if (data.shape.length !== dims) throw new Fp8kitError('ERR_SHAPE', `${fn}: ${name}.data must have ${dims} dimensions; got shape [${data.shape.join(', ')}]`);
  return { q: r, data };
}

/** A quantized matrix operand, with its stored shape. */
function checkSide(q: unknown, name: string, fn: string): Side {
  const { q: r, data } = checkQuantizedOperand(q, name, fn, 2);
  return { q: r, rows: data.shape[0], cols: data.shape[1] };
}

function tileName(t: unknown): string {
  return Array.isArray(t) ? `${t[0]}×${t[1]}` : describe(t);
}

/** A side's tile and scale shape against the way it is stored; for B the native fields it gives. */
export function checkB(b: Side, bT: boolean, layout: string, fn: string) {
  const [n, k] = bT ? [b.cols, b.rows] : [b.rows, b.cols];
  const ks = cdiv(k, BLOCK);
  // B: 128×128 blocks (1D2D) or 128 along K per line (1D1D: 1×128 stored [N,K], 128×1 stored [K,N]).
  const lineTile = bT ? [BLOCK, 1] : [1, BLOCK];
  const blocks = same(b.q.tile, [BLOCK, BLOCK]);
  if (!blocks && !same(b.q.tile, lineTile))
    throw new Fp8kitError('ERR_ARGUMENT', `${fn}: b is stored ${bT ? '[K, N]' : '[N, K]'} for layout '${layout}', so its tiles must be 128×128 or ${lineTile[0]}×${lineTile[1]}; got ${tileName(b.q.tile)}`);
  const want = blocks ? (bT ? [ks, cdiv(n, BLOCK)] : [cdiv(n, BLOCK), ks]) : bT ? [ks, n] : [n, ks];
  if (!same(b.q.scales.shape, want))
    throw new Fp8kitError('ERR_SHAPE', `${fn}: b.scales has shape [${b.q.scales.shape.join(', ')}]; b.data [${b.rows}, ${b.cols}] with ${tileName(b.q.tile)} tiles needs [${want.join(', ')}]`);
  return { n, k, bFormat: FORMAT_CODE[b.q.format], bScales: blocks ? 0 : 1 };
}

/** The native fp8k_gemm of SPEC §4, checked against the operands' shapes, tiles and scales. */
function geometry(a: Side, b: Side | PackedWeights, layout: GemmLayout, fn: string) {
  const aT = layout === 'tn' || layout === 'tt';
  const bT = layout === 'nn' || layout === 'tn';
  const [m, k] = aT ? [a.cols, a.rows] : [a.rows, a.cols];
  const g = isPackedWeights(b) ? { n: b.shape[0], k: b.shape[1], bFormat: FORMAT_CODE[b.format], bScales: b.tile[0] === BLOCK && b.tile[1] === BLOCK ? 0 : 1 } : checkB(b, bT, layout, fn);
  if (k !== g.k) {
    const bDesc = isPackedWeights(b) ? `packed b [N, K] = [${g.n}, ${g.k}]` : `b.data [${b.rows}, ${b.cols}] has K = ${g.k}`;
    throw new Fp8kitError('ERR_SHAPE', `${fn}: K differs: a.data [${a.rows}, ${a.cols}] has K = ${k} and ${bDesc} with layout '${layout}'`);
  }
  const ks = cdiv(k, BLOCK);
  // A: 1×128 along K when stored [M,K], 128×1 when stored [K,M].
  const aTile = aT ? [BLOCK, 1] : [1, BLOCK];
  if (!same(a.q.tile, aTile))
    throw new Fp8kitError('ERR_ARGUMENT', `${fn}: a is stored ${aT ? '[K, M]' : '[M, K]'} for layout '${layout}', so its tiles must be ${aTile[0]}×${aTile[1]}; got ${tileName(a.q.tile)}`);
  const mnMajor = a.q.scaleLayout === 'mn-major';
  if (mnMajor && aT) throw new Fp8kitError('ERR_ARGUMENT', `${fn}: the mn-major scale layout is for A stored [M, K]`);
  const aScales = aT ? [ks, m] : mnMajor ? [ks, (m + 3) & ~3] : [m, ks];
  if (!same(a.q.scales.shape, aScales))
    throw new Fp8kitError('ERR_SHAPE', `${fn}: a.scales has shape [${a.q.scales.shape.join(', ')}]; a.data [${a.rows}, ${a.cols}] with ${tileName(a.q.tile)} tiles needs [${aScales.join(', ')}]`);
  return { m, ...g, layout: LAYOUT_CODE[layout], aFormat: FORMAT_CODE[a.q.format], aScaleLayout: mnMajor ? 1 : 0, bPacked: isPackedWeights(b) };
}

/** A B operand: a quantized matrix, or weights packed for the call's backend. */
function checkBOperand(b: unknown, fn: string): Side | PackedWeights {
  if (!isPackedWeights(b)) return checkSide(b, 'b', fn);
  if (b.shape.length !== 2) throw new Fp8kitError('ERR_SHAPE', `${fn}: b is packed weights of shape [${b.shape.join(', ')}]; a GEMM takes one matrix [N, K] (grouped weights go to the grouped GEMMs)`);
  if (b.freed) throw new Fp8kitError('ERR_ARGUMENT', `${fn}: b is packed weights whose device memory was freed`);
  return b;
}

function prepareGemm(a: QuantizedTensor, b: QuantizedTensor | PackedWeights, opts: GemmOptions | undefined): [Operand<'bf16' | 'f32'>, NativeCall] {
  const fn = 'gemm';
  const o = checkOptions(opts, ['out', 'c', 'layout', 'accumulate', 'accumulatorBits', 'promotionInterval', 'backend', 'stream', 'into'], fn);
  const sa = checkSide(a, 'a', fn);
  const sb = checkBOperand(b, fn);
  const layout = choice(o.layout, ['nt', 'nn', 'tn', 'tt'] as const, 'nt', `${fn}: options.layout`);
  const accumulate = choice(o.accumulate, ['promoted', 'exact', 'limited'] as const, 'promoted', `${fn}: options.accumulate`);
  const out = choice(o.out, ['bf16', 'f32'] as const, 'bf16', `${fn}: options.out`);
  const bits = o.accumulatorBits ?? 14;
  if (!Number.isInteger(bits) || bits < 1 || bits > 30)
    throw new Fp8kitError('ERR_ARGUMENT', `${fn}: options.accumulatorBits must be an integer from 1 to 30; got ${describe(o.accumulatorBits)}`);
  const interval = o.promotionInterval ?? 0;
  if (![0, 32, 64, 128].includes(interval))
    throw new Fp8kitError('ERR_ARGUMENT', `${fn}: options.promotionInterval must be 32, 64 or 128; got ${describe(o.promotionInterval)}`);
  if (accumulate !== 'limited' && (o.accumulatorBits !== undefined || o.promotionInterval !== undefined))
    throw new Fp8kitError('ERR_ARGUMENT', `${fn}: accumulatorBits and promotionInterval belong to accumulate: 'limited'`);
  const g = geometry(sa, sb, layout, fn);
  const packed = isPackedWeights(b) ? b : undefined;
  const operands: Operand[] = packed ? [a.data, a.scales] : [a.data, a.scales, (b as QuantizedTensor).data, (b as QuantizedTensor).scales];
  let c: Operand<'f32'> | undefined;
  if (o.c !== undefined) {
    c = checkOperand(o.c, `${fn}: options.c`, ['f32'] as const);
    if (!same(c.shape, [g.m, g.n])) throw new Fp8kitError('ERR_SHAPE', `${fn}: options.c has shape [${c.shape.join(', ')}]; the result has shape [${g.m}, ${g.n}]`);
    operands.push(c);
  }
  const backend = operandBackend(o.backend ?? (operands.some(isDeviceTensor) ? undefined : packed?.backend), operands, fn);
  if (packed && packed.backend !== backend)
    throw new Fp8kitError('ERR_ARGUMENT', `${fn}: b was packed for backend '${packed.backend}' and this call runs on '${backend}': pack it with packWeights(b, { backend: '${backend}' })`);
  const stream = streamHandle(o.stream, backend);
  const d = outputOrGiven(o.into, out, [g.m, g.n], backend, operands, `${fn}: options.into`);
  const params = { ...g, accumulate: ACC_CODE[accumulate], accumulatorBits: bits, promotionInterval: interval, outDtype: dtypeCode(out), hasC: c !== undefined };
  return [
    d,
    (x) =>
      native().gemm(backend, nativeArg(a.data), nativeArg(a.scales), packed ? packedArg(packed.data) : nativeArg((b as QuantizedTensor).data),
        packed ? packedArg(packed.data) : nativeArg((b as QuantizedTensor).scales), c ? nativeArg(c) : null, nativeArg(d), params, stream, x),
  ];
}

/** D = op(A)·op(B) (+ C) with FP8 operands and per-tile scales (SPEC §4); b may be packed (packWeights). */
export function gemmSync<A extends QuantizedTensor, O extends GemmOptions = {}>(a: A, b: QuantizedTensor | PackedWeights, opts?: O): GemmResult<A, O> {
  return runSync(prepareGemm(a, b, opts)) as GemmResult<A, O>;
}
export function gemm<A extends QuantizedTensor, O extends GemmOptions = {}>(a: A, b: QuantizedTensor | PackedWeights, opts?: O): Promise<GemmResult<A, O>> {
  return runAsync(() => prepareGemm(a, b, opts)) as Promise<GemmResult<A, O>>;
}

/** D: where A lives, of the dtype `out` names (bf16 by default). */
export type GemmResult<A extends QuantizedTensor, O> = At<LocationOf<A['data']>, Chosen<O, 'out', 'bf16', 'bf16' | 'f32'>>;

/** DeepGEMM's calc_diff: 1 − 2·Σxy / Σ(x² + y²) in f64; 0 when both are all zero. */
export function calcDiff(x: Tensor<'f32' | 'bf16'>, y: Tensor<'f32' | 'bf16'>): number {
  const tx = checkTensor(x, 'x', ['f32', 'bf16'] as const);
  const ty = checkTensor(y, 'y', ['f32', 'bf16'] as const);
  if (!same(tx.shape, ty.shape)) throw new Fp8kitError('ERR_SHAPE', `calcDiff: x has shape [${tx.shape.join(', ')}] and y [${ty.shape.join(', ')}]`);
  const f = (t: Tensor<'f32' | 'bf16'>) => (t.dtype === 'f32' ? (t.data as Float32Array) : new Float32Array(Uint32Array.from(t.data as Uint16Array, (h) => h << 16).buffer));
  const a = f(tx);
  const b = f(ty);
  let xy = 0;
  let sq = 0;
  for (let i = 0; i < a.length; i++) {
    xy += a[i] * b[i];
    sq += a[i] * a[i] + b[i] * b[i];
  }
  return sq === 0 ? 0 : 1 - (2 * xy) / sq;
}
