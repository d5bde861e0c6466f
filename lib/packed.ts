/**
 * SPEC §4 "Prepacked weights": B converted once into a backend's own layout, accepted wherever a GEMM
 * takes B. A server loads its weights once and multiplies by them many times. The cuda backends keep
 * packed weights in device memory, so no later call uploads them.
 */
import { DeviceTensor, deviceEmpty, isDeviceBackend } from './device.js';
import { Fp8kitError } from './errors.js';
import { allocateOutput } from './tensor.js';

type Memory = Uint8Array | DeviceTensor<'u8'>;

/** A B operand in one backend's own layout (from packWeights): [N, K], or [G, N, K] for grouped GEMMs. */
export class PackedWeights {
  /** The backend that packed it, and the only one that takes it. */
  readonly backend: string;
  /** op(B)'s shape: [N, K], or [G, N, K]. */
  readonly shape: readonly number[];
  readonly format: 'e4m3' | 'e5m2';
  /** The tiles B was quantized with: [128, 128] (1D2D) or 128 along K (1D1D). */
  readonly tile: readonly [number, number];
  /** Bytes held (every group's), on the host or, for the cuda backends, in device memory. */
  readonly bytes: number;
  /** Where the bytes live: device memory for the cuda backends. */
  readonly location: 'host' | 'device';
  /** @internal Host: every group's bytes, group g at g · groupBytes. Device: the matrix's (group 0's) memory. */
  readonly data: Memory;
  /** @internal */
  readonly groupBytes: number;
  readonly #groups: readonly Memory[];

  /** @internal Made by packWeights (data: host bytes, or one device buffer per group). */
  constructor(backend: string, shape: readonly number[], format: 'e4m3' | 'e5m2', tile: readonly [number, number], groupBytes: number, data?: Uint8Array | readonly DeviceTensor<'u8'>[]) {
    const groups = shape.length === 3 ? shape[0] : 1;
    this.backend = backend;
    this.shape = Object.freeze([...shape]);
    this.format = format;
    this.tile = Object.freeze([tile[0], tile[1]]) as readonly [number, number];
    this.groupBytes = groupBytes;
    const device = data === undefined ? isDeviceBackend(backend) : Array.isArray(data);
    this.location = device ? 'device' : 'host';
    if (device) {
      this.#groups = (data as readonly DeviceTensor<'u8'>[] | undefined) ?? Array.from({ length: groups }, () => deviceEmpty('u8', [groupBytes], { backend: backend as 'cuda' }));
      this.data = this.#groups[0];
      this.bytes = groups * groupBytes;
    } else {
      const host = (data as Uint8Array | undefined) ?? allocateOutput('u8', groups * groupBytes);
      this.data = host;
      this.bytes = host.length;
      this.#groups = Array.from({ length: groups }, (_, g) => host.subarray(g * groupBytes, (g + 1) * groupBytes));
    }
    Object.freeze(this);
  }

  /** True once free() released device memory. */
  get freed(): boolean {
    return this.#groups.some((m) => m instanceof DeviceTensor && m.freed);
  }

  /** Releases device memory now rather than at garbage collection (nothing for host packings). Later GEMMs with these weights are refused. */
  free(): void {
    for (const m of this.#groups) if (m instanceof DeviceTensor) m.free();
  }

  /** @internal Group g of a [G, N, K] packing, as an [N, K] one (a view: no copy). */
  group(g: number): PackedWeights {
    if (this.shape.length !== 3) throw new Fp8kitError('ERR_ARGUMENT', 'packed weights of one matrix have no groups');
    const m = this.#groups[g];
    return new PackedWeights(this.backend, this.shape.slice(1), this.format, this.tile, this.groupBytes, m instanceof DeviceTensor ? [m] : m);
  }
}

/** @internal What the addon takes for packed memory: the bytes, or the device memory handle. */
export function packedArg(m: Memory): object {
  return m instanceof DeviceTensor ? m.handle : m;
}

export function isPackedWeights(x: unknown): x is PackedWeights {
  return x instanceof PackedWeights;
}
