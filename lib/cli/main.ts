#!/usr/bin/env node
/** The fp8kit command: `fp8kit info`, `fp8kit bench [name…]`, `fp8kit bench dispatch`, `fp8kit simulate`, `fp8kit convert`. */
import { Fp8kitError } from '../errors.js';
import { DISPATCH_USAGE } from '../bench/dispatch.js';
import { runBench } from './bench.js';
import { CONVERT_USAGE, runConvert } from './convert.js';
import { runInfo } from './info.js';
import { runSimulate, SIMULATE_USAGE } from './simulate.js';

const USAGE = `usage: fp8kit <command> [options]

commands:
  info                 version, backends (and why one is unavailable), SIMD path, CUDA toolkit/driver/device
  bench [name…]        microbenchmarks next to a memory copy of the same bytes; names: cast, quant, cast-transpose, route, gemm, accumulation (default: cast, quant, cast-transpose, route)
      --n N            elements per case of cast (default 67108864 = 64 Mi)
      --reps R         timed repetitions; medians are reported (default 7)
      --backend B      backend to measure (default cpu)
      --json           print the results as JSON
${DISPATCH_USAGE}${SIMULATE_USAGE}${CONVERT_USAGE}`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === 'info') return runInfo(rest);
  if (cmd === 'bench') return runBench(rest);
  if (cmd === 'convert') return runConvert(rest);
  if (cmd === 'simulate') return runSimulate(rest);
  if (cmd === undefined || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    process.stdout.write(USAGE);
    return cmd === undefined ? 1 : 0;
  }
  process.stderr.write(`fp8kit: unknown command '${cmd}'\n\n${USAGE}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    if (!(e instanceof Fp8kitError)) throw e;
    process.stderr.write(`fp8kit: ${e.code}: ${e.message}\n`);
    process.exitCode = 1;
  },
);
