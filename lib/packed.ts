/**
 * SPEC §4 "Prepacked weights": B converted once into a backend's own layout, accepted wherever a GEMM
 * takes B. A server loads its weights once and multiplies by them many times.
 */
import { Fp8kitError } from './errors.js';
import { allocateOutput } from './tensor.js';

/** A B operand in one backend's own layout (from packWeights): [N, K], or [G, N, K] for grouped GEMMs. */
export class PackedWeights {
  /** The backend that packed it, and the only one that takes it. */
  readonly backend: string;
  /** op(B)'s shape: [N, K], or [G, N, K]. */
  readonly shape: readonly number[];
  readonly format: 'e4m3' | 'e5m2';
  /** The tiles B was quantized with: [128, 128] (1D2D) or 128 along K (1D1D). */
  readonly tile: readonly [number, number];
  /** Bytes held (every group's). */
  readonly bytes: number;
  /** @internal The packed bytes; group g at g · groupBytes. */
  readonly data: Uint8Array;
  /** @internal */
  readonly groupBytes: number;

  /** @internal Made by packWeights. */
  constructor(backend: string, shape: readonly number[], format: 'e4m3' | 'e5m2', tile: readonly [number, number], groupBytes: number, data?: Uint8Array) {
    const groups = shape.length === 3 ? shape[0] : 1;
    this.backend = backend;
    this.shape = Object.freeze([...shape]);
    this.format = format;
    this.tile = Object.freeze([tile[0], tile[1]]) as readonly [number, number];
    this.groupBytes = groupBytes;
    this.data = data ?? allocateOutput('u8', groups * groupBytes);
    this.bytes = this.data.length;
    Object.freeze(this);
  }

  /** @internal Group g of a [G, N, K] packing, as an [N, K] one (a view: no copy). */
  group(g: number): PackedWeights {
    if (this.shape.length !== 3) throw new Fp8kitError('ERR_ARGUMENT', 'packed weights of one matrix have no groups');
    return new PackedWeights(this.backend, this.shape.slice(1), this.format, this.tile, this.groupBytes, this.data.subarray(g * this.groupBytes, (g + 1) * this.groupBytes));
  }
}

export function isPackedWeights(x: unknown): x is PackedWeights {
  return x instanceof PackedWeights;
}
