/** `fp8kit bench [name…]`: runs the named microbenchmarks (all by default) and prints a table each. */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { Fp8kitError } from '../errors.js';
import { accumulationStudy, formatStudy, studySvg } from '../bench/accumulation.js';
import { backendOption } from '../backends.js';
import { benchCast, BenchOptions } from '../bench/cast.js';
import { benchDispatch, DISPATCH_DEFAULTS, DISPATCH_USAGE, formatDispatch, parseMoeArgs } from '../bench/dispatch.js';
import { benchDispatchMpi, formatDispatchMpi } from '../bench/dispatch-mpi.js';
import { BenchRow, formatTable, progress } from '../bench/harness.js';
import { benchGemm, formatGemm, GEMM_SHAPES, Shape } from '../bench/gemm.js';
import { benchCastTranspose, benchQuant } from '../bench/quant.js';
import { benchRoute } from '../bench/route.js';
import { reportHtml } from '../bench/report.js';
import { simulate, trafficSvg } from './simulate.js';
import { benchGroupedGemm, formatGrouped, GroupedShape } from '../bench/grouped.js';
import { native } from '../native.js';

const BENCHES: Record<string, (o: BenchOptions) => BenchRow[]> = { cast: benchCast, quant: benchQuant, 'cast-transpose': benchCastTranspose, route: benchRoute };

/** A positive integer option, or the fallback. */
function intOption(v: string | undefined, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new Fp8kitError('ERR_ARGUMENT', `${name} needs a positive integer; got '${v}'`);
  return n;
}

/** --shape MxNxK[,MxNxK…] */
/** --shape MxNxK (gemm) and GxMxNxK (grouped-gemm: experts x rows each x N x K), comma separated; the shapes of `dims` dimensions. */
function shapeOption<T extends number[]>(text: string | undefined, dims: number): T[] | undefined {
  if (text === undefined) return undefined;
  const all = text.split(',').map((s) => {
    const d = s.split('x').map(Number);
    if (d.length < 2 || d.length > 4 || !d.every((x) => Number.isSafeInteger(x) && x >= 1))
      throw new Fp8kitError('ERR_ARGUMENT', `--shape takes MxK (quant, cast-transpose), TxE (route), MxNxK (gemm) or GxMxNxK (grouped-gemm) with positive integers, comma separated; got '${text}'`);
    return d;
  });
  const mine = all.filter((d) => d.length === dims) as T[];
  return mine.length ? mine : undefined;
}

/** `fp8kit bench dispatch [options]`: asynchronous (Cluster's calls are), so it runs on its own. */
async function runDispatch(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`usage: fp8kit bench dispatch [options]\n\n${DISPATCH_USAGE}`);
    return 0;
  }
  let transport = 'sim', nodeOf: string | undefined;
  const o = parseMoeArgs(args, 'bench dispatch', DISPATCH_DEFAULTS, {
    '--transport': (v) => {
      if (v !== 'sim' && v !== 'mpi') throw new Fp8kitError('ERR_ARGUMENT', `bench dispatch: --transport must be sim or mpi; got '${v}'`);
      transport = v;
    },
    '--node-of': (v) => (nodeOf = v),
  });
  if (transport === 'mpi') {
    const m = await benchDispatchMpi(o, nodeOf);
    if (m) process.stdout.write(args.includes('--json') ? JSON.stringify(m, null, 2) + '\n' : formatDispatchMpi(m));
    return 0;
  }
  const r = await benchDispatch(o);
  process.stdout.write(args.includes('--json') ? JSON.stringify(r, null, 2) + '\n' : formatDispatch(r));
  return 0;
}

export function runBench(args: string[]): number | Promise<number> {
  if (args[0] === 'dispatch') return runDispatch(args.slice(1));
  let parsed;
  try {
    parsed = parseArgs({
      args, allowPositionals: true, strict: true,
      options: { n: { type: 'string' }, reps: { type: 'string' }, backend: { type: 'string' }, json: { type: 'boolean' }, plot: { type: 'string' }, shape: { type: 'string' }, 'no-peers': { type: 'boolean' }, report: { type: 'string' } },
    });
  } catch (e) {
    throw new Fp8kitError('ERR_ARGUMENT', `bench: ${(e as Error).message}`);
  }
  const v = parsed.values, json = v.json === true;
  const opts: BenchOptions = {
    n: intOption(v.n, '--n', 64 * 1024 * 1024),
    reps: intOption(v.reps, '--reps', 7),
    backend: backendOption(v.backend, 'bench'),
    shapes: shapeOption<[number, number]>(v.shape, 2),
  };
  const names = parsed.positionals;
  const known = [...Object.keys(BENCHES), 'accumulation', 'gemm', 'grouped-gemm'];
  if (names.includes('dispatch')) throw new Fp8kitError('ERR_ARGUMENT', "'bench dispatch' runs on its own: put it first, with its own options (see fp8kit bench dispatch --help)");
  for (const n of names) if (!known.includes(n)) throw new Fp8kitError('ERR_ARGUMENT', `unknown benchmark '${n}' (have: ${known.join(', ')})`);
  const results: Record<string, unknown> = {};
  const plan = names.length ? names : Object.keys(BENCHES);
  let step = 0;
  const next = (name: string) => progress(++step, plan.length + 1, `${name}…`);
  if (names.includes('accumulation')) {
    next('accumulation');
    const rows = accumulationStudy(opts.backend);
    results.accumulation = rows;
    if (!json) process.stdout.write(formatStudy(rows) + '\n');
    if (v.plot !== undefined) {
      if (!v.plot) throw new Fp8kitError('ERR_ARGUMENT', '--plot needs a file name (an .svg)');
      writeFileSync(v.plot, studySvg(rows));
    }
  }
  if (names.includes('gemm')) {
    next('gemm');
    const rows = benchGemm({ reps: opts.reps, backend: opts.backend, shapes: shapeOption<Shape>(v.shape, 3) ?? GEMM_SHAPES, peers: v['no-peers'] !== true });
    results.gemm = rows;
    if (!json) process.stdout.write(formatGemm(rows, `gemm: backend ${opts.backend}, 1D2D e4m3, bf16 out, median of up to ${opts.reps}`) + '\n');
  }
  if (names.includes('grouped-gemm')) {
    next('grouped-gemm');
    const rows = benchGroupedGemm({ reps: opts.reps, backend: opts.backend, shapes: shapeOption<GroupedShape>(v.shape, 4), peers: v['no-peers'] !== true });
    results['grouped-gemm'] = rows;
    if (!json) process.stdout.write(formatGrouped(rows, `grouped-gemm: backend ${opts.backend}, 1D2D e4m3, bf16 out, weights packed, median of ${opts.reps}`) + '\n');
  }
  for (const name of plan.filter((n) => n !== 'accumulation' && n !== 'gemm' && n !== 'grouped-gemm')) {
    next(name);
    const rows = BENCHES[name](opts);
    results[name] = rows;
    if (!json)
      process.stdout.write(
        formatTable(`${name}: backend ${opts.backend} (SIMD ${native().cpuSimd().name})${name === 'cast' ? `, n = ${opts.n}` : ''}, median of ${name === 'route' ? 50 * opts.reps : opts.reps}`, rows) + '\n',
      );
  }
  progress(plan.length + 1, plan.length + 1, 'done');
  if (json) process.stdout.write(JSON.stringify({ options: opts, results }, null, 2) + '\n');
  if (v.report !== undefined) return writeReport(v.report, opts.backend, results);
  return 0;
}

/** The HTML report, with the traffic heat map of a small simulated dispatch + combine (2 x 4 ranks). */
async function writeReport(file: string, backend: string, results: Record<string, unknown>): Promise<number> {
  if (!file) throw new Fp8kitError('ERR_ARGUMENT', '--report needs a file name (an .html)');
  const shape = { ...DISPATCH_DEFAULTS, nodes: 2, gpus: 4, tokens: 128, hidden: 1024, experts: 64 };
  const sim = await simulate(shape);
  writeFileSync(file, reportHtml({ backend, results, trafficSvg: trafficSvg(sim), trafficTitle: `one dispatch + combine, 2 x 4 ranks, 128 tokens per rank, hidden 1024, top-8 of 64 experts (sim transport): bytes per link` }));
  process.stderr.write(`fp8kit bench: report written to ${file}\n`);
  return 0;
}
