/** SPEC.md §2 and §3: tile-wise FP8 quantization, dequantization and the fused cast-transpose. */
import { Stream, streamHandle } from './device.js';
import { Fp8kitError, NativeCall, runAsync, runSync } from './errors.js';
import { native } from './native.js';
import type { BackendName } from './backends.js';
import { At, checkOperand, Chosen, Location, LocationOf, nativeArg, Operand, operandBackend, outputOrGiven } from './operand.js';
import { checkOptions, choice, describe, flag } from './options.js';
import { dtypeCode, Fp8Format } from './tensor.js';

export type Tile = readonly [number, number];
export type ScaleFormat = 'f32' | 'ue8m0';
export type ScaleLayout = 'row' | 'mn-major';

/** FP8 data plus one f32 scale per tile: x ≈ f32(data) · scale. L: where both live ('host' or 'device'; either by default). */
export interface QuantizedTensor<L extends Location = Location, F extends Fp8Format = Fp8Format> {
  data: At<L, F>;
  scales: At<L, 'f32'>;
  tile: Tile;
  format: F;
  scaleFormat: ScaleFormat;
  scaleLayout: ScaleLayout;
}

export interface QuantizeOptions {
  /** [1, G] (activations, default [1, 128]), [G, 1] (column tiles: per column, G rows; for operands a GEMM reads transposed) or [G, G] (weights); G a power of two from 16 to 1024. */
  tile?: Tile;
  format?: Fp8Format;
  /** 'f32' (default) or 'ue8m0' (scales rounded up to powers of two; still stored as f32). */
  scaleFormat?: ScaleFormat;
  /** 'row' (default) or, for 1×G tiles of a matrix, 'mn-major': [ceil(K/G), align4(M)], zero padded (DeepGEMM's TMA layout). */
  scaleLayout?: ScaleLayout;
  /** Floor of a tile's amax (default 1e-4): an all-zero tile gets a finite scale. */
  eps?: number;
  /** Fail with ERR_NON_FINITE, naming the first tile holding NaN or ±inf, instead of propagating NaN. */
  strict?: boolean;
  backend?: BackendName;
  stream?: Stream;
  /** A quantized tensor of the same tiling and shapes to write into (and return) instead of a new one. */
  into?: QuantizedTensor;
}

export interface DequantizeOptions {
  out?: 'f32' | 'bf16';
  backend?: BackendName;
  stream?: Stream;
  /** A tensor of that dtype and q's shape to write into (and return). */
  into?: Operand;
}

export interface CastTransposeOptions extends Omit<QuantizeOptions, 'scaleLayout' | 'into'> {
  /** A previous result of the same call to write into (and return). */
  into?: CastTransposed;
}

const FORMAT_CODE = { e4m3: 0, e5m2: 1 } as const;
const SCALE_FORMAT_CODE = { f32: 0, ue8m0: 1 } as const;
const LAYOUT_CODE = { row: 0, 'mn-major': 1 } as const;

/** The native fp8k_quant: `batch` matrices of rows × cols, tiled tileRows × tileCols. */
interface Geometry {
  batch: number;
  rows: number;
  cols: number;
  tileRows: number;
  tileCols: number;
  format: number;
  scaleFormat: number;
  scaleLayout: number;
  eps: number;
  strict: boolean;
}

const cdiv = (a: number, b: number) => Math.ceil(a / b);
const align4 = (a: number) => (a + 3) & ~3;

export function checkTile(tile: unknown, fn: string): Tile {
  if (tile === undefined) return [1, 128];
  const g = Array.isArray(tile) && tile.length === 2 ? Math.max(tile[0], tile[1]) : NaN;
  const ok =
    Number.isInteger(g) && g >= 16 && g <= 1024 && (g & (g - 1)) === 0 &&
    ((tile as number[])[0] === 1 || (tile as number[])[1] === 1 || (tile as number[])[0] === (tile as number[])[1]);
  if (!ok) throw new Fp8kitError('ERR_ARGUMENT', `${fn}: options.tile must be [1, G], [G, 1] or [G, G] with G a power of two from 16 to 1024; got ${JSON.stringify(tile)}`);
  return [(tile as number[])[0], (tile as number[])[1]];
}

/** How a tensor of `shape` is tiled, and the shape of its scales. */
export function geometry(shape: readonly number[], tile: Tile, layout: ScaleLayout, fn: string): { batch: number; rows: number; cols: number; scaleShape: number[] } {
  const [tr, g] = tile;
  if (tr === 1) {
    if (shape.length < 1) throw new Fp8kitError('ERR_SHAPE', `${fn}: x must have at least one dimension for 1×${g} tiles`);
    const cols = shape[shape.length - 1];
    const lead = shape.slice(0, -1);
    const rows = lead.reduce((a, b) => a * b, 1);
    if (layout === 'mn-major') {
      if (shape.length > 2) throw new Fp8kitError('ERR_SHAPE', `${fn}: the mn-major scale layout is for a matrix; x has ${shape.length} dimensions`);
      return { batch: 1, rows, cols, scaleShape: [cdiv(cols, g), align4(rows)] };
    }
    return { batch: 1, rows, cols, scaleShape: [...lead, cdiv(cols, g)] };
  }
  const gc = tile[1];
  if (shape.length < 2) throw new Fp8kitError('ERR_SHAPE', `${fn}: ${tr}×${gc} tiles need a matrix (or a batch of them); x has ${shape.length} dimension(s)`);
  if (layout === 'mn-major') throw new Fp8kitError('ERR_ARGUMENT', `${fn}: the mn-major scale layout is for 1×G tiles`);
  const [rows, cols] = shape.slice(-2);
  const lead = shape.slice(0, -2);
  return { batch: lead.reduce((a, b) => a * b, 1), rows, cols, scaleShape: [...lead, cdiv(rows, tr), cdiv(cols, gc)] };
}

interface Parsed {
  tile: Tile;
  format: Fp8Format;
  scaleFormat: ScaleFormat;
  scaleLayout: ScaleLayout;
  eps: number;
  strict: boolean;
}

function parseQuantOptions(o: Partial<Omit<QuantizeOptions, 'into'>>, fn: string): Parsed {
  const eps = o.eps ?? 1e-4;
  if (typeof eps !== 'number' || !(eps > 0) || !Number.isFinite(eps))
    throw new Fp8kitError('ERR_ARGUMENT', `${fn}: options.eps must be a positive finite number; got ${JSON.stringify(o.eps)}`);
  return {
    tile: checkTile(o.tile, fn),
    format: choice(o.format, ['e4m3', 'e5m2'] as const, 'e4m3', `${fn}: options.format`),
    scaleFormat: choice(o.scaleFormat, ['f32', 'ue8m0'] as const, 'f32', `${fn}: options.scaleFormat`),
    scaleLayout: choice(o.scaleLayout, ['row', 'mn-major'] as const, 'row', `${fn}: options.scaleLayout`),
    eps,
    strict: flag(o.strict, false, `${fn}: options.strict`),
  };
}

function nativeGeometry(g: { batch: number; rows: number; cols: number }, p: Parsed): Geometry {
  return {
    ...g,
    tileRows: p.tile[0],
    tileCols: p.tile[1],
    format: FORMAT_CODE[p.format],
    scaleFormat: SCALE_FORMAT_CODE[p.scaleFormat],
    scaleLayout: LAYOUT_CODE[p.scaleLayout],
    eps: p.eps,
    strict: p.strict,
  };
}

function prepareQuantize(x: Operand, opts: QuantizeOptions | undefined): [QuantizedTensor, NativeCall] {
  const fn = 'quantize';
  const o = checkOptions(opts, ['tile', 'format', 'scaleFormat', 'scaleLayout', 'eps', 'strict', 'backend', 'stream', 'into'], fn);
  const t = checkOperand(x, 'x', ['f32', 'bf16'] as const);
  const p = parseQuantOptions(o, fn);
  const g = geometry(t.shape, p.tile, p.scaleLayout, fn);
  const backend = operandBackend(o.backend, [t], fn);
  const stream = streamHandle(o.stream, backend);
  const into = intoParts(o.into, `${fn}: options.into`);
  const data = outputOrGiven(into?.data, p.format, t.shape, backend, [t], `${fn}: options.into.data`);
  const scales = outputOrGiven(into?.scales, 'f32', g.scaleShape, backend, [t], `${fn}: options.into.scales`);
  const out: QuantizedTensor = { data, scales, tile: p.tile, format: p.format, scaleFormat: p.scaleFormat, scaleLayout: p.scaleLayout };
  const geo = nativeGeometry(g, p);
  return [out, (a) => native().quantize(backend, nativeArg(t), dtypeCode(t.dtype), geo, nativeArg(data), nativeArg(scales), stream, a)];
}

/** The data and scales of an `into` option (their dtypes and shapes are checked by outputOrGiven). */
function intoParts(q: unknown, name: string): { data: unknown; scales: unknown } | undefined {
  if (q === undefined) return undefined;
  if (q === null || typeof q !== 'object' || ArrayBuffer.isView(q) || !('data' in q) || !('scales' in q))
    throw new Fp8kitError('ERR_ARGUMENT', `${name} must be a quantized tensor {data, scales, …} such as an earlier result of the same call; got ${quantizedHint(q)}`);
  return q as { data: unknown; scales: unknown };
}

/** What a value that should have been a quantized tensor is, and what to do about it. */
export function quantizedHint(q: unknown): string {
  if (q !== null && typeof q === 'object' && 'dtype' in q && 'shape' in q && 'data' in q)
    return `a plain tensor (dtype ${describe((q as { dtype: unknown }).dtype)}). Quantize it first: fp8.quantizeSync(x) returns {data, scales, tile, format, scaleFormat, scaleLayout}`;
  if (q !== null && typeof q === 'object' && 'rowwise' in q) return 'a castTranspose result: pass its .rowwise or .columnwise';
  return describe(q);
}

/** Checks a QuantizedTensor argument: its fields, and that data and scales agree with its tiling. */
function checkQuantized(q: unknown, fn: string): { q: QuantizedTensor; p: Parsed; g: ReturnType<typeof geometry> } {
  if (q === null || typeof q !== 'object' || ArrayBuffer.isView(q) || !('scales' in q) || !('tile' in q))
    throw new Fp8kitError('ERR_ARGUMENT', `${fn}: q must be a quantized tensor {data, scales, tile, format, scaleFormat, scaleLayout}; got ${quantizedHint(q)}`);
  const r = q as QuantizedTensor;
  const p = parseQuantOptions({ tile: r.tile, format: r.format, scaleFormat: r.scaleFormat, scaleLayout: r.scaleLayout }, `${fn}: q`);
  const data = checkOperand(r.data, 'q.data', [p.format]);
  const scales = checkOperand(r.scales, 'q.scales', ['f32'] as const);
  const g = geometry(data.shape, p.tile, p.scaleLayout, fn);
  if (g.scaleShape.length !== scales.shape.length || g.scaleShape.some((d, i) => d !== scales.shape[i]))
    throw new Fp8kitError('ERR_SHAPE', `${fn}: q.scales has shape [${scales.shape.join(', ')}]; data [${data.shape.join(', ')}] with ${p.tile[0]}×${p.tile[1]} tiles needs [${g.scaleShape.join(', ')}]`);
  return { q: r, p, g };
}

function prepareDequantize(q: QuantizedTensor, opts: DequantizeOptions | undefined): [Operand<'f32' | 'bf16'>, NativeCall] {
  const fn = 'dequantize';
  const o = checkOptions(opts, ['out', 'into', 'backend', 'stream'], fn);
  const { p, g } = checkQuantized(q, fn);
  const outType = choice(o.out, ['f32', 'bf16'] as const, 'f32', `${fn}: options.out`);
  const backend = operandBackend(o.backend, [q.data, q.scales], fn);
  const stream = streamHandle(o.stream, backend);
  const y = outputOrGiven(o.into, outType, q.data.shape, backend, [q.data, q.scales], `${fn}: options.into`);
  const geo = nativeGeometry(g, p);
  return [y, (a) => native().dequantize(backend, nativeArg(q.data), nativeArg(q.scales), geo, nativeArg(y), dtypeCode(outType), stream, a)];
}

export interface CastTransposed<L extends Location = Location, F extends Fp8Format = Fp8Format> {
  /** quantize(x, tile): data [M, K]. */
  rowwise: QuantizedTensor<L, F>;
  /** quantize(xᵀ, tile) from the same high-precision values: data [K, M]. */
  columnwise: QuantizedTensor<L, F>;
}

function prepareCastTranspose(x: Operand, opts: CastTransposeOptions | undefined): [CastTransposed, NativeCall] {
  const fn = 'castTranspose';
  const o = checkOptions(opts, ['tile', 'format', 'scaleFormat', 'eps', 'strict', 'backend', 'stream', 'into'], fn);
  const t = checkOperand(x, 'x', ['f32', 'bf16'] as const);
  if (t.shape.length !== 2) throw new Fp8kitError('ERR_SHAPE', `${fn}: x must be a matrix [M, K]; got shape [${t.shape.join(', ')}]`);
  const p = parseQuantOptions(o, fn);
  if (p.tile[1] === 1) throw new Fp8kitError('ERR_ARGUMENT', `${fn}: options.tile must be [1, G] or [G, G]; its column-wise output is already the transpose's 1×G quantization`);
  const [m, k] = t.shape;
  const g = geometry(t.shape, p.tile, 'row', fn);
  const gt = geometry([k, m], p.tile, 'row', fn);
  const backend = operandBackend(o.backend, [t], fn);
  const stream = streamHandle(o.stream, backend);
  const meta = { tile: p.tile, format: p.format, scaleFormat: p.scaleFormat, scaleLayout: 'row' as const };
  const into = o.into as CastTransposed | undefined;
  if (into !== undefined && (into === null || typeof into !== 'object' || !('rowwise' in into) || !('columnwise' in into)))
    throw new Fp8kitError('ERR_ARGUMENT', `${fn}: options.into must be an earlier castTranspose result {rowwise, columnwise}; got ${quantizedHint(into)}`);
  const part = (q: QuantizedTensor | undefined, name: string, shape: number[], scaleShape: number[]): QuantizedTensor => {
    const given = intoParts(q, `${fn}: options.into.${name}`);
    return {
      data: outputOrGiven(given?.data, p.format, shape, backend, [t], `${fn}: options.into.${name}.data`),
      scales: outputOrGiven(given?.scales, 'f32', scaleShape, backend, [t], `${fn}: options.into.${name}.scales`),
      ...meta,
    };
  };
  const rowwise = part(into?.rowwise, 'rowwise', [m, k], g.scaleShape);
  const columnwise = part(into?.columnwise, 'columnwise', [k, m], gt.scaleShape);
  const geo = nativeGeometry(g, p);
  return [
    { rowwise, columnwise },
    (a) =>
      native().castTranspose(backend, nativeArg(t), dtypeCode(t.dtype), geo, nativeArg(rowwise.data), nativeArg(rowwise.scales),
        nativeArg(columnwise.data), nativeArg(columnwise.scales), stream, a),
  ];
}

/** Tile-wise quantization (SPEC §2): per tile scale = max(amax, eps) / fmax, q = cast(x · (1/scale)). */
export function quantizeSync<T extends Operand, O extends QuantizeOptions = {}>(x: T, opts?: O): QuantizedTensor<LocationOf<T>, Chosen<O, 'format', 'e4m3', Fp8Format>> {
  return runSync(prepareQuantize(x, opts)) as QuantizedTensor<LocationOf<T>, Chosen<O, 'format', 'e4m3', Fp8Format>>;
}
export function quantize<T extends Operand, O extends QuantizeOptions = {}>(x: T, opts?: O): Promise<QuantizedTensor<LocationOf<T>, Chosen<O, 'format', 'e4m3', Fp8Format>>> {
  return runAsync(() => prepareQuantize(x, opts)) as Promise<QuantizedTensor<LocationOf<T>, Chosen<O, 'format', 'e4m3', Fp8Format>>>;
}

/** x' = f32(q) · scale, as f32 (default) or bf16. */
export function dequantizeSync<Q extends QuantizedTensor, O extends DequantizeOptions = {}>(q: Q, opts?: O): At<LocationOf<Q['data']>, Chosen<O, 'out', 'f32', 'f32' | 'bf16'>> {
  return runSync(prepareDequantize(q, opts)) as At<LocationOf<Q['data']>, Chosen<O, 'out', 'f32', 'f32' | 'bf16'>>;
}
export function dequantize<Q extends QuantizedTensor, O extends DequantizeOptions = {}>(q: Q, opts?: O): Promise<At<LocationOf<Q['data']>, Chosen<O, 'out', 'f32', 'f32' | 'bf16'>>> {
  return runAsync(() => prepareDequantize(q, opts)) as Promise<At<LocationOf<Q['data']>, Chosen<O, 'out', 'f32', 'f32' | 'bf16'>>>;
}

/** One read of x, both quantizations the backward pass needs (SPEC §3). */
export function castTransposeSync<T extends Operand, O extends CastTransposeOptions = {}>(x: T, opts?: O): CastTransposed<LocationOf<T>, Chosen<O, 'format', 'e4m3', Fp8Format>> {
  return runSync(prepareCastTranspose(x, opts)) as CastTransposed<LocationOf<T>, Chosen<O, 'format', 'e4m3', Fp8Format>>;
}
export function castTranspose<T extends Operand, O extends CastTransposeOptions = {}>(x: T, opts?: O): Promise<CastTransposed<LocationOf<T>, Chosen<O, 'format', 'e4m3', Fp8Format>>> {
  return runAsync(() => prepareCastTranspose(x, opts)) as Promise<CastTransposed<LocationOf<T>, Chosen<O, 'format', 'e4m3', Fp8Format>>>;
}
