/**
 * The numeric core of checkpoint conversion: SPEC.md §2 128×128 weight blocks through the native
 * quantize / dequantize (cpu backend), so a converted checkpoint has exactly fp8kit's bits.
 */
import { Fp8kitError } from '../errors.js';
import { dequantize, dequantizeSync, quantize, quantizeSync, QuantizedTensor } from '../quant.js';
import { Tensor } from '../tensor.js';

export const BLOCK = 128;

export interface Blocks {
  data: Tensor<'e4m3'>;
  /** [ceil(M/128), ceil(K/128)]: the dequantization multiplier (DeepSeek-V3's `weight_scale_inv`). */
  scales: Tensor<'f32'>;
}

function matrix(t: Tensor, name: string): void {
  if (t.shape.length !== 2) throw new Fp8kitError('ERR_SHAPE', `${name} must be 2-D for 128×128 blocks; got shape [${t.shape.join(', ')}]`);
}

const OPTIONS = { tile: [BLOCK, BLOCK] as const, format: 'e4m3' as const };
const blocks = (q: QuantizedTensor): Blocks => ({ data: q.data as Tensor<'e4m3'>, scales: q.scales as Tensor<'f32'> });
const quantized = (q: Tensor<'e4m3'>, scales: Tensor<'f32'>): QuantizedTensor => ({ data: q, scales, ...OPTIONS, scaleFormat: 'f32', scaleLayout: 'row' });

export function blockQuantizeSync(x: Tensor<'bf16' | 'f32'>): Blocks {
  matrix(x, 'weight');
  return blocks(quantizeSync(x, OPTIONS));
}
export async function blockQuantize(x: Tensor<'bf16' | 'f32'>): Promise<Blocks> {
  matrix(x, 'weight');
  return blocks(await quantize(x, OPTIONS));
}

export function blockDequantizeSync(q: Tensor<'e4m3'>, scales: Tensor<'f32'>): Tensor<'bf16'> {
  matrix(q, 'weight');
  return dequantizeSync(quantized(q, scales), { out: 'bf16' }) as Tensor<'bf16'>;
}
export async function blockDequantize(q: Tensor<'e4m3'>, scales: Tensor<'f32'>): Promise<Tensor<'bf16'>> {
  matrix(q, 'weight');
  return (await dequantize(quantized(q, scales), { out: 'bf16' })) as Tensor<'bf16'>;
}
