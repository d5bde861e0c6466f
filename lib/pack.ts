/** SPEC §4 "Prepacked weights": packWeights. */
import type { BackendName } from './backends.js';
import { isDeviceTensor } from './device.js';
import { Fp8kitError, NativeCall, runAsync, runSync } from './errors.js';
import { checkB, checkQuantizedOperand, GemmLayout, LAYOUT_CODE } from './gemm.js';
import { native } from './native.js';
import { nativeArg, operandBackend } from './operand.js';
import { checkOptions, choice } from './options.js';
import { packedArg, PackedWeights } from './packed.js';
import type { QuantizedTensor } from './quant.js';
import type { Tensor } from './tensor.js';

export interface PackWeightsOptions {
  /** The GEMM layout B is stored for: its second letter says how ('t', the default: [N, K]; 'n': [K, N]). The packed weights then serve any layout of A. */
  layout?: GemmLayout;
  backend?: BackendName;
}

function preparePack(b: QuantizedTensor, opts: PackWeightsOptions | undefined): [PackedWeights, NativeCall] {
  const fn = 'packWeights';
  const o = checkOptions(opts, ['layout', 'backend'], fn);
  const layout = choice(o.layout, ['nt', 'nn', 'tn', 'tt'] as const, 'nt', `${fn}: options.layout`);
  const bT = layout === 'nn' || layout === 'tn';
  const { q, data } = checkQuantizedOperand(b, 'b', fn, (b as QuantizedTensor)?.data?.shape?.length === 3 ? 3 : 2);
  const grouped = data.shape.length === 3;
  const groups = grouped ? data.shape[0] : 1;
  const [rows, cols] = grouped ? data.shape.slice(1) : data.shape;
  if (grouped && (isDeviceTensor(q.data) || isDeviceTensor(q.scales))) throw new Fp8kitError('ERR_ARGUMENT', `${fn}: grouped weights must be on the host`);
  const perScales = q.scales.shape.length === 3 ? q.scales.shape.slice(1) : q.scales.shape;
  if (grouped && (q.scales.shape.length !== 3 || q.scales.shape[0] !== groups))
    throw new Fp8kitError('ERR_SHAPE', `${fn}: b.scales has shape [${q.scales.shape.join(', ')}]; grouped b.data [${data.shape.join(', ')}] needs one set of scales per group`);
  const first = { ...q, scales: { ...q.scales, shape: perScales } } as QuantizedTensor;
  const g = checkB({ q: first, rows, cols }, bT, layout, fn);
  const backend = operandBackend(o.backend, [q.data, q.scales], fn);
  // m, and the accumulation, do not matter to a packing.
  const params = { m: 1, ...g, layout: LAYOUT_CODE[layout], aFormat: g.bFormat, aScaleLayout: 0, accumulate: 0, accumulatorBits: 14, promotionInterval: 0, outDtype: 0, hasC: false, bPacked: false };
  const bytes = native().packBBytes(backend, params);
  const groupBytes = grouped ? Math.ceil(bytes / 64) * 64 : bytes;
  const packed = new PackedWeights(backend, grouped ? [groups, g.n, g.k] : [g.n, g.k], q.format, q.tile as [number, number], groupBytes);
  const per = rows * cols;
  const sPer = perScales.reduce((x, y) => x * y, 1);
  const call: NativeCall = (async) => {
    if (!grouped) return native().packB(backend, nativeArg(q.data), nativeArg(q.scales), packedArg(packed.data), params, undefined, async);
    const d = (q.data as Tensor).data as Uint8Array;
    const s = (q.scales as Tensor).data as Float32Array;
    const one = (i: number, a: boolean) => native().packB(backend, d.subarray(i * per, (i + 1) * per), s.subarray(i * sPer, (i + 1) * sPer), packedArg(packed.group(i).data), params, undefined, a);
    if (!async) {
      for (let i = 0; i < groups; i++) one(i, false);
      return undefined;
    }
    return (async () => {
      for (let i = 0; i < groups; i++) await one(i, true);
    })();
  };
  return [packed, call];
}

/** B (quantized [N, K], [K, N] with layout 'nn'/'tn', or grouped [G, N, K]) in the backend's own layout, for every later GEMM (in device memory for the cuda backends). */
export function packWeightsSync(b: QuantizedTensor, opts?: PackWeightsOptions): PackedWeights {
  return runSync(preparePack(b, opts));
}
export function packWeights(b: QuantizedTensor, opts?: PackWeightsOptions): Promise<PackedWeights> {
  return runAsync(() => preparePack(b, opts));
}
