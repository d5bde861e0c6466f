/** Stable error codes (SPEC.md §10); native statuses map onto the same names. */
export type ErrorCode =
  | 'ERR_ARGUMENT'
  | 'ERR_SHAPE'
  | 'ERR_DTYPE'
  | 'ERR_NON_FINITE'
  | 'ERR_BACKEND_UNAVAILABLE'
  | 'ERR_OUT_OF_MEMORY'
  | 'ERR_CUDA'
  | 'ERR_TRANSPORT'
  | 'ERR_INTERNAL';

/** Every code, in a fixed order (the mpi transport sends a code as its index here). */
export const ERROR_CODES: readonly ErrorCode[] = [
  'ERR_ARGUMENT', 'ERR_SHAPE', 'ERR_DTYPE', 'ERR_NON_FINITE',
  'ERR_BACKEND_UNAVAILABLE', 'ERR_OUT_OF_MEMORY', 'ERR_CUDA', 'ERR_TRANSPORT', 'ERR_INTERNAL',
];
const CODES = new Set<string>(ERROR_CODES);

export class Fp8kitError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'Fp8kitError';
    this.code = code;
  }
}

/** An error thrown by the addon (or the engine) as an Fp8kitError; `stack` is the caller's. */
export function fromNative(e: unknown, stack?: string): Fp8kitError {
  if (e instanceof Fp8kitError) return e;
  const err = e as { code?: unknown; message?: unknown };
  const message = typeof err?.message === 'string' ? err.message : String(e);
  let code: ErrorCode = typeof err?.code === 'string' && CODES.has(err.code) ? (err.code as ErrorCode) : 'ERR_INTERNAL';
  if (e instanceof RangeError && /allocat|memory|Array buffer|Invalid typed array length/i.test(message)) code = 'ERR_OUT_OF_MEMORY';
  const out = new Fp8kitError(code, message);
  if (stack) out.stack = `Fp8kitError: ${message}\n${stack.split('\n').slice(1).join('\n')}`;
  return out;
}

/** Runs a native call now, rethrowing its errors as Fp8kitError. */
export function callSync<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw fromNative(e);
  }
}

/** Runs a native call that returns a Promise; a rejection carries the caller's stack. */
export async function callAsync<T>(fn: () => Promise<T>): Promise<T> {
  const stack = new Error().stack;
  try {
    return await fn();
  } catch (e) {
    throw fromNative(e, stack);
  }
}

/** A prepared native call: run it on this thread (false) or on the pool, returning a Promise (true). */
export type NativeCall = (async: boolean) => unknown;

/** Runs a prepared call now and returns its output. */
export function runSync<T>([out, call]: [T, NativeCall]): T {
  callSync(() => call(false));
  return out;
}

/** Prepares (argument errors become a rejection, not a throw) and runs a call on the pool. */
export async function runAsync<T>(prepare: () => [T, NativeCall]): Promise<T> {
  const [out, call] = prepare();
  await callAsync(() => call(true) as Promise<unknown>);
  return out;
}
