/** Which BF16 tensors become FP8 when converting BF16 → FP8. */
import { Fp8kitError } from '../errors.js';
import { DType } from '../tensor.js';

export interface TensorMeta {
  dtype: DType;
  shape: readonly number[];
}

/** An explicit rule: a RegExp (or its source) tested on the name, or a predicate. */
export type Include = RegExp | string | ((name: string, t: TensorMeta) => boolean);

/**
 * Not FP8 in DeepSeek-V3's released checkpoint, though 2-D `.weight`s: the embedding, the output head
 * (and the MTP module's shared head), the MoE router (`mlp.gate.weight`, not `gate_proj`), and the MTP
 * `eh_proj` (a plain BF16 Linear in the public MTP loaders). Norms are 1-D, excluded here too by name.
 * Everything else there — attention `*_proj`, dense/shared/routed expert `gate|up|down_proj` — is
 * F8_E4M3 with a `_scale_inv`; DeepSeek's own `fp8_cast_bf16.py` recognizes them the other way round,
 * as 1-byte tensors with a `<name>_scale_inv` companion, which fp8ToBf16 follows.
 */
const KEEP_BF16 = /(^|\.)(embed_tokens|lm_head|shared_head|eh_proj)(\.|$)|norm\.weight$|(^|\.)gate\.weight$/;

export function defaultInclude(name: string, t: TensorMeta): boolean {
  return t.dtype === 'bf16' && t.shape.length === 2 && name.endsWith('.weight') && !KEEP_BF16.test(name);
}

/** The predicate of an `include` option: a name rule still applies only to 2-D bf16/f32 tensors. */
export function includePredicate(include: Include | undefined): (name: string, t: TensorMeta) => boolean {
  if (include === undefined) return defaultInclude;
  if (typeof include === 'function') return include;
  let re: RegExp;
  try {
    re = typeof include === 'string' ? new RegExp(include) : include;
  } catch (e) {
    throw new Fp8kitError('ERR_ARGUMENT', `include: invalid regular expression: ${(e as Error).message}`);
  }
  if (!(re instanceof RegExp)) throw new Fp8kitError('ERR_ARGUMENT', 'include must be a RegExp, a string or a function');
  return (name, t) => (t.dtype === 'bf16' || t.dtype === 'f32') && t.shape.length === 2 && (re.lastIndex = 0, re.test(name));
}
