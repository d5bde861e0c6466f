/**
 * SPEC.md §2 128×128 weight blocks in plain TypeScript: the numeric core of checkpoint conversion until
 * the native `quantize` / `dequantize` take over (the converter calls only these four functions).
 * Element casts go through the bit-exact castToFp8 / castToBf16 / castFromFp8.
 */
import { castFromFp8Sync, castToBf16, castToBf16Sync, castToFp8, castToFp8Sync } from '../cast.js';
import { Fp8kitError } from '../errors.js';
import { checkTensor, Tensor } from '../tensor.js';

export const BLOCK = 128;
const E4M3_MAX = 448;
const EPS = Math.fround(1e-4);

export interface Blocks {
  data: Tensor<'e4m3'>;
  /** [ceil(M/128), ceil(K/128)]: the dequantization multiplier (DeepSeek-V3's `weight_scale_inv`). */
  scales: Tensor<'f32'>;
}

function dims(t: Tensor, name: string): [number, number] {
  if (t.shape.length !== 2) throw new Fp8kitError('ERR_SHAPE', `${name} must be 2-D for 128×128 blocks; got shape [${t.shape.join(', ')}]`);
  return [t.shape[0], t.shape[1]];
}

/**
 * An f32 buffer of `n` elements: a view of `scratch` when it is large enough (the converter passes one
 * and reuses it, so big strips do not leave garbage for the GC to catch up with), else a new array.
 */
function f32Buffer(n: number, scratch?: Float32Array): Float32Array {
  return scratch && scratch.length >= n ? scratch.subarray(0, n) : new Float32Array(n);
}

/** f32(x)·inv products and the block scales: steps 1–3 and 5 of §2 up to the fp8 cast. */
function prepareQuantize(x: Tensor<'bf16' | 'f32'>, scratch?: Float32Array): { products: Tensor<'f32'>; scales: Tensor<'f32'> } {
  checkTensor(x, 'x', ['bf16', 'f32']);
  const [M, K] = dims(x, 'x');
  const nb = Math.ceil(K / BLOCK);
  const p = f32Buffer(M * K, scratch);
  if (x.dtype === 'bf16') {
    const bits = new Uint32Array(p.buffer, p.byteOffset, p.length);
    const src = x.data as Uint16Array;
    for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16; // bf16 → f32 is exact
  } else p.set(x.data as Float32Array);
  // Step 1: amax over the elements inside the tensor (edge blocks act as zero-padded). Math.max carries
  // NaN and inf through, which makes the scale NaN below.
  const amax = new Float64Array(Math.ceil(M / BLOCK) * nb);
  for (let r = 0; r < M; r++) {
    const row = r * K, b0 = Math.floor(r / BLOCK) * nb;
    for (let c0 = 0, b = b0; c0 < K; c0 += BLOCK, b++) {
      let m = amax[b];
      for (let c = c0, end = Math.min(c0 + BLOCK, K); c < end; c++) m = Math.max(m, Math.abs(p[row + c]));
      amax[b] = m;
    }
  }
  // Steps 2, 3, 5. f32 ÷ and × evaluated in f64 then rounded once are correctly rounded f32 results
  // (53 ≥ 2·24 + 2), so Math.fround gives the bits of single-precision arithmetic.
  const scales = new Float32Array(amax.length);
  const inv = new Float64Array(amax.length);
  for (let b = 0; b < amax.length; b++) {
    if (!Number.isFinite(amax[b])) {
      scales[b] = NaN; // a NaN or ±inf in the block: NaN scale, and NaN·x makes every byte 0x7F
      inv[b] = NaN;
      continue;
    }
    scales[b] = Math.fround(Math.max(amax[b], EPS) / E4M3_MAX);
    inv[b] = Math.fround(1 / scales[b]);
  }
  for (let r = 0; r < M; r++) {
    const row = r * K, b0 = Math.floor(r / BLOCK) * nb;
    for (let c = 0; c < K; c++) p[row + c] *= inv[b0 + Math.floor(c / BLOCK)]; // stored as f32: one rounding
  }
  return { products: { dtype: 'f32', shape: [M, K], data: p }, scales: { dtype: 'f32', shape: [Math.ceil(M / BLOCK), nb], data: scales } };
}

/**
 * bf16 or f32 [M, K] → e4m3 data and f32 scales per 128×128 block. `scratch` (optional, M·K elements or
 * more) holds the f32 temporaries; it must not be shared by calls in flight at the same time.
 */
export function blockQuantizeSync(x: Tensor<'bf16' | 'f32'>, scratch?: Float32Array): Blocks {
  const { products, scales } = prepareQuantize(x, scratch);
  return { data: castToFp8Sync(products, { format: 'e4m3' }) as Tensor<'e4m3'>, scales };
}

export async function blockQuantize(x: Tensor<'bf16' | 'f32'>, scratch?: Float32Array): Promise<Blocks> {
  const { products, scales } = prepareQuantize(x, scratch);
  return { data: (await castToFp8(products, { format: 'e4m3' })) as Tensor<'e4m3'>, scales };
}

let e4m3Values: Float32Array | undefined;

/** x' = f32(q)·scale in f32 (§2 Dequantize), before the bf16 rounding. */
function prepareDequantize(q: Tensor<'e4m3'>, scales: Tensor<'f32'>, scratch?: Float32Array): Tensor<'f32'> {
  checkTensor(q, 'q', ['e4m3']);
  checkTensor(scales, 'scales', ['f32']);
  const [M, K] = dims(q, 'q');
  const nb = Math.ceil(K / BLOCK);
  if (scales.shape.length !== 2 || scales.shape[0] !== Math.ceil(M / BLOCK) || scales.shape[1] !== nb)
    throw new Fp8kitError('ERR_SHAPE', `scales of q [${M}, ${K}] must be [${Math.ceil(M / BLOCK)}, ${nb}]; got [${scales.shape.join(', ')}]`);
  e4m3Values ??= castFromFp8Sync({ dtype: 'e4m3', shape: [256], data: Uint8Array.from({ length: 256 }, (_, i) => i) }).data as Float32Array;
  const lut = e4m3Values, s = scales.data, src = q.data;
  const out = f32Buffer(M * K, scratch);
  for (let r = 0; r < M; r++) {
    const row = r * K, b0 = Math.floor(r / BLOCK) * nb;
    for (let c = 0; c < K; c++) out[row + c] = lut[src[row + c]] * s[b0 + Math.floor(c / BLOCK)];
  }
  return { dtype: 'f32', shape: [M, K], data: out };
}

/** e4m3 [M, K] and its block scales → bf16 (round to nearest even); `scratch` as for blockQuantizeSync. */
export function blockDequantizeSync(q: Tensor<'e4m3'>, scales: Tensor<'f32'>, scratch?: Float32Array): Tensor<'bf16'> {
  return castToBf16Sync(prepareDequantize(q, scales, scratch)) as Tensor<'bf16'>;
}

export async function blockDequantize(q: Tensor<'e4m3'>, scales: Tensor<'f32'>, scratch?: Float32Array): Promise<Tensor<'bf16'>> {
  return (await castToBf16(prepareDequantize(q, scales, scratch))) as Tensor<'bf16'>;
}
