import { Fp8kitError } from './errors.js';
import { native } from './native.js';

export interface BackendInfo {
  name: string;
  available: boolean;
  /** Why the backend cannot be used here; null when available. */
  reason: string | null;
  /** How it runs here: the SIMD path for cpu, the device for cuda. */
  device: string | null;
}

/** Every backend this build knows, with whether it is usable here and, if not, why. */
export function backends(): BackendInfo[] {
  return native().backends();
}

/** The backends fp8kit knows (backends() says which are usable here). */
export type BackendName = 'ref' | 'cpu' | 'cuda-emu' | 'cuda';

export const DEFAULT_BACKEND = 'cpu';

/** The `backend` option: a known backend name (availability is checked natively, with its reason). */
export function backendOption(value: unknown, fn: string): BackendName {
  if (value === undefined) return DEFAULT_BACKEND;
  const names = backends().map((b) => b.name);
  if (typeof value !== 'string' || !names.includes(value))
    throw new Fp8kitError('ERR_ARGUMENT', `${fn}: options.backend must be one of ${names.map((n) => `'${n}'`).join(', ')}; got ${JSON.stringify(value)}`);
  return value as BackendName;
}
