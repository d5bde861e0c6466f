/** SPEC §5: the DeepSeek-V3 gate — scores, node- (group-) limited top-k, normalized weights. */
import type { BackendName } from '../backends.js';
import { DeviceTensor, Stream, streamHandle } from '../device.js';
import { Fp8kitError, NativeCall, runAsync, runSync } from '../errors.js';
import { native } from '../native.js';
import { checkOperand, nativeArg, outputsOrGiven, Operand, operandBackend } from '../operand.js';
import { checkOptions, choice, integer } from '../options.js';
import { dtypeCode, Tensor } from '../tensor.js';

export type ScoreFunc = 'sigmoid' | 'softmax';

export interface RouteOptions {
  /** Experts per token (DeepSeek-V3: 8). */
  topk: number;
  /** Groups of consecutive expert ids (default 1; DeepSeek-V3: 8, one per node). */
  groups?: number;
  /** Groups a token may use (default: all; DeepSeek-V3: 4). */
  topkGroups?: number;
  /** 'sigmoid' (default; DeepSeek-V3) or 'softmax' (V2). */
  scoreFunc?: ScoreFunc;
  /** f32 [E], added to the scores for selection only (auxiliary-loss-free balancing). */
  bias?: Operand<'f32'>;
  /** Weights are multiplied by it (default 1; DeepSeek-V3: 2.5). */
  routeScale?: number;
  /** An earlier result of the same shapes to write into (and return) instead of new tensors. */
  into?: Routing<Operand>;
  backend?: BackendName;
  stream?: Stream;
}

export interface Routing<T = Tensor> {
  /** i32 [T, topk]: the picked experts, best first. */
  topkIdx: T extends DeviceTensor ? DeviceTensor<'i32'> : Tensor<'i32'>;
  /** f32 [T, topk]: their weights. */
  topkWeights: T extends DeviceTensor ? DeviceTensor<'f32'> : Tensor<'f32'>;
}

function prepare(logits: Operand, opts: RouteOptions): [Routing<Operand>, NativeCall] {
  const fn = 'route';
  if (opts === undefined) throw new Fp8kitError('ERR_ARGUMENT', `${fn}: options.topk is required`);
  const o = checkOptions(opts, ['topk', 'groups', 'topkGroups', 'scoreFunc', 'bias', 'routeScale', 'into', 'backend', 'stream'], fn);
  const x = checkOperand(logits, 'logits', ['f32', 'bf16'] as const);
  if (x.shape.length !== 2) throw new Fp8kitError('ERR_SHAPE', `${fn}: logits must be [tokens, experts]; got [${x.shape.join(', ')}]`);
  const [tokens, experts] = x.shape;
  const groups = integer(o.groups, `${fn}: options.groups`, 1, 1);
  const topkGroups = integer(o.topkGroups, `${fn}: options.topkGroups`, 1, groups);
  const topk = integer(o.topk, `${fn}: options.topk`, 1);
  const scoreFunc = choice(o.scoreFunc, ['sigmoid', 'softmax'] as const, 'sigmoid', `${fn}: options.scoreFunc`);
  const routeScale = o.routeScale ?? 1;
  if (typeof routeScale !== 'number' || !Number.isFinite(routeScale)) throw new Fp8kitError('ERR_ARGUMENT', `${fn}: options.routeScale must be a finite number`);
  const bias = o.bias === undefined ? undefined : checkOperand(o.bias, `${fn}: options.bias`, ['f32'] as const);
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== experts))
    throw new Fp8kitError('ERR_SHAPE', `${fn}: options.bias must be [${experts}]; got [${bias.shape.join(', ')}]`);
  const backend = operandBackend(o.backend, bias ? [x, bias] : [x], fn);
  const stream = streamHandle(o.stream, backend);
  const out = outputsOrGiven(o.into, { topkIdx: ['i32', [tokens, topk]], topkWeights: ['f32', [tokens, topk]] }, backend, bias ? [x, bias] : [x], `${fn}: options.into`) as Routing<Operand>;
  const params = { tokens, experts, topk, groups, topkGroups, scoreFunc: scoreFunc === 'sigmoid' ? 0 : 1, routeScale };
  return [out, (a) => native().route(backend, nativeArg(x), dtypeCode(x.dtype), bias ? nativeArg(bias) : null, params, nativeArg(out.topkIdx), nativeArg(out.topkWeights), stream, a)];
}

/**
 * The DeepSeek-V3 gate over logits [T, E] (f32 or bf16), bit-identical on every backend: scores by fp8kit's
 * own exp, the topkGroups best groups kept, the topk best experts of those (ties to the lower id), weights
 * the unbiased scores (for sigmoid divided by their sum) times routeScale.
 */
export function routeSync<T extends Operand>(logits: T, opts: RouteOptions): Routing<T> {
  return runSync(prepare(logits, opts)) as unknown as Routing<T>;
}
export function route<T extends Operand>(logits: T, opts: RouteOptions): Promise<Routing<T>> {
  return runAsync(() => prepare(logits, opts)) as unknown as Promise<Routing<T>>;
}
