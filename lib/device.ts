/**
 * Device tensors: data that stays in a device backend's memory (cuda; cuda-emu emulates it in host
 * memory) between operations. Every operation accepts host tensors (copied in and out) or device
 * tensors (no copy); given device tensors, it returns device tensors.
 */
import type { BackendName } from './backends.js';
import { callAsync, callSync, Fp8kitError, NativeCall, runAsync, runSync } from './errors.js';
import { backendOption } from './backends.js';
import { native } from './native.js';
import { checkOptions } from './options.js';
import { allocateOutput, ArrayOf, bytesPerElement, checkTensor, DType, isDType, numel, Tensor } from './tensor.js';

/** A native handle: an External owning device memory or a stream. */
type Handle = object;

export class Stream {
  /** @internal */
  constructor(readonly backend: string, readonly handle: Handle) {}
  /** Waits for everything queued on this stream. */
  synchronize(): Promise<void> {
    return callAsync(() => native().streamSync(this.backend, this.handle, true) as Promise<void>);
  }
  synchronizeSync(): void {
    callSync(() => native().streamSync(this.backend, this.handle, false));
  }
}

export class DeviceTensor<D extends DType = DType> {
  readonly shape: readonly number[];
  #freed = false;
  /** @internal */
  constructor(readonly dtype: D, shape: readonly number[], readonly backend: string, readonly handle: Handle) {
    this.shape = Object.freeze([...shape]);
  }
  get freed(): boolean {
    return this.#freed;
  }
  /** Bytes of device memory held. */
  get bytes(): number {
    return numel(this.shape) * bytesPerElement(this.dtype);
  }
  /** Copies the data back into a new host tensor. */
  download(opts?: { stream?: Stream }): Promise<Tensor<D>> {
    return runAsync(() => this.#download(opts));
  }
  downloadSync(opts?: { stream?: Stream }): Tensor<D> {
    return runSync(this.#download(opts));
  }
  /** Frees the device memory now (or once operations still using it finish); garbage collection does the same. */
  free(): void {
    if (this.#freed) return;
    this.#freed = true;
    native().deviceFree(this.handle);
  }
  #download(opts?: { stream?: Stream }): [Tensor<D>, NativeCall] {
    const o = checkOptions(opts, ['stream'], 'download');
    if (this.#freed) throw new Fp8kitError('ERR_ARGUMENT', 'download: the device tensor was freed');
    const out: Tensor<D> = { dtype: this.dtype, shape: [...this.shape], data: allocateOutput(this.dtype, numel(this.shape)) };
    return [out, (a) => native().deviceCopy(this.handle, out.data, 'download', streamHandle(o.stream, this.backend), a)];
  }
}

export function isDeviceTensor(t: unknown): t is DeviceTensor {
  return t instanceof DeviceTensor;
}

export function streamHandle(s: unknown, backend: string): Handle | undefined {
  if (s === undefined) return undefined;
  if (!(s instanceof Stream)) throw new Fp8kitError('ERR_ARGUMENT', 'options.stream must be a Stream from createStream()');
  if (s.backend !== backend) throw new Fp8kitError('ERR_ARGUMENT', `options.stream belongs to backend '${s.backend}', not '${backend}'`);
  return s.handle;
}

const DEVICE_DEFAULT = 'cuda';

/** Whether a backend's operations run on device memory (host tensors are staged through it). */
export function isDeviceBackend(backend: string): boolean {
  return backend === 'cuda' || backend === 'cuda-emu';
}

/** An uninitialized device tensor. */
export function deviceEmpty<D extends DType>(dtype: D, shape: readonly number[], opts?: { backend?: BackendName }): DeviceTensor<D> {
  const o = checkOptions(opts, ['backend'], 'deviceEmpty');
  if (!isDType(dtype)) throw new Fp8kitError('ERR_DTYPE', `deviceEmpty: unknown dtype ${JSON.stringify(dtype)}`);
  const backend = backendOption(o.backend ?? DEVICE_DEFAULT, 'deviceEmpty');
  const bytes = numel(shape) * bytesPerElement(dtype);
  const handle = callSync(() => native().deviceAlloc(backend, bytes));
  return new DeviceTensor(dtype, shape, backend, handle);
}

function prepareUpload<D extends DType>(t: Tensor<D>, opts: { backend?: BackendName; stream?: Stream } | undefined): [DeviceTensor<D>, NativeCall] {
  const o = checkOptions(opts, ['backend', 'stream'], 'upload');
  const x = checkTensor(t, 'x') as Tensor<D>;
  const d = deviceEmpty(x.dtype, x.shape, { backend: o.backend });
  const stream = streamHandle(o.stream, d.backend);
  return [d, (a) => native().deviceCopy(d.handle, x.data as ArrayOf<D>, 'upload', stream, a)];
}

/** Copies a host tensor to a device backend (default cuda). */
export function upload<D extends DType>(t: Tensor<D>, opts?: { backend?: BackendName; stream?: Stream }): Promise<DeviceTensor<D>> {
  return runAsync(() => prepareUpload(t, opts));
}
export function uploadSync<D extends DType>(t: Tensor<D>, opts?: { backend?: BackendName; stream?: Stream }): DeviceTensor<D> {
  return runSync(prepareUpload(t, opts));
}

/** A stream of a device backend: operations given `{stream}` are queued on it. */
export function createStream(opts?: { backend?: BackendName }): Stream {
  const o = checkOptions(opts, ['backend'], 'createStream');
  const backend = backendOption(o.backend ?? DEVICE_DEFAULT, 'createStream');
  return new Stream(backend, callSync(() => native().streamCreate(backend)));
}
