/**
 * What a server does around the calls: worker pools that terminate workers with calls in flight,
 * workers that exit, and buffers that move (transferred, detached) while a Promise call runs. Each
 * runs in a child process (test/lifecycle/*.cjs), so that a crash fails the test instead of the runner.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';

import { availableBackends, seed } from './helpers.js';

const dir = path.join(__dirname, 'lifecycle');

function run(script: string, args: string[], nodeArgs: string[] = [], env: Record<string, string> = {}): { status: number | null; signal: string | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [...nodeArgs, path.join(dir, script), ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 300_000,
  });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

describe('workers that stop at any time', () => {
  test('50 workers terminated with 8 calls in flight each (ref, cpu, cuda-emu) leave the parent running', () => {
    const r = run('terminate.cjs', ['terminate', '50']);
    expect(r.stderr).not.toMatch(/terminate called|Aborted|Segmentation/);
    expect({ status: r.status, signal: r.signal }).toEqual({ status: 0, signal: null });
    expect(r.stdout).toContain('survived 50');
  });

  test('50 workers that call process.exit(3) with 8 calls in flight leave the parent running', () => {
    const r = run('terminate.cjs', ['exit', '50']);
    expect(r.stderr).not.toMatch(/terminate called|Aborted|Segmentation/);
    expect({ status: r.status, signal: r.signal }).toEqual({ status: 0, signal: null });
    expect(r.stdout).toContain('survived 50');
  });

  for (const pool of ['default', '0'])
    test(`workers that allocate, keep their results and exit leave nothing behind (pool ${pool})`, () => {
      // Each worker holds about 140 MiB of outputs and device memory when it exits.
      const r = run('allocate.cjs', ['16'], [], pool === '0' ? { FP8KIT_POOL_MB: '0' } : {});
      expect(r.status, r.stderr).toBe(0);
      const { first, last } = JSON.parse(r.stdout) as { first: number; last: number };
      console.log(`[allocate pool ${pool}] parent RSS after 4 workers ${(first / 2 ** 20).toFixed(0)} MiB, after 16 ${(last / 2 ** 20).toFixed(0)} MiB`);
      expect(last - first).toBeLessThan(64 * 2 ** 20);
    });
});

describe('buffers that move while a Promise call runs', () => {
  for (const backend of availableBackends().filter((b) => b !== 'cuda'))
    test(`${backend}: 50 rounds of detach and transfer followed by gc() end as documented`, () => {
      const r = run('detach.cjs', [backend, '50', String(seed(`detach ${backend}`))], ['--expose-gc']);
      expect({ status: r.status, signal: r.signal }, r.stderr).toEqual({ status: 0, signal: null });
      const o = JSON.parse(r.stdout) as Record<string, { other: string[] } & Record<string, number | string[]>>;
      // An input is read from the snapshot taken when the call was made: the result is the original data's.
      expect(o.input).toEqual({ equal: 50, other: [] });
      expect(o.worker).toEqual({ equal: 10, other: [] });
      // A caller's `into` detached meanwhile: the call fails with ERR_ARGUMENT and writes nothing.
      expect(o.into).toEqual({ rejected: 50, other: [] });
      // fp8kit's own output cannot be detached (Node copies it instead), so it is written in place.
      expect(o.owned).toEqual({ equal: 50, other: [] });
    });
});
