/** `fp8kit bench [name…]`: runs the named microbenchmarks (all by default) and prints a table each. */
import { Fp8kitError } from '../errors.js';
import { backendOption } from '../backends.js';
import { benchCast, BenchOptions } from '../bench/cast.js';
import { BenchRow, formatTable } from '../bench/harness.js';
import { benchCastTranspose, benchQuant } from '../bench/quant.js';
import { native } from '../native.js';

const BENCHES: Record<string, (o: BenchOptions) => BenchRow[]> = { cast: benchCast, quant: benchQuant, 'cast-transpose': benchCastTranspose };

function intFlag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isSafeInteger(v) || v < 1) throw new Fp8kitError('ERR_ARGUMENT', `${name} needs a positive integer; got '${args[i + 1]}'`);
  return v;
}

export function runBench(args: string[]): number {
  const bi = args.indexOf('--backend');
  const opts: BenchOptions = {
    n: intFlag(args, '--n', 64 * 1024 * 1024),
    reps: intFlag(args, '--reps', 7),
    backend: backendOption(bi >= 0 ? args[bi + 1] : undefined, 'bench'),
  };
  const valued = new Set(['--n', '--reps', '--backend']);
  const names = args.filter((a, i) => !a.startsWith('--') && !valued.has(args[i - 1]));
  for (const n of names) if (!BENCHES[n]) throw new Fp8kitError('ERR_ARGUMENT', `unknown benchmark '${n}' (have: ${Object.keys(BENCHES).join(', ')})`);
  const results: Record<string, BenchRow[]> = {};
  for (const name of names.length ? names : Object.keys(BENCHES)) {
    results[name] = BENCHES[name](opts);
    if (!args.includes('--json'))
      process.stdout.write(
        formatTable(`${name}: backend ${opts.backend} (SIMD ${native().cpuSimd().name})${name === 'cast' ? `, n = ${opts.n}` : ''}, median of ${opts.reps}`, results[name]) + '\n',
      );
  }
  if (args.includes('--json')) process.stdout.write(JSON.stringify({ options: opts, results }, null, 2) + '\n');
  return 0;
}
