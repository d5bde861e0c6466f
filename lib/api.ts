/** The public surface of SPEC.md §10, every name once (index.ts exports it, and as the default export). */
export { Fp8kitError } from './errors.js';
export type { ErrorCode } from './errors.js';
export { tensor, empty, numel, checkTensor, isDType, bytesPerElement, DTYPES } from './tensor.js';
export type { DType, Fp8Format, Tensor, ArrayOf } from './tensor.js';
export { backends } from './backends.js';
export { mpiStatus } from './native.js';
export type { BackendInfo, BackendName } from './backends.js';
export {
  castToFp8, castToFp8Sync, castFromFp8, castFromFp8Sync,
  castToBf16, castToBf16Sync, castToF32, castToF32Sync,
} from './cast.js';
export type { CastToFp8Options, CastFromFp8Options, ConvertOptions } from './cast.js';
export { quantize, quantizeSync, dequantize, dequantizeSync, castTranspose, castTransposeSync } from './quant.js';
export type { QuantizedTensor, QuantizeOptions, DequantizeOptions, CastTransposeOptions, CastTransposed, Tile, ScaleFormat, ScaleLayout } from './quant.js';
export { gemm, gemmSync, calcDiff } from './gemm.js';
export type { GemmOptions, GemmLayout, Accumulate, GemmResult } from './gemm.js';
export { groupedGemmContiguous, groupedGemmContiguousSync, groupedGemmMasked, groupedGemmMaskedSync } from './grouped.js';
export type { GroupedGemmOptions } from './grouped.js';
export { packWeights, packWeightsSync } from './pack.js';
export type { PackWeightsOptions } from './pack.js';
export { PackedWeights, isPackedWeights } from './packed.js';
export { DeviceTensor, Stream, upload, uploadSync, deviceEmpty, createStream, isDeviceTensor } from './device.js';
export type { Operand, Location, At, LocationOf, Chosen } from './operand.js';
export type { Result } from './cast.js';
export { route, routeSync } from './moe/route.js';
export type { RouteOptions, Routing, ScoreFunc } from './moe/route.js';
export { dispatchLayout, dispatchLayoutSync } from './moe/layout.js';
export type { DispatchLayout, DispatchLayoutOptions } from './moe/layout.js';
export type { Topology } from './moe/topology.js';
export { Cluster, DispatchHandle } from './moe/cluster.js';
export type { ClusterOptions, DispatchInput, DispatchOptions, Received, Expanded, CombineOptions } from './moe/cluster.js';
export type { TrafficStats, LinkBytes } from './moe/traffic.js';
export { eplbRebalance } from './moe/eplb.js';
export type { EplbOptions, EplbPlacement } from './moe/eplb.js';
export { choosePhysical } from './moe/placement.js';
export type { ChoosePhysicalOptions, ChoosePhysicalPlacement } from './moe/placement.js';
export { readSafetensors, readSafetensorsSync, writeSafetensors, writeSafetensorsSync } from './safetensors.js';
export type { SafetensorsFile, TensorSet } from './safetensors.js';
export { fp8ToBf16, fp8ToBf16Sync, bf16ToFp8, bf16ToFp8Sync } from './checkpoint/convert.js';
export { tensorFromBytes, encodeQuantized, decodeQuantized } from './wire.js';
export type { CheckpointOptions, ConvertSummary } from './checkpoint/convert.js';
export { memoryStats, releaseMemory } from './memory.js';
export type { MemoryStats } from './memory.js';
export { version } from './version.js';

