/** SPEC.md §1: element-wise casts between f32, bf16 and the two FP8 formats. */
import { callAsync, callSync, Fp8kitError } from './errors.js';
import { backendOption } from './backends.js';
import { native } from './native.js';
import { checkOptions, choice, flag } from './options.js';
import { allocate, checkTensor, dtypeCode, Fp8Format, numel, Tensor } from './tensor.js';

const FORMATS = ['e4m3', 'e5m2'] as const;
const FORMAT_CODE: Record<Fp8Format, number> = { e4m3: 0, e5m2: 1 };
type FloatDType = 'f32' | 'bf16';

export interface CastToFp8Options {
  /** 'e4m3' (default) or 'e5m2'. */
  format?: Fp8Format;
  /** true (default): overflow and ±inf become ±max; false: NaN (e4m3) or ±inf (e5m2). */
  saturate?: boolean;
  backend?: string;
}

export interface CastFromFp8Options {
  /** The format of raw 'u8' bytes; for e4m3/e5m2 tensors it must agree with the dtype. */
  format?: Fp8Format;
  /** 'f32' (default) or 'bf16'. */
  out?: FloatDType;
  backend?: string;
}

export interface ConvertOptions {
  backend?: string;
}

type Call = (async: boolean) => unknown;

function prepareToFp8(x: Tensor, opts: CastToFp8Options | undefined): [Tensor<Fp8Format>, Call] {
  const fn = 'castToFp8';
  const o = checkOptions(opts, ['format', 'saturate', 'backend'], fn);
  const t = checkTensor(x, 'x', ['f32', 'bf16'] as const);
  const format = choice(o.format, FORMATS, 'e4m3', `${fn}: options.format`);
  const saturate = flag(o.saturate, true, `${fn}: options.saturate`);
  const backend = backendOption(o.backend, fn);
  const n = numel(t.shape);
  const out: Tensor<Fp8Format> = { dtype: format, shape: [...t.shape], data: allocate(format, n) };
  return [out, (a) => native().castToFp8(backend, t.data, dtypeCode(t.dtype), n, out.data, FORMAT_CODE[format], saturate, a)];
}

function prepareFromFp8(q: Tensor, opts: CastFromFp8Options | undefined): [Tensor<FloatDType>, Call] {
  const fn = 'castFromFp8';
  const o = checkOptions(opts, ['format', 'out', 'backend'], fn);
  const t = checkTensor(q, 'q', ['e4m3', 'e5m2', 'u8'] as const);
  if (t.dtype === 'u8' && o.format === undefined)
    throw new Fp8kitError('ERR_ARGUMENT', `${fn}: options.format is required for raw 'u8' bytes`);
  const format = choice(o.format, FORMATS, t.dtype === 'u8' ? 'e4m3' : t.dtype, `${fn}: options.format`);
  if (t.dtype !== 'u8' && format !== t.dtype)
    throw new Fp8kitError('ERR_ARGUMENT', `${fn}: options.format '${format}' disagrees with q.dtype '${t.dtype}'`);
  const outType = choice(o.out, ['f32', 'bf16'] as const, 'f32', `${fn}: options.out`);
  const backend = backendOption(o.backend, fn);
  const n = numel(t.shape);
  const out: Tensor<FloatDType> = { dtype: outType, shape: [...t.shape], data: allocate(outType, n) };
  return [out, (a) => native().castFromFp8(backend, t.data as Uint8Array, FORMAT_CODE[format], n, out.data, dtypeCode(outType), a)];
}

function prepareConvert(x: Tensor, to: FloatDType, opts: ConvertOptions | undefined, fn: string): [Tensor<FloatDType>, Call] {
  const o = checkOptions(opts, ['backend'], fn);
  const t = checkTensor(x, 'x', ['f32', 'bf16'] as const);
  const backend = backendOption(o.backend, fn);
  const n = numel(t.shape);
  const out: Tensor<FloatDType> = { dtype: to, shape: [...t.shape], data: allocate(to, n) };
  return [out, (a) => native().convert(backend, t.data, dtypeCode(t.dtype), n, out.data, dtypeCode(to), a)];
}

function runSync<T>([out, call]: [T, Call]): T {
  callSync(() => call(false));
  return out;
}

async function runAsync<T>(prepared: () => [T, Call]): Promise<T> {
  const [out, call] = prepared();
  await callAsync(() => call(true) as Promise<unknown>);
  return out;
}

/** f32 or bf16 → FP8, round to nearest even (bit-identical to cuda_fp8.h). */
export function castToFp8Sync(x: Tensor, opts?: CastToFp8Options): Tensor<Fp8Format> {
  return runSync(prepareToFp8(x, opts));
}
export function castToFp8(x: Tensor, opts?: CastToFp8Options): Promise<Tensor<Fp8Format>> {
  return runAsync(() => prepareToFp8(x, opts));
}

/** FP8 → f32 (exact) or bf16. */
export function castFromFp8Sync(q: Tensor, opts?: CastFromFp8Options): Tensor<FloatDType> {
  return runSync(prepareFromFp8(q, opts));
}
export function castFromFp8(q: Tensor, opts?: CastFromFp8Options): Promise<Tensor<FloatDType>> {
  return runAsync(() => prepareFromFp8(q, opts));
}

/** f32 (or bf16) → bf16, round to nearest even; NaN stays a quiet NaN. */
export function castToBf16Sync(x: Tensor, opts?: ConvertOptions): Tensor<'bf16'> {
  return runSync(prepareConvert(x, 'bf16', opts, 'castToBf16')) as Tensor<'bf16'>;
}
export function castToBf16(x: Tensor, opts?: ConvertOptions): Promise<Tensor<'bf16'>> {
  return runAsync(() => prepareConvert(x, 'bf16', opts, 'castToBf16')) as Promise<Tensor<'bf16'>>;
}

/** bf16 (or f32) → f32, exact. */
export function castToF32Sync(x: Tensor, opts?: ConvertOptions): Tensor<'f32'> {
  return runSync(prepareConvert(x, 'f32', opts, 'castToF32')) as Tensor<'f32'>;
}
export function castToF32(x: Tensor, opts?: ConvertOptions): Promise<Tensor<'f32'>> {
  return runAsync(() => prepareConvert(x, 'f32', opts, 'castToF32')) as Promise<Tensor<'f32'>>;
}
