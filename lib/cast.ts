/** SPEC.md §1: element-wise casts between f32, bf16 and the two FP8 formats. */
import { Fp8kitError, NativeCall, runAsync, runSync } from './errors.js';
import { DeviceTensor, Stream, streamHandle } from './device.js';
import { native } from './native.js';
import type { BackendName } from './backends.js';
import { checkOperand, Chosen, nativeArg, Operand, operandBackend, outputOrGiven } from './operand.js';
import { checkOptions, choice, flag } from './options.js';
import { DType, dtypeCode, Fp8Format, numel, Tensor } from './tensor.js';

const FORMATS = ['e4m3', 'e5m2'] as const;
const FORMAT_CODE: Record<Fp8Format, number> = { e4m3: 0, e5m2: 1 };
type FloatDType = 'f32' | 'bf16';

interface Common {
  /** Backend to run on (default cpu, or the backend of device-tensor inputs). */
  backend?: BackendName;
  /** Device backends: the stream to queue on. */
  stream?: Stream;
  /** A tensor of the result's dtype and shape to write into (and return) instead of a new one. */
  into?: Operand;
}

export interface CastToFp8Options extends Common {
  /** 'e4m3' (default) or 'e5m2'. */
  format?: Fp8Format;
  /** true (default): overflow and ±inf become ±max; false: NaN (e4m3) or ±inf (e5m2). */
  saturate?: boolean;
}

export interface CastFromFp8Options extends Common {
  /** The format of raw 'u8' bytes; for e4m3/e5m2 tensors it must agree with the dtype. */
  format?: Fp8Format;
  /** 'f32' (default) or 'bf16'. */
  out?: FloatDType;
}

export type ConvertOptions = Common;

function prepareToFp8(x: Operand, opts: CastToFp8Options | undefined): [Operand<Fp8Format>, NativeCall] {
  const fn = 'castToFp8';
  const o = checkOptions(opts, ['format', 'saturate', 'backend', 'stream', 'into'], fn);
  const t = checkOperand(x, 'x', ['f32', 'bf16'] as const);
  const format = choice(o.format, FORMATS, 'e4m3', `${fn}: options.format`);
  const saturate = flag(o.saturate, true, `${fn}: options.saturate`);
  const backend = operandBackend(o.backend, [t], fn);
  const stream = streamHandle(o.stream, backend);
  const out = outputOrGiven(o.into, format, t.shape, backend, [t], `${fn}: options.into`);
  const n = numel(t.shape);
  return [out, (a) => native().castToFp8(backend, nativeArg(t), dtypeCode(t.dtype), n, nativeArg(out), FORMAT_CODE[format], saturate, stream, a)];
}

function prepareFromFp8(q: Operand, opts: CastFromFp8Options | undefined): [Operand<FloatDType>, NativeCall] {
  const fn = 'castFromFp8';
  const o = checkOptions(opts, ['format', 'out', 'into', 'backend', 'stream'], fn);
  const t = checkOperand(q, 'q', ['e4m3', 'e5m2', 'u8'] as const);
  if (t.dtype === 'u8' && o.format === undefined) throw new Fp8kitError('ERR_ARGUMENT', `${fn}: options.format is required for raw 'u8' bytes`);
  const format = choice(o.format, FORMATS, t.dtype === 'u8' ? 'e4m3' : t.dtype, `${fn}: options.format`);
  if (t.dtype !== 'u8' && format !== t.dtype)
    throw new Fp8kitError('ERR_ARGUMENT', `${fn}: options.format '${format}' disagrees with q.dtype '${t.dtype}'`);
  const outType = choice(o.out, ['f32', 'bf16'] as const, 'f32', `${fn}: options.out`);
  const backend = operandBackend(o.backend, [t], fn);
  const stream = streamHandle(o.stream, backend);
  const out = outputOrGiven(o.into, outType, t.shape, backend, [t], `${fn}: options.into`);
  const n = numel(t.shape);
  return [out, (a) => native().castFromFp8(backend, nativeArg(t), FORMAT_CODE[format], n, nativeArg(out), dtypeCode(outType), stream, a)];
}

function prepareConvert(x: Operand, to: FloatDType, opts: ConvertOptions | undefined, fn: string): [Operand<FloatDType>, NativeCall] {
  const o = checkOptions(opts, ['backend', 'stream', 'into'], fn);
  const t = checkOperand(x, 'x', ['f32', 'bf16'] as const);
  const backend = operandBackend(o.backend, [t], fn);
  const stream = streamHandle(o.stream, backend);
  const out = outputOrGiven(o.into, to, t.shape, backend, [t], `${fn}: options.into`);
  const n = numel(t.shape);
  return [out, (a) => native().convert(backend, nativeArg(t), dtypeCode(t.dtype), n, nativeArg(out), dtypeCode(to), stream, a)];
}

/** f32 or bf16 → FP8, round to nearest even (bit-identical to cuda_fp8.h). */
export function castToFp8Sync<T extends Operand, O extends CastToFp8Options = {}>(x: T, opts?: O): Result<T, Chosen<O, 'format', 'e4m3', Fp8Format>> {
  return runSync(prepareToFp8(x, opts)) as Result<T, Chosen<O, 'format', 'e4m3', Fp8Format>>;
}
export function castToFp8<T extends Operand, O extends CastToFp8Options = {}>(x: T, opts?: O): Promise<Result<T, Chosen<O, 'format', 'e4m3', Fp8Format>>> {
  return runAsync(() => prepareToFp8(x, opts)) as Promise<Result<T, Chosen<O, 'format', 'e4m3', Fp8Format>>>;
}

/** FP8 → f32 (exact) or bf16. */
export function castFromFp8Sync<T extends Operand, O extends CastFromFp8Options = {}>(q: T, opts?: O): Result<T, Chosen<O, 'out', 'f32', FloatDType>> {
  return runSync(prepareFromFp8(q, opts)) as Result<T, Chosen<O, 'out', 'f32', FloatDType>>;
}
export function castFromFp8<T extends Operand, O extends CastFromFp8Options = {}>(q: T, opts?: O): Promise<Result<T, Chosen<O, 'out', 'f32', FloatDType>>> {
  return runAsync(() => prepareFromFp8(q, opts)) as Promise<Result<T, Chosen<O, 'out', 'f32', FloatDType>>>;
}

/** f32 (or bf16) → bf16, round to nearest even; NaN stays a quiet NaN. */
export function castToBf16Sync<T extends Operand>(x: T, opts?: ConvertOptions): Result<T, 'bf16'> {
  return runSync(prepareConvert(x, 'bf16', opts, 'castToBf16')) as Result<T, 'bf16'>;
}
export function castToBf16<T extends Operand>(x: T, opts?: ConvertOptions): Promise<Result<T, 'bf16'>> {
  return runAsync(() => prepareConvert(x, 'bf16', opts, 'castToBf16')) as Promise<Result<T, 'bf16'>>;
}

/** bf16 (or f32) → f32, exact. */
export function castToF32Sync<T extends Operand>(x: T, opts?: ConvertOptions): Result<T, 'f32'> {
  return runSync(prepareConvert(x, 'f32', opts, 'castToF32')) as Result<T, 'f32'>;
}
export function castToF32<T extends Operand>(x: T, opts?: ConvertOptions): Promise<Result<T, 'f32'>> {
  return runAsync(() => prepareConvert(x, 'f32', opts, 'castToF32')) as Promise<Result<T, 'f32'>>;
}

/** A device tensor in gives a device tensor out; a host tensor, a host tensor. */
export type Result<T, D extends DType> = T extends DeviceTensor ? DeviceTensor<D> : Tensor<D>;
