/**
 * `fp8kit bench quant` and `fp8kit bench cast-transpose`: DeepSeek-V3 shapes, bf16 input read once,
 * FP8 data and f32 scales written, next to a memory copy of the same bytes.
 */
import { castToBf16Sync } from '../cast.js';
import { castTransposeSync, quantizeSync, Tile } from '../quant.js';
import { Tensor, tensor } from '../tensor.js';
import { BenchOptions } from './cast.js';
import { BenchRow, measurePair } from './harness.js';
import { benchQuantPeers } from './peers/onnxruntime.js';

/** Activations (tokens × hidden) and weights (out × in) of DeepSeek-V3: hidden 7168, MoE intermediate 2048, dense 18432. */
export const DEEPSEEK_SHAPES: [number, number][] = [
  [4096, 7168],
  [4096, 2048],
  [7168, 18432],
];

function randomBf16(m: number, k: number, seed: number): Tensor<'bf16'> {
  const x = new Float32Array(m * k);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < x.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    x[i] = ((s >>> 0) / 4294967296 - 0.5) * 2 ** ((s >>> 27) - 8);
  }
  return castToBf16Sync(tensor('f32', [m, k], x)) as Tensor<'bf16'>;
}

const scaleBytes = (m: number, k: number, [tr, g]: Tile) => 4 * Math.ceil(m / tr) * Math.ceil(k / g);
const label = ([tr, g]: Tile) => `${tr}x${g}`;

export function benchQuant(o: BenchOptions): BenchRow[] {
  const rows: BenchRow[] = [];
  const shapes = o.shapes ?? DEEPSEEK_SHAPES;
  for (const [m, k] of shapes) {
    const x = randomBf16(m, k, m ^ k);
    for (const tile of [[1, 128], [128, 128]] as Tile[]) {
      const bytes = 2 * m * k + m * k + scaleBytes(m, k, tile);
      const into = quantizeSync(x, { tile, backend: o.backend });
      const user = tile[0] === 1 ? tensor('bf16', [m, k], Uint16Array.from(x.data)) : undefined;  // not fp8kit's memory
      rows.push(...measurePair(`${label(tile)} bf16 [${m}, ${k}]`, bytes, o.reps, () => quantizeSync(x, { tile, backend: o.backend, into }), () => quantizeSync(x, { tile, backend: o.backend }),
        user && (() => quantizeSync(user, { tile, backend: o.backend }))));
    }
  }
  // fp8kit on an f32 [4096, 7168] (or the first --shape) next to onnxruntime-node's QuantizeLinear of the
  // same input (MEASURING.md "Peers").
  rows.push(...benchQuantPeers(o, ...(o.shapes ? shapes[0] : [])));
  return rows;
}

export function benchCastTranspose(o: BenchOptions): BenchRow[] {
  const rows: BenchRow[] = [];
  for (const [m, k] of o.shapes ?? DEEPSEEK_SHAPES) {
    const x = randomBf16(m, k, m + k);
    for (const tile of [[1, 128], [128, 128]] as Tile[]) {
      const bytes = 2 * m * k + 2 * m * k + scaleBytes(m, k, tile) + scaleBytes(k, m, tile);
      const into = castTransposeSync(x, { tile, backend: o.backend });
      rows.push(...measurePair(`${label(tile)} bf16 [${m}, ${k}]`, bytes, o.reps, () => castTransposeSync(x, { tile, backend: o.backend, into }), () => castTransposeSync(x, { tile, backend: o.backend })));
    }
  }
  return rows;
}
