/** The row plans of the sim transport's copies and sums, and the memory they write. */
import { Fp8kitError } from '../errors.js';
import { native } from '../native.js';
import { allocateOutput, bytesPerElement, Tensor, viewOf } from '../tensor.js';

/** Row i of a copy's destination = row rowOf[i] of source srcOf[i] (zeros where srcOf[i] < 0). */
export interface CopyPlan {
  readonly n: number;
  readonly srcOf: Int32Array;
  readonly rowOf: Int32Array;
}

/** A growing list of (source, row) pairs, with weights and segment offsets for a reduction: one copy's or one sum's plan. */
export class RowList {
  private src = new Int32Array(256);
  private row = new Int32Array(256);
  private w: Float32Array | null;
  private ends: Int32Array | null;
  n = 0;
  segments = 0;
  constructor(reduction = false, weighted = false) {
    this.w = weighted ? new Float32Array(256) : null;
    this.ends = reduction ? new Int32Array(257) : null;
  }
  push(source: number, row: number, weight = 0): void {
    if (this.n === this.src.length) {
      this.src = grown(this.src, this.n);
      this.row = grown(this.row, this.n);
      if (this.w) this.w = grown(this.w, this.n);
    }
    this.src[this.n] = source;
    this.row[this.n] = row;
    if (this.w) this.w[this.n] = weight;
    this.n++;
  }
  /** Closes a reduction's segment: its terms are those pushed since the last one. */
  end(): void {
    if (this.segments + 2 > this.ends!.length) this.ends = grown(this.ends!, this.segments + 1);
    this.ends![++this.segments] = this.n;
  }
  get srcOf(): Int32Array {
    return this.src.subarray(0, this.n);
  }
  get rowOf(): Int32Array {
    return this.row.subarray(0, this.n);
  }
  get weights(): Float32Array | null {
    return this.w ? this.w.subarray(0, this.n) : null;
  }
  get offsets(): Int32Array {
    return this.ends!.subarray(0, this.segments + 1);
  }
}

function grown<A extends Int32Array | Float32Array>(a: A, used: number): A {
  const b = new (a.constructor as { new (n: number): A })(a.length * 2);
  b.set(a.subarray(0, used));
  return b;
}

/** The buffers behind an earlier result (`into`): per part, the one array all ranks' views share, if they share one. */
export function reusable<T>(into: T[] | undefined, parts: (t: T) => (Tensor | undefined)[], fn: string): (ArrayBufferLike | undefined)[] {
  if (into === undefined) return [];
  if (!Array.isArray(into) || into.length === 0) throw new Fp8kitError('ERR_ARGUMENT', `${fn}: options.into must be an earlier call's results`);
  const lists = into.map(parts);
  return lists[0].map((_, p) => {
    const buffer = lists[0][p]?.data.buffer;
    return buffer && lists.every((l) => l[p]?.data.buffer === buffer) ? buffer : undefined;
  });
}

/** n elements of dtype: in `reuse` when it holds them, else a new output. */
export function output<D extends Tensor['dtype']>(dtype: D, n: number, reuse?: ArrayBufferLike): Tensor<D>['data'] {
  return reuse && reuse.byteLength >= bytesPerElement(dtype) * n ? viewOf(dtype, reuse, n) : allocateOutput(dtype, n);
}

/** Where each of the counted parts starts, and the total at the end. */
export function starts(counts: Int32Array): Int32Array {
  const at = new Int32Array(counts.length + 1);
  for (let i = 0; i < counts.length; i++) at[i + 1] = at[i] + counts[i];
  return at;
}

/** One rank's rows of a tensor holding every rank's, as a view. */
export function split(t: Tensor, at: Int32Array): Tensor[] {
  const cols = t.shape[1];
  return Array.from({ length: at.length - 1 }, (_, r) => ({ dtype: t.dtype, shape: [at[r + 1] - at[r], cols], data: t.data.subarray(at[r] * cols, at[r + 1] * cols) }) as Tensor);
}

/** t itself when its memory is an fp8kit output (read in place by Promise calls), else a copy that is. */
export function owned<T extends Tensor>(t: T): T {
  if (native().isOutput(t.data)) return t;
  const data = allocateOutput(t.dtype, t.data.length);
  (data as Uint8Array).set(t.data as Uint8Array);
  return { ...t, data } as T;
}
