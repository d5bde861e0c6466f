/** Tensor arguments that may live on the host or on a device, and where an operation's output goes. */
import { BackendName, backendOption } from './backends.js';
import { DeviceTensor, deviceEmpty, isDeviceTensor } from './device.js';
import { Fp8kitError } from './errors.js';
import { describe } from './options.js';
import { allocateOutput, checkTensor, DType, numel, Tensor } from './tensor.js';

export type Operand<D extends DType = DType> = Tensor<D> | DeviceTensor<D>;

/** Where a tensor lives. */
export type Location = 'host' | 'device';
/** A tensor of dtype D at L: a Tensor on the host, a DeviceTensor on a device (either, for both). */
export type At<L extends Location, D extends DType> = L extends 'host' ? Tensor<D> : DeviceTensor<D>;
/** Where T lives: 'device' for a DeviceTensor, else 'host' (both, for an Operand that may be either). */
export type LocationOf<T> = T extends DeviceTensor ? 'device' : 'host';
/** What option K of the options O chooses: its value when the call names one, Default when it leaves K out, any of All when O is only known by its type. */
export type Chosen<O, K extends string, Default extends All, All> = K extends keyof O
  ? ([Exclude<O[K], undefined>] extends [never] ? Default : Exclude<O[K], undefined> & All) | ({} extends Pick<O, K> ? Default : never)
  : Default;

/** A host tensor (checked as checkTensor does) or a live device tensor of one of `dtypes`. */
export function checkOperand<D extends DType>(t: unknown, name: string, dtypes: readonly D[]): Operand<D> {
  if (!isDeviceTensor(t)) return checkTensor(t, name, dtypes);
  if (!dtypes.includes(t.dtype as D)) throw new Fp8kitError('ERR_DTYPE', `${name}.dtype must be ${dtypes.join(' or ')}; got '${t.dtype}'`);
  if (t.freed) throw new Fp8kitError('ERR_ARGUMENT', `${name} is a device tensor that was freed`);
  return t as DeviceTensor<D>;
}

/** The backend of a call: the option, else the device tensors' backend, else the default; device tensors must agree. */
export function operandBackend(requested: unknown, operands: Operand[], fn: string): BackendName {
  const device = operands.find(isDeviceTensor);
  const backend = backendOption(requested ?? device?.backend, fn);
  for (const t of operands)
    if (isDeviceTensor(t) && t.backend !== backend)
      throw new Fp8kitError('ERR_ARGUMENT', `${fn}: a device tensor of backend '${t.backend}' cannot be used with backend '${backend}'`);
  return backend;
}

/** What the addon takes for an operand: the typed array, or the device memory handle. */
export function nativeArg(t: Operand): object {
  return isDeviceTensor(t) ? t.handle : t.data;
}

/** A new output: on the device when any input was a device tensor, else a host tensor. */
export function newOutput<D extends DType>(dtype: D, shape: readonly number[], backend: BackendName, inputs: Operand[]): Operand<D> {
  if (inputs.some(isDeviceTensor)) return deviceEmpty(dtype, shape, { backend });
  return { dtype, shape: [...shape], data: allocateOutput(dtype, numel(shape)) };
}

/**
 * The caller's `out` tensor (checked: dtype, shape, and on the backend the call runs on) or a new one.
 * Writing into a reused output saves the allocation and the page faults of fresh memory on every call.
 */
export function outputOrGiven<D extends DType>(given: unknown, dtype: D, shape: readonly number[], backend: BackendName, inputs: Operand[], name: string): Operand<D> {
  if (given === undefined) return newOutput(dtype, shape, backend, inputs);
  const t = checkOperand(given, name, [dtype]);
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
    throw new Fp8kitError('ERR_SHAPE', `${name} has shape [${t.shape.join(', ')}]; the result has shape [${shape.join(', ')}]`);
  if (isDeviceTensor(t) && t.backend !== backend)
    throw new Fp8kitError('ERR_ARGUMENT', `${name} is a device tensor of backend '${t.backend}', the call runs on '${backend}'`);
  for (const i of inputs)
    if (!isDeviceTensor(i) && (i.data.buffer === (t as Tensor).data?.buffer))
      throw new Fp8kitError('ERR_ARGUMENT', `${name} shares its buffer with an input`);
  return t;
}

/**
 * The outputs of a call that returns several tensors: the fields of `given` (an earlier result of the same
 * call: each field checked as outputOrGiven checks it, and no two overlapping) or new ones.
 */
export function outputsOrGiven<K extends string>(given: unknown, specs: Record<K, [DType, readonly number[]]>, backend: BackendName, inputs: Operand[], name: string): Record<K, Operand> {
  const keys = Object.keys(specs) as K[];
  if (given !== undefined && (given === null || typeof given !== 'object' || ArrayBuffer.isView(given) || keys.some((k) => !(k in given))))
    throw new Fp8kitError('ERR_ARGUMENT', `${name} must be an earlier result of the same call, {${keys.join(', ')}}; got ${describe(given)}`);
  const out = {} as Record<K, Operand>;
  keys.forEach((k, i) => {
    const [dtype, shape] = specs[k];
    const t = outputOrGiven(given === undefined ? undefined : (given as Record<K, unknown>)[k], dtype, shape, backend, inputs, `${name}.${k}`);
    for (const j of keys.slice(0, i))
      if (overlap(t, out[j])) throw new Fp8kitError('ERR_ARGUMENT', `${name}.${k} overlaps ${j} in memory`);
    out[k] = t;
  });
  return out;
}

/** Whether two host tensors' bytes overlap (views of one arena side by side do not). */
function overlap(a: Operand, b: Operand): boolean {
  if (isDeviceTensor(a) || isDeviceTensor(b)) return false;
  const x = (a as Tensor).data, y = (b as Tensor).data;
  return x.buffer === y.buffer && x.byteOffset < y.byteOffset + y.byteLength && y.byteOffset < x.byteOffset + x.byteLength;
}
