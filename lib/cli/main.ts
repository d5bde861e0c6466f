#!/usr/bin/env node
/** The fp8kit command: `fp8kit info`, `fp8kit check`, `fp8kit bench [name…]`, `fp8kit bench dispatch`, `fp8kit simulate`, `fp8kit convert`. */
import { Fp8kitError } from '../errors.js';
import { DISPATCH_USAGE } from '../bench/dispatch.js';
import { runBench } from './bench.js';
import { CHECK_USAGE, runCheck } from './check.js';
import { CONVERT_USAGE, runConvert } from './convert.js';
import { runInfo } from './info.js';
import { runSimulate, SIMULATE_USAGE } from './simulate.js';
import { version } from '../version.js';

const INFO_USAGE = `  info                 version, backends (and why one is unavailable), SIMD path, CUDA toolkit/driver/device, MPI
      --json           print it as JSON
`;

const BENCH_USAGE = `  bench [name…]        microbenchmarks next to a memory copy of the same bytes; names: cast, quant, cast-transpose, route, gemm, grouped-gemm, accumulation (default: cast, quant, cast-transpose, route)
      --n N            elements per case of cast (default 67108864 = 64 Mi)
      --reps R         timed repetitions; medians are reported (default 7)
      --backend B      backend to measure (default cpu)
      --shape S        instead of DeepSeek-V3's, comma separated, each to the benchmarks of its rank: MxK (quant, cast-transpose), TxE (route: tokens x experts), MxNxK (gemm), GxMxNxK (grouped-gemm: experts x rows per expert x N x K)
      --no-peers       gemm, grouped-gemm: leave out oneDNN and OpenBLAS
      --json           print the results as JSON
      --report FILE    also write them as one self-contained HTML page (tables, charts, a traffic heat map)
`;

/** Each command's usage, for `fp8kit help <command>` and `fp8kit <command> --help`. */
const COMMANDS: Record<string, string> = {
  info: INFO_USAGE,
  check: CHECK_USAGE,
  bench: BENCH_USAGE + DISPATCH_USAGE,
  simulate: SIMULATE_USAGE,
  convert: CONVERT_USAGE,
};

const USAGE = `usage: fp8kit <command> [options]   (fp8kit help <command>, fp8kit --version)

commands:
${INFO_USAGE}${CHECK_USAGE}${BENCH_USAGE}${DISPATCH_USAGE}${SIMULATE_USAGE}${CONVERT_USAGE}
exit status: 0 success, 1 a failure (a check that failed, or an error: one line on stderr; --verbose adds its stack), 2 bad usage
`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === '--version' || cmd === '-v' || cmd === 'version') {
    process.stdout.write(`${version}\n`);
    return 0;
  }
  if (cmd === 'help' && rest[0] !== undefined) {
    if (!(rest[0] in COMMANDS)) {
      process.stderr.write(`fp8kit: no command '${rest[0]}' (have: ${Object.keys(COMMANDS).join(', ')})\n`);
      return 2;
    }
    process.stdout.write(`usage: fp8kit ${rest[0]} [options]\n\n${COMMANDS[rest[0]]}`);
    return 0;
  }
  if (cmd !== undefined && cmd in COMMANDS && (rest.includes('--help') || rest.includes('-h'))) {
    process.stdout.write(`usage: fp8kit ${cmd} [options]\n\n${COMMANDS[cmd]}`);
    return 0;
  }
  if (cmd === 'info') return runInfo(rest);
  if (cmd === 'bench') return runBench(rest);
  if (cmd === 'check') return runCheck(rest);
  if (cmd === 'convert') return runConvert(rest);
  if (cmd === 'simulate') return runSimulate(rest);
  if (cmd === undefined || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    process.stdout.write(USAGE);
    return cmd === undefined ? 2 : 0;
  }
  process.stderr.write(`fp8kit: unknown command '${cmd}'\n\n${USAGE}`);
  return 2;
}

// --verbose (anywhere): an error's stack as well as its one line.
const verbose = process.argv.includes('--verbose');
main(process.argv.slice(2).filter((a) => a !== '--verbose')).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    const err = e instanceof Error ? e : new Error(String(e));
    const code = e instanceof Fp8kitError ? e.code : 'ERR_INTERNAL';
    process.stderr.write(`fp8kit: ${code}: ${err.message}\n${verbose && err.stack ? `${err.stack}\n` : ''}`);
    process.exitCode = 1;
  },
);
