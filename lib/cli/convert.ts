/** `fp8kit convert <src> <dst> --to bf16|fp8 [--include REGEX] [--progress] [--overwrite]`. */
import { parseArgs } from 'node:util';
import { bf16ToFp8, fp8ToBf16 } from '../checkpoint/convert.js';
import { Fp8kitError } from '../errors.js';

export const CONVERT_USAGE = `  convert <src> <dst> --to bf16|fp8
                       convert a safetensors checkpoint directory (DeepSeek-V3 FP8: W + W_scale_inv, 128×128 blocks)
      --include REGEX  with --to fp8: quantize the 2-D weights whose names match (default: DeepSeek-V3's choice)
      --progress       show progress even when stderr is not a terminal
      --overwrite      write into a destination that exists and is not empty (the API's overwrite; --force too)
`;

export async function runConvert(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args, allowPositionals: true, strict: true,
      options: { to: { type: 'string' }, include: { type: 'string' }, progress: { type: 'boolean' }, overwrite: { type: 'boolean' }, force: { type: 'boolean' } },
    });
  } catch (e) {
    throw new Fp8kitError('ERR_ARGUMENT', `convert: ${(e as Error).message}`);
  }
  const positional = parsed.positionals;
  const { to, include } = parsed.values;
  const progress = parsed.values.progress ? true : undefined;
  const force = parsed.values.overwrite === true || parsed.values.force === true;
  if (positional.length !== 2) throw new Fp8kitError('ERR_ARGUMENT', `convert needs <src> and <dst>; got ${positional.length} path(s)\n\nusage:\n${CONVERT_USAGE}`);
  if (to !== 'bf16' && to !== 'fp8') throw new Fp8kitError('ERR_ARGUMENT', `convert: --to must be bf16 or fp8; got ${to === undefined ? 'nothing' : `'${to}'`}`);
  if (include !== undefined && to !== 'fp8') throw new Fp8kitError('ERR_ARGUMENT', 'convert: --include applies to --to fp8 only');
  const [src, dst] = positional;
  const summary =
    to === 'bf16'
      ? await fp8ToBf16(src, dst, { progress, overwrite: force })
      : await bf16ToFp8(src, dst, { include, progress, overwrite: force });
  for (const w of summary.warnings) process.stderr.write(`fp8kit: warning: ${w}\n`);
  process.stdout.write(`${dst}: ${summary.tensors} tensors in ${summary.shards} shard(s), ${summary.converted} converted to ${to}\n`);
  return 0;
}
