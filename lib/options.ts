import { Fp8kitError } from './errors.js';

/** Checks that `opts` is an options object naming only `allowed` keys. */
export function checkOptions<T extends object>(opts: T | undefined, allowed: readonly string[], fn: string): Partial<T> {
  if (opts === undefined) return {};
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts))
    throw new Fp8kitError('ERR_ARGUMENT', `${fn}: options must be an object`);
  for (const k of Object.keys(opts))
    if (!allowed.includes(k))
      throw new Fp8kitError('ERR_ARGUMENT', `${fn}: unknown option '${k}' (expected one of ${allowed.join(', ')})`);
  return opts;
}

/** One of `choices`, or `fallback` when undefined. */
export function choice<C extends string>(value: unknown, choices: readonly C[], fallback: C, name: string): C {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !choices.includes(value as C))
    throw new Fp8kitError('ERR_ARGUMENT', `${name} must be one of ${choices.map((c) => `'${c}'`).join(', ')}; got ${describe(value)}`);
  return value as C;
}

export function flag(value: unknown, fallback: boolean, name: string): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new Fp8kitError('ERR_ARGUMENT', `${name} must be a boolean; got ${describe(value)}`);
  return value;
}

export function describe(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  if (ArrayBuffer.isView(value)) return `a ${value.constructor?.name ?? 'typed array'} of ${(value as Uint8Array).length ?? value.byteLength} elements`;
  if (Array.isArray(value)) return `an array of ${value.length} elements`;
  return Object.prototype.toString.call(value);
}

/** An integer of at least `min` (and below `below`, when given), or `fallback` when undefined (and a fallback is given). */
export function integer(value: unknown, name: string, min: number, fallback?: number, below?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || (below !== undefined && value >= below))
    throw new Fp8kitError('ERR_ARGUMENT', `${name} must be an integer from ${min}${below !== undefined ? ` to ${below - 1}` : ' up'}; got ${describe(value)}`);
  return value;
}
