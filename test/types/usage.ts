// The types a user of the shipped declarations (dist/*.d.ts) sees, checked by `tsc --noEmit` in
// test/types.test.ts: every line without a marker must compile, every `@ts-expect-error` line must not.
import fp8, { DeviceTensor, Operand, PackedWeights, QuantizedTensor, Tensor } from '../../dist/index.js';

type Equal<X, Y> = (<T>() => T extends X ? 1 : 2) extends <T>() => T extends Y ? 1 : 2 ? true : false;
function expectType<T extends true>(): void {}

declare const host: Tensor<'f32'>;
declare const dev: DeviceTensor<'bf16'>;
declare const either: Operand<'f32'>;
declare const unknownOptions: fp8.GemmOptions;

export async function usage(): Promise<void> {
  // A host input gives a host-typed result, readable without a cast.
  const q = await fp8.quantize(host);
  expectType<Equal<typeof q, QuantizedTensor<'host', 'e4m3'>>>();
  const bytes: Uint8Array = q.data.data;
  const scales: Float32Array = q.scales.data;
  const q5 = fp8.quantizeSync(host, { format: 'e5m2', tile: [128, 128] });
  expectType<Equal<typeof q5.format, 'e5m2'>>();
  expectType<Equal<typeof q5.data, Tensor<'e5m2'>>>();
  // A device input, a device result.
  const qd = fp8.quantizeSync(dev);
  expectType<Equal<typeof qd.data, DeviceTensor<'e4m3'>>>();
  // @ts-expect-error: a device tensor's bytes are not on the host
  qd.data.data.length;
  // An input that may be either gives either.
  const qe = fp8.quantizeSync(either);
  expectType<Equal<typeof qe, QuantizedTensor<'host' | 'device', 'e4m3'>>>();

  // gemm: bf16 by default, f32 when asked, either when the options are only known by their type.
  const d = fp8.gemmSync(q, q5);
  expectType<Equal<typeof d, Tensor<'bf16'>>>();
  const d32 = await fp8.gemm(q, q5, { out: 'f32', layout: 'nt' });
  expectType<Equal<typeof d32, Tensor<'f32'>>>();
  const f: Float32Array = d32.data;
  expectType<Equal<ReturnType<typeof fp8.gemmSync<typeof q, typeof unknownOptions>>, Tensor<'bf16' | 'f32'>>>();
  expectType<Equal<ReturnType<typeof fp8.gemmSync<typeof qd, {}>>, DeviceTensor<'bf16'>>>();

  // Packed weights serve gemm and the grouped GEMMs.
  const w: PackedWeights = fp8.packWeightsSync(q5, { backend: 'cpu' });
  const dw = fp8.gemmSync(q, w, { out: 'f32' });
  expectType<Equal<typeof dw, Tensor<'f32'>>>();
  const g = fp8.groupedGemmContiguousSync(q, await fp8.packWeights(q5), new Int32Array(4), { alignment: 4 });
  expectType<Equal<typeof g, Tensor<'bf16'>>>();
  const gm = await fp8.groupedGemmMasked(q, q5, new Int32Array(1), { out: 'f32' });
  expectType<Equal<typeof gm, Tensor<'f32'>>>();

  // The other operations to the same standard.
  const deq = await fp8.dequantize(q);
  expectType<Equal<typeof deq, Tensor<'f32'>>>();
  const back = fp8.dequantizeSync(qd, { out: 'bf16' });
  expectType<Equal<typeof back, DeviceTensor<'bf16'>>>();
  const wide = fp8.castFromFp8Sync(q.data, { out: 'bf16' });
  expectType<Equal<typeof wide, Tensor<'bf16'>>>();
  const narrow = await fp8.castToFp8(host, { format: 'e5m2' });
  expectType<Equal<typeof narrow, Tensor<'e5m2'>>>();
  const ct = fp8.castTransposeSync(host);
  const rows: Uint8Array = ct.rowwise.data.data;
  const cols: Uint8Array = ct.columnwise.data.data;
  void [bytes, scales, f, rows, cols];

  // @ts-expect-error: not a backend fp8kit knows
  fp8.gemmSync(q, q5, { backend: 'tpu' });
  // @ts-expect-error: the output is bf16 or f32
  fp8.gemmSync(q, q5, { out: 'f16' });
  // @ts-expect-error: a plain tensor is not a quantized operand: quantize it first
  fp8.gemmSync(host, q5);
  // @ts-expect-error: layouts are BLAS letters
  fp8.gemmSync(q, q5, { layout: 'tx' });
  // @ts-expect-error: packWeights takes a quantized tensor
  fp8.packWeightsSync(host);
  // @ts-expect-error: grouped GEMMs write into host tensors only
  fp8.groupedGemmMaskedSync(q, w, new Int32Array(1), { into: fp8.deviceEmpty('bf16', [1, 1]) });
  // @ts-expect-error: quantize's formats are e4m3 and e5m2
  fp8.quantizeSync(host, { format: 'e3m4' });

  // MoE: the gate's outputs follow where the logits live; the cluster's results are typed per rank.
  const gate = fp8.routeSync(host, { topk: 8, groups: 8, topkGroups: 4, routeScale: 2.5 });
  expectType<Equal<typeof gate.topkIdx, Tensor<'i32'>>>();
  expectType<Equal<typeof gate.topkWeights, Tensor<'f32'>>>();
  const gateDev = fp8.routeSync(dev, { topk: 8 });
  expectType<Equal<typeof gateDev.topkIdx, DeviceTensor<'i32'>>>();
  const layout = fp8.dispatchLayoutSync(gate.topkIdx, 256, { nodes: 2, gpusPerNode: 8 });
  expectType<Equal<typeof layout.isTokenInRank, Tensor<'u8'>>>();
  const cluster = new fp8.Cluster({ nodes: 2, gpusPerNode: 8 }, { numExperts: 256 });
  const received = await cluster.dispatch([{ x: host, topkIdx: gate.topkIdx, topkWeights: gate.topkWeights }], { expertAlignment: 128 });
  const mIndices: Int32Array | undefined = received[0].expanded?.mIndices;
  const combined = await cluster.combine(received.map((r) => r.recvX as Tensor<'bf16'>), received);
  expectType<Equal<typeof combined, Tensor<'bf16'>[]>>();
  const stats: number = cluster.stats().ibBytes;
  void [mIndices, stats];
  // @ts-expect-error: the gate's score functions are sigmoid and softmax
  fp8.routeSync(host, { topk: 8, scoreFunc: 'relu' });
  // @ts-expect-error: topk is required
  fp8.routeSync(host, {});
}
