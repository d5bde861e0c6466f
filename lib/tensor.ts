import { Fp8kitError } from './errors.js';
import { native } from './native.js';
import { describe } from './options.js';

/** Element types (SPEC.md §1): fp8 in bytes, bf16/f16 as raw 16-bit words. */
export type DType = 'f32' | 'bf16' | 'f16' | 'e4m3' | 'e5m2' | 'i32' | 'u8';
export type Fp8Format = 'e4m3' | 'e5m2';

interface ArrayTypes {
  f32: Float32Array;
  bf16: Uint16Array;
  f16: Uint16Array;
  e4m3: Uint8Array;
  e5m2: Uint8Array;
  i32: Int32Array;
  u8: Uint8Array;
}
export type ArrayOf<D extends DType> = ArrayTypes[D];

export interface Tensor<D extends DType = DType> {
  dtype: D;
  shape: readonly number[];
  data: ArrayOf<D>;
}

type ArrayCtor = { new (n: number): ArrayOf<DType>; readonly BYTES_PER_ELEMENT: number; readonly name: string };

const ARRAYS: Record<DType, ArrayCtor> = {
  f32: Float32Array, bf16: Uint16Array, f16: Uint16Array, e4m3: Uint8Array, e5m2: Uint8Array, i32: Int32Array, u8: Uint8Array,
};

/** The dtype codes of native/backend.h. */
const CODES: Record<DType, number> = { f32: 0, bf16: 1, f16: 2, e4m3: 3, e5m2: 4, i32: 5, u8: 6 };

export const DTYPES = Object.keys(ARRAYS) as DType[];

export function isDType(d: unknown): d is DType {
  return typeof d === 'string' && Object.prototype.hasOwnProperty.call(ARRAYS, d);
}

export function dtypeCode(d: DType): number {
  return CODES[d];
}

export function bytesPerElement(d: DType): number {
  return ARRAYS[d].BYTES_PER_ELEMENT;
}

export function arrayTypeOf(d: DType): string {
  return ARRAYS[d].name;
}

/** Number of elements of `shape`; every dimension a non-negative integer, the product a safe integer. */
export function numel(shape: unknown, name = 'shape'): number {
  if (!Array.isArray(shape)) throw new Fp8kitError('ERR_SHAPE', `${name} must be an array of dimensions; got ${describe(shape)}`);
  let n = 1;
  shape.forEach((d: unknown, i: number) => {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0)
      throw new Fp8kitError('ERR_SHAPE', `${name}[${i}] must be a non-negative integer; got ${describe(d)}`);
    n *= d;
  });
  if (!Number.isSafeInteger(n))
    throw new Fp8kitError('ERR_SHAPE', `${name} [${shape.join(', ')}] has an element count that overflows (${n})`);
  return n;
}

/** Allocates a zeroed array of `n` elements of `dtype`; a size the engine refuses is ERR_OUT_OF_MEMORY. */
export function allocate<D extends DType>(dtype: D, n: number): ArrayOf<D> {
  try {
    return new ARRAYS[dtype](n) as ArrayOf<D>;
  } catch (e) {
    throw new Fp8kitError('ERR_OUT_OF_MEMORY', `cannot allocate ${n} elements of ${dtype}: ${(e as Error).message}`);
  }
}

/**
 * Outputs from this size up come from the addon's pool: page aligned, not zero-filled (the operation
 * writes them whole), reused once collected. Smaller ones are V8's own.
 */
const NATIVE_OUTPUT_BYTES = 64 << 10;

/** An array for an operation's output, which the operation overwrites entirely. */
export function allocateOutput<D extends DType>(dtype: D, n: number): ArrayOf<D> {
  const bytes = n * ARRAYS[dtype].BYTES_PER_ELEMENT;
  if (bytes < NATIVE_OUTPUT_BYTES) return allocate(dtype, n);
  let buffer: ArrayBuffer;
  try {
    buffer = native().allocOutput(bytes);
  } catch (e) {
    throw new Fp8kitError('ERR_OUT_OF_MEMORY', `cannot allocate ${n} elements of ${dtype}: ${(e as Error).message}`);
  }
  return new (ARRAYS[dtype] as unknown as new (b: ArrayBuffer) => ArrayOf<D>)(buffer);
}

/** n elements of dtype over `buffer` from byte `offset` (a multiple of the element size; the buffer must hold them). */
export function viewOf<D extends DType>(dtype: D, buffer: ArrayBufferLike, n: number, offset = 0): ArrayOf<D> {
  return new (ARRAYS[dtype] as unknown as new (b: ArrayBufferLike, o: number, n: number) => ArrayOf<D>)(buffer, offset, n);
}

/** How to wrap a bare typed array: the dtype its type holds (the first the call takes), its length as the shape. */
function wrapHint(a: ArrayBufferView, dtypes?: readonly DType[]): string {
  const tag = Object.prototype.toString.call(a).slice(8, -1);
  const fits = DTYPES.filter((d) => ARRAYS[d].name === tag && (!dtypes || dtypes.includes(d)));
  const n = (a as Uint8Array).length;
  if (!fits.length) return `Wrap it with fp8.tensor(dtype, shape, data)${dtypes ? `; this call takes ${dtypes.join(' or ')}` : ''}.`;
  return `Wrap it with fp8.tensor(${fits.map((d) => `'${d}'`).join(' or ')}, [${n}], data) (or the shape it has).`;
}

function knownDType<D extends DType>(dtype: D): D {
  if (!isDType(dtype)) throw new Fp8kitError('ERR_DTYPE', `unknown dtype ${describe(dtype)} (expected one of ${DTYPES.join(', ')})`);
  return dtype;
}

/**
 * An uninitialized host tensor. From 64 KiB up its memory comes from fp8kit's pool (huge pages from
 * 2 MiB, reused after collection) and a Promise call uses it in place, with no snapshot or staging copy.
 */
export function empty<D extends DType>(dtype: D, shape: readonly number[]): Tensor<D> {
  return { dtype: knownDType(dtype), shape: [...shape], data: allocateOutput(dtype, numel(shape)) };
}

/** A tensor of `dtype` and `shape`, zero-filled, or wrapping `data` (checked). */
export function tensor<D extends DType>(dtype: D, shape: readonly number[], data?: ArrayOf<D>): Tensor<D> {
  knownDType(dtype);
  const n = numel(shape);
  const t = { dtype, shape: [...shape], data: data ?? allocate(dtype, n) };
  return checkTensor(t, 'tensor');
}

/**
 * Validates a tensor argument: a known dtype, the typed array of that dtype, a valid shape whose element
 * count equals the array's length, and a live (not detached) buffer. `name` is the argument in messages.
 */
export function checkTensor<D extends DType = DType>(t: unknown, name: string, dtypes?: readonly D[]): Tensor<D> {
  if (ArrayBuffer.isView(t)) throw new Fp8kitError('ERR_ARGUMENT', `${name} must be a tensor {dtype, shape, data}, not a bare array; got ${describe(t)}. ${wrapHint(t, dtypes)}`);
  if (t === null || typeof t !== 'object') throw new Fp8kitError('ERR_ARGUMENT', `${name} must be a tensor {dtype, shape, data}; got ${describe(t)}`);
  const { dtype, shape, data } = t as { dtype: unknown; shape: unknown; data: unknown };
  if (!isDType(dtype)) throw new Fp8kitError('ERR_DTYPE', `${name}.dtype is unknown: ${describe(dtype)} (expected one of ${DTYPES.join(', ')})`);
  if (dtypes && !dtypes.includes(dtype as D))
    throw new Fp8kitError('ERR_DTYPE', `${name}.dtype must be ${dtypes.join(' or ')}; got '${dtype}'`);
  const n = numel(shape, `${name}.shape`);
  const ctor = ARRAYS[dtype];
  // By tag rather than instanceof, so arrays from another realm (vm, worker) pass.
  if (!ArrayBuffer.isView(data) || Object.prototype.toString.call(data) !== `[object ${ctor.name}]`)
    throw new Fp8kitError('ERR_DTYPE', `${name}.data must be a ${ctor.name} for dtype '${dtype}'; got ${describe(data)}`);
  if (native().isDetached((data as ArrayBufferView).buffer)) throw new Fp8kitError('ERR_ARGUMENT', `${name}.data is backed by a detached ArrayBuffer`);
  if ((data as ArrayOf<DType>).length !== n)
    throw new Fp8kitError('ERR_SHAPE', `${name}.data has ${(data as ArrayOf<DType>).length} elements but ${name}.shape [${(shape as number[]).join(', ')}] needs ${n}`);
  return t as Tensor<D>;
}
