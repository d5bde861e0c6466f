/**
 * SPEC.md §2 restated in JavaScript from its text (Math.fround for every f32 rounding, the format table
 * of fp8-model.ts for the casts), independent of the native code: the tests check the ref backend
 * against it, and every other backend against ref.
 */
import { decode, encode, Format } from './fp8-model.js';

const FMAX = { e4m3: 448, e5m2: 57344 };
const f32 = Math.fround;
const u32 = new Uint32Array(1);
const fv = new Float32Array(u32.buffer);

export interface ModelOptions {
  tile: [number, number];
  format: Format;
  scaleFormat: 'f32' | 'ue8m0';
  eps: number;
}

export function tileScale(amax: number, o: ModelOptions): number {
  let scale = f32(Math.max(amax, f32(o.eps)) / FMAX[o.format]);
  if (o.scaleFormat === 'ue8m0') {
    fv[0] = scale;
    const bits = u32[0];
    let e = ((bits >>> 23) & 0xff) + ((bits & 0x7fffff) !== 0 ? 1 : 0);
    e = Math.min(254, Math.max(1, e));
    scale = 2 ** (e - 127);
  }
  return scale;
}

/** Quantizes one matrix [rows, cols] (values as f32) with `o.tile`: data and row-major scales. */
export function quantizeModel(x: Float32Array, rows: number, cols: number, o: ModelOptions): { data: Uint8Array; scales: Float32Array } {
  const [tr, g] = o.tile;
  const nr = Math.ceil(rows / tr);
  const nc = Math.ceil(cols / g);
  const data = new Uint8Array(rows * cols);
  const scales = new Float32Array(nr * nc);
  for (let R = 0; R < nr; R++)
    for (let C = 0; C < nc; C++) {
      let amax = 0;
      let finite = true;
      for (let r = R * tr; r < Math.min(rows, (R + 1) * tr); r++)
        for (let c = C * g; c < Math.min(cols, (C + 1) * g); c++) {
          const v = x[r * cols + c];
          if (!Number.isFinite(v)) finite = false;
          else amax = Math.max(amax, Math.abs(v));
        }
      const scale = finite ? tileScale(amax, o) : NaN;
      const inv = f32(1 / scale);
      scales[R * nc + C] = scale;
      for (let r = R * tr; r < Math.min(rows, (R + 1) * tr); r++)
        for (let c = C * g; c < Math.min(cols, (C + 1) * g); c++)
          data[r * cols + c] = finite ? encode(f32(x[r * cols + c] * inv), o.format, true) : 0x7f;
    }
  return { data, scales };
}

/** f32(q) · scale, f32-rounded. */
export function dequantizeValue(q: number, scale: number, format: Format): number {
  return f32(decode(q, format) * scale);
}
