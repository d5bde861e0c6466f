/**
 * `fp8kit check`: every operation of a backend against ref. It passes on cpu and cuda-emu, names what a
 * backend does not offer, replays by seed, and fails (exit 1) when a backend is wrong: cuda-emu with its
 * hardware-like MMA (FP8KIT_EMU_MMA=limited) misses the bar an f32-accumulating backend must meet.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';

import { availableBackends, seed } from './helpers.js';

const cli = path.join(__dirname, '..', 'dist', 'cli', 'main.js');
const OPS = ['castToFp8', 'castFromFp8', 'quantize', 'dequantize', 'castTranspose', 'gemm', 'packWeights', 'groupedGemmContiguous', 'groupedGemmMasked', 'route', 'dispatchLayout', 'dispatch/combine'];

interface Summary {
  backend: string;
  seed: number;
  passed: number;
  failed: number;
  notOffered: number;
  rows: { op: string; case: string; result: string; bar: string; detail: string }[];
}

function check(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [cli, 'check', ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 300_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, json: args.includes('--json') && r.stdout.trim().startsWith('{') ? (JSON.parse(r.stdout) as Summary) : undefined };
}

describe('fp8kit check', () => {
  test('cpu: every operation passes against ref, the seed replays', () => {
    const s = seed('check cpu');
    const r = check(['--backend', 'cpu', '--quick', '--seed', String(s), '--json']);
    expect(r.status, r.stderr).toBe(0);
    const j = r.json!;
    expect(j.seed).toBe(s);
    expect([...new Set(j.rows.map((x) => x.op))]).toEqual(OPS);
    expect(j.rows.filter((x) => x.result !== 'pass').map((x) => `${x.op} ${x.case}: ${x.detail}`)).toEqual([]);
    expect(j.passed).toBeGreaterThan(80);
    // the same seed, the same rows
    const again = check(['--backend', 'cpu', '--quick', '--seed', String(s), '--json']).json!;
    expect(again.rows.map((x) => [x.op, x.case, x.result, x.detail])).toEqual(j.rows.map((x) => [x.op, x.case, x.result, x.detail]));
  }, 300_000);

  test.skipIf(!availableBackends().includes('cuda-emu'))('cuda-emu: passes; the accumulation modes it does not offer are n/a, not passes', () => {
    const r = check(['--backend', 'cuda-emu', '--quick', '--seed', String(seed('check cuda-emu')), '--json']);
    expect(r.status, r.stdout.slice(0, 2000)).toBe(0);
    const j = r.json!;
    expect(j.failed).toBe(0);
    const na = j.rows.filter((x) => x.result === 'n/a');
    expect(na.length).toBe(j.notOffered);
    expect(new Set(na.map((x) => x.case.split(' ').pop()))).toEqual(new Set(['exact', 'limited', 'f32']));  // GEMM modes; column-tile dequantize
  }, 300_000);

  test.skipIf(!availableBackends().includes('cuda-emu'))('a backend that misses a bar fails, exit 1: cuda-emu with the hardware-like MMA against the f32 bar', () => {
    const r = check(['--backend', 'cuda-emu', '--quick', '--seed', String(seed('check planted')), '--json'], { FP8KIT_EMU_MMA: 'limited' });
    expect(r.status).toBe(1);
    const failed = r.json!.rows.filter((x) => x.result === 'fail');
    expect(failed.length).toBeGreaterThan(0);
    for (const f of failed) {
      expect(f.op).toMatch(/^(gemm|groupedGemmContiguous|groupedGemmMasked)$/);
      expect(f.detail).toMatch(/^calcDiff \d/);
    }
  }, 300_000);

  test('the table, the summary line, and bad usage', () => {
    const r = check(['--backend', 'ref', '--quick', '--seed', '7']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^fp8kit check: backend ref against ref, seed 7, quick$/m);
    expect(r.stdout).toMatch(/^ok +castToFp8 +f32 -> e4m3, saturate +bits +equal/m);
    expect(r.stdout).toMatch(/^\d+ passed, 0 failed, 0 not offered by ref; replay: fp8kit check --backend ref --seed 7 --quick$/m);
    const bad = check(['--nosuch']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/^fp8kit: ERR_ARGUMENT: check: Unknown option '--nosuch'/);
    const nob = check(['--backend', 'nosuch']);
    expect(nob.status).toBe(1);
    expect(nob.stderr).toBe("fp8kit: ERR_ARGUMENT: check: no backend 'nosuch' (have: ref, cpu, cuda-emu, cuda)\n");  // one line
    expect(check(['--backend', 'nosuch', '--verbose']).stderr).toMatch(/^fp8kit: ERR_ARGUMENT: check: no backend 'nosuch'.*\nFp8kitError: .*\n +at checkableBackend .*\n +at runCheck /);  // and its stack
  }, 300_000);
});
