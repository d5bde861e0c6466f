/**
 * SPEC §8's mpi transport under mpirun (test/mpi/worker.cjs is one rank): every rank's dispatch results
 * (FP8 and bf16 payloads, the expanded layout) and combines (received rows; expanded rows with weights)
 * equal the sim transport's on the same global inputs bit for bit, with the same stats, as 2 × 2, 2 × 4
 * and 4 × 2 ranks on this one host; and the faults — a rank passing another hidden size, a rank killed
 * mid-dispatch, a rank that never calls — end in an Fp8kitError on every surviving rank within the
 * timeout, never a hang or a crash.
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';

import { compileExamples, fp8, seed } from './helpers.js';

const worker = path.join(__dirname, 'mpi', 'worker.cjs');
const hasMpirun = spawnSync('mpirun', ['--version'], { stdio: 'ignore' }).status === 0;
const status = fp8.mpiStatus();
if (!hasMpirun || !status.available) console.log(`mpi transport tests skipped: ${hasMpirun ? status.reason : 'mpirun not found (Debian: apt-get install openmpi-bin libopenmpi-dev)'}`);

interface Line {
  world: number;
  rank?: number;
  diffs?: string[];
  statsEqual?: boolean;
  error?: { code: string; message: string } | string | null;
  ms: number;
}

/** mpirun -np nodes·gpus of the worker; its JSON lines, by world rank. */
function run(kase: string, nodes: number, gpus: number, s: number, timeoutMs = 20000): { lines: Line[]; status: number | null; stderr: string; wallMs: number } {
  const t0 = Date.now();
  const r = spawnSync('mpirun', ['--allow-run-as-root', '--oversubscribe', '--enable-recovery', '-x', `WORKER_TIMEOUT_MS=${timeoutMs}`, '-np', String(nodes * gpus), process.execPath, worker, kase, String(nodes), String(gpus), String(s)], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line).sort((a, b) => a.world - b.world);
  return { lines, status: r.status, stderr: r.stderr, wallMs: Date.now() - t0 };
}

describe.skipIf(!hasMpirun || !status.available)('the mpi transport under mpirun', () => {
  for (const [nodes, gpus] of [[2, 2], [2, 4], [4, 2]])
    test(`${nodes} nodes x ${gpus} ranks: dispatch (fp8, bf16, expanded) and combine (tokens, weighted expanded) equal sim bit for bit, stats too`, () => {
      const s = seed(`mpi ${nodes}x${gpus}`);
      const { lines, status: code, stderr } = run('match', nodes, gpus, s);
      expect(lines.map((l) => l.world), stderr).toEqual(Array.from({ length: nodes * gpus }, (_, i) => i));
      for (const l of lines) {
        expect(l.error, `world rank ${l.world}`).toBeUndefined();
        expect(l.diffs, `rank ${l.rank}`).toEqual([]);
        expect(l.statsEqual, `rank ${l.rank}'s stats()`).toBe(true);
      }
      expect(lines.map((l) => l.rank).sort((a, b) => a! - b!)).toEqual(lines.map((l) => l.world));
      expect(code).toBe(0);
    }, 120_000);

  test('a rank passing another hidden size: every rank fails with the same ERR_SHAPE, before any payload moves', () => {
    const { lines } = run('shape', 2, 2, seed('mpi shape'));
    expect(lines).toHaveLength(4);
    for (const l of lines) expect(l.error).toEqual({ code: 'ERR_SHAPE', message: 'Cluster.dispatch: rank 1 passes a hidden size (x columns) of 640, rank 0 320' });
  }, 120_000);

  for (const kase of ['kill', 'silent'])
    test(`${kase === 'kill' ? 'a rank killed mid-dispatch' : 'a rank that never calls'}: the survivors end in ERR_TRANSPORT within the timeout, naming whom they waited for`, () => {
      const timeoutMs = 2000;
      const { lines, wallMs } = run(kase, 2, 2, seed(`mpi ${kase}`), timeoutMs);
      const survivors = lines.filter((l) => l.rank !== 3);
      expect(survivors.map((l) => l.world)).toEqual([0, 1, 2]);
      for (const l of survivors) {
        const e = l.error as { code: string; message: string };
        expect(e.code, JSON.stringify(l)).toBe('ERR_TRANSPORT');
        expect(e.message).toMatch(/timed out after 2\.0 s waiting for rank\(s\) \d/);
        // one timed-out exchange, or two in a row (a rank waiting for one that waits for the dead one)
        expect(l.ms).toBeLessThan(2 * timeoutMs + 3000);
      }
      if (kase === 'kill') expect(lines.some((l) => l.rank === 3)).toBe(false);
      console.log(`[mpi ${kase}] survivors ${survivors.map((l) => `${l.rank}: ${l.ms} ms`).join(', ')}; mpirun ${wallMs} ms`);
    }, 120_000);
});

describe('the mpi transport where it cannot run', () => {
  test('outside mpirun, connect() refuses with the reason; the options belong to mpi only', async () => {
    if (!status.available) {
      expect(() => new fp8.Cluster({ nodes: 1, gpusPerNode: 2 }, { transport: 'mpi', numExperts: 4 })).toThrow(/mpi transport is unavailable here/);
      return;
    }
    const saved = { ...process.env };
    for (const k of Object.keys(process.env)) if (/^(OMPI_|PMIX_|PMI_)/.test(k)) delete process.env[k];
    try {
      const c = new fp8.Cluster({ nodes: 1, gpusPerNode: 2 }, { transport: 'mpi', numExperts: 4 });
      await expect(c.connect()).rejects.toMatchObject({ code: 'ERR_ARGUMENT', message: expect.stringMatching(/not started by mpirun/) });
    } finally {
      Object.assign(process.env, saved);
    }
    expect(() => new fp8.Cluster({ nodes: 1, gpusPerNode: 2 }, { numExperts: 4, timeoutMs: 5 })).toThrow(/belong to the mpi transport/);
    expect(() => new fp8.Cluster({ nodes: 1, gpusPerNode: 2 }, { transport: 'mpi', numExperts: 4, nodeOf: 3 })).toThrow(/nodeOf/);
  });

  test('without its library the transport is unavailable, saying why (a process with FP8KIT_MPI_LIBRARY pointing nowhere)', () => {
    const r = spawnSync(process.execPath, ['-e', `const f = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'index.js'))}); console.log(JSON.stringify(f.mpiStatus())); try { new f.Cluster({ nodes: 1, gpusPerNode: 1 }, { transport: 'mpi', numExperts: 1 }); } catch (e) { console.log(e.code + ': ' + e.message); }`], {
      encoding: 'utf8', env: { ...process.env, FP8KIT_MPI_LIBRARY: '/nonexistent/libfp8kit_mpi.so' },
    });
    const [first, second] = r.stdout.trim().split('\n');
    const s = JSON.parse(first);
    expect(s.available).toBe(false);
    expect(s.reason).toMatch(/libfp8kit_mpi\.so is not built \(looked for \/nonexistent\/libfp8kit_mpi\.so\)|no MPI library/);
    expect(second).toMatch(/^ERR_BACKEND_UNAVAILABLE: Cluster: the mpi transport is unavailable here: /);
  });
});

describe.skipIf(!hasMpirun || !status.available)('fp8kit bench dispatch --transport mpi', () => {
  test('under mpirun: rank 0 prints mpi next to sim on the same shape, the traffic and model time identical', () => {
    const cli = path.join(__dirname, '..', 'dist', 'cli', 'main.js');
    const r = spawnSync('mpirun', ['--allow-run-as-root', '--oversubscribe', '-np', '4', process.execPath, cli, 'bench', 'dispatch', '--transport', 'mpi', '--node-of', 'block',
      '--nodes', '2', '--gpus', '2', '--tokens', '64', '--hidden', '512', '--experts', '32', '--reps', '2', '--json'], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);  // rank 0's only: the others print nothing
    expect(out.ranks).toBe(4);
    expect(out.sameTraffic).toBe(true);
    expect(out.mpi.payloadBytes).toBe(out.sim.payloadBytes);
    expect(out.mpi.modelSeconds).toBe(out.sim.modelSeconds);
    for (const x of [out.mpi, out.sim]) for (const v of [x.dispatchS, x.combineS, x.gbps]) expect(v).toBeGreaterThan(0);
    console.log(`[bench dispatch mpi] 2 x 2, 64 tokens, hidden 512: mpi ${out.mpi.gbps.toFixed(2)} GB/s, sim ${out.sim.gbps.toFixed(2)} GB/s (${(100 * out.ofSim).toFixed(0)}%)`);
  }, 120_000);
});

describe.skipIf(!hasMpirun || !status.available)('examples/moe-mpi.ts', () => {
  test('compiles against the shipped types and runs under mpirun -np 4: every rank routes, dispatches, multiplies and combines', () => {
    const out = compileExamples();
    try {
      const r = spawnSync('mpirun', ['--allow-run-as-root', '--oversubscribe', '-np', '4', process.execPath, path.join(out, 'moe-mpi.js')], { encoding: 'utf8', timeout: 120_000 });
      expect(r.status, r.stderr).toBe(0);
      const ranks = [...r.stdout.matchAll(/^rank (\d): received (\d+) tokens \((\d+) expert rows\), output \[256, 512\]$/gm)];
      expect(ranks.map((m) => Number(m[1])).sort()).toEqual([0, 1, 2, 3]);
      for (const m of ranks) expect(Number(m[2])).toBeGreaterThan(0);
      expect(r.stdout).toMatch(/^cluster: IB [\d.]+ MB \(flat all-to-all [\d.]+ MB\), NVLink [\d.]+ MB, model [\d.]+ µs$/m);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 180_000);
});
