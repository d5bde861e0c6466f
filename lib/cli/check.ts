/** `fp8kit check [--backend B] [--seed S] [--quick] [--json]`: lib/check/cases.ts as a table; exit 1 on any failure. */
import { parseArgs } from 'node:util';

import { checkableBackend, CheckRow, runChecks, runClusterChecks } from '../check/cases.js';
import { Fp8kitError } from '../errors.js';

export const CHECK_USAGE = `  check                every operation of a backend against ref on seeded random inputs: bit for bit
                       where SPEC says so, calcDiff against SPEC's bars otherwise; exit status 1 on a failure
      --backend B      the backend to check (default cpu; cuda on a GPU machine, cuda-emu)
      --seed S         replay a run (default: a fresh seed, printed)
      --quick          small shapes (seconds)
      --json           print {backend, seed, rows, passed, failed, notOffered} as JSON
`;

export async function runCheck(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { backend: { type: 'string' }, seed: { type: 'string' }, quick: { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, strict: true });
  } catch (e) {
    throw new Fp8kitError('ERR_ARGUMENT', `check: ${(e as Error).message}`);
  }
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(`usage: fp8kit check [options]\n\n${CHECK_USAGE}`);
    return 0;
  }
  const seed = v.seed === undefined ? (Math.random() * 2 ** 32) >>> 0 : Number(v.seed);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Fp8kitError('ERR_ARGUMENT', `check: --seed needs a non-negative integer; got '${v.seed}'`);
  const o = { backend: v.backend ?? 'cpu', seed, quick: v.quick === true };
  checkableBackend(o.backend);  // before the header line
  const json = v.json === true;
  const line = (r: CheckRow) => `${(r.result === 'pass' ? 'ok' : r.result === 'fail' ? 'FAIL' : 'n/a').padEnd(5)} ${r.op.padEnd(22)} ${r.case.padEnd(52)} ${r.bar.padEnd(22)} ${r.detail} (${r.ms} ms)`;
  if (!json) process.stdout.write(`fp8kit check: backend ${o.backend} against ref, seed ${seed}${o.quick ? ', quick' : ''}\n`);
  const show = json ? undefined : (r: CheckRow) => process.stdout.write(line(r) + '\n');
  const rows = [...runChecks(o, show), ...(await runClusterChecks(o, show))];
  const count = (x: CheckRow['result']) => rows.filter((r) => r.result === x).length;
  const summary = { backend: o.backend, seed, quick: o.quick, passed: count('pass'), failed: count('fail'), notOffered: count('n/a'), rows };
  if (json) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
  else process.stdout.write(`${summary.passed} passed, ${summary.failed} failed, ${summary.notOffered} not offered by ${o.backend}; replay: fp8kit check --backend ${o.backend} --seed ${seed}${o.quick ? ' --quick' : ''}\n`);
  return summary.failed ? 1 : 0;
}
