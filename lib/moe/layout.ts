/** SPEC §7: what a top-k assignment sends where, as DeepEP's get_dispatch_layout counts it. */
import type { BackendName } from '../backends.js';
import { DeviceTensor, Stream, streamHandle } from '../device.js';
import { Fp8kitError, NativeCall, runAsync, runSync } from '../errors.js';
import { native } from '../native.js';
import { checkOperand, nativeArg, Operand, operandBackend, outputsOrGiven } from '../operand.js';
import { checkOptions } from '../options.js';
import { Tensor } from '../tensor.js';
import { checkExperts, checkTopology, Topology } from './topology.js';

export interface DispatchLayoutOptions {
  /** An earlier result of the same shapes to write into (and return) instead of new tensors. */
  into?: DispatchLayout<Operand>;
  backend?: BackendName;
  stream?: Stream;
}

type Out<T, D extends 'i32' | 'u8'> = T extends DeviceTensor ? DeviceTensor<D> : Tensor<D>;
export interface DispatchLayout<T = Tensor> {
  /** i32 [R]: tokens reaching each rank (once per token). */
  tokensPerRank: Out<T, 'i32'>;
  /** i32 [nodes]: tokens reaching each node (DeepEP's num_tokens_per_rdma_rank). */
  tokensPerNode: Out<T, 'i32'>;
  /** i32 [numExperts]: once per top-k slot. */
  tokensPerExpert: Out<T, 'i32'>;
  /** u8 [T, R]: 1 where the token reaches the rank. */
  isTokenInRank: Out<T, 'u8'>;
}

function prepare(topkIdx: Operand, numExperts: number, topology: Topology, opts: DispatchLayoutOptions | undefined): [DispatchLayout<Operand>, NativeCall] {
  const fn = 'dispatchLayout';
  const o = checkOptions(opts, ['into', 'backend', 'stream'], fn);
  const idx = checkOperand(topkIdx, 'topkIdx', ['i32'] as const);
  if (idx.shape.length !== 2 || idx.shape[1] < 1) throw new Fp8kitError('ERR_SHAPE', `${fn}: topkIdx must be [tokens, k] with k >= 1; got [${idx.shape.join(', ')}]`);
  const t = checkTopology(topology, `${fn}: topology`);
  const experts = checkExperts(numExperts, t, `${fn}: numExperts`);
  const backend = operandBackend(o.backend, [idx], fn);
  const stream = streamHandle(o.stream, backend);
  const [tokens, topk] = idx.shape;
  const ranks = t.nodes * t.gpusPerNode;
  const out = outputsOrGiven(
    o.into,
    { tokensPerRank: ['i32', [ranks]], tokensPerNode: ['i32', [t.nodes]], tokensPerExpert: ['i32', [experts]], isTokenInRank: ['u8', [tokens, ranks]] },
    backend, [idx], `${fn}: options.into`,
  ) as DispatchLayout<Operand>;
  const params = { tokens, topk, experts, nodes: t.nodes, gpusPerNode: t.gpusPerNode };
  return [out, (a) => native().dispatchLayout(backend, nativeArg(idx), params, nativeArg(out.tokensPerRank), nativeArg(out.tokensPerNode), nativeArg(out.tokensPerExpert), nativeArg(out.isTokenInRank), stream, a)];
}

/** Counts per rank, node and expert of topkIdx [T, k] (physical slots, −1 none); an id outside [−1, numExperts) is ERR_ARGUMENT. */
export function dispatchLayoutSync<T extends Operand>(topkIdx: T, numExperts: number, topology: Topology, opts?: DispatchLayoutOptions): DispatchLayout<T> {
  return runSync(prepare(topkIdx, numExperts, topology, opts)) as unknown as DispatchLayout<T>;
}
export function dispatchLayout<T extends Operand>(topkIdx: T, numExperts: number, topology: Topology, opts?: DispatchLayoutOptions): Promise<DispatchLayout<T>> {
  return runAsync(() => prepare(topkIdx, numExperts, topology, opts)) as unknown as Promise<DispatchLayout<T>>;
}
