import { describe, expect, test } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { fp8 } from './helpers.js';
import { uniforms } from '../dist/bench/harness.js';

const root = path.join(__dirname, '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');

// A small cluster: 2 nodes x 2 ranks, 16 experts in 4 groups (one group per rank), 2 groups kept, top-4.
const shape = { nodes: 2, gpus: 2, tokens: 64, hidden: 256, experts: 16, groups: 4, topkGroups: 2, topk: 4, seed: 3 };
const flags = ['--nodes', '2', '--gpus', '2', '--tokens', '64', '--hidden', '256', '--experts', '16', '--groups', '4', '--topk-groups', '2', '--topk', '4', '--seed', '3'];

/** The routing the commands use, restated: seeded normal logits per rank, a seeded bias, DeepSeek-V3's gate. */
function routing(): fp8.Routing[] {
  const u = uniforms(0x5eed ^ shape.seed);
  const bias = fp8.tensor('f32', [shape.experts], Float32Array.from({ length: shape.experts }, () => 0.1 * (u() - 0.5)));
  return Array.from({ length: shape.nodes * shape.gpus }, (_, r) => {
    const next = uniforms((shape.seed * 7919 + r * 104729 + 1) >>> 0);
    const logits = Float32Array.from({ length: shape.tokens * shape.experts }, () => Math.sqrt(-2 * Math.log(next())) * Math.cos(2 * Math.PI * next()));
    return fp8.routeSync(fp8.tensor('f32', [shape.tokens, shape.experts], logits), { topk: shape.topk, groups: shape.groups, topkGroups: shape.topkGroups, routeScale: 2.5, bias });
  });
}

/** SPEC §8's two-hop path counted from the routing and the topology alone: rows over IB and NVLink, and flat. */
function expectedRows(routes: fp8.Routing[]) {
  const G = shape.gpus, perRank = shape.experts / (shape.nodes * G);
  let ib = 0, nvl = 0, flatIb = 0, flatNvl = 0, ranksReached = 0, nodesReached = 0;
  routes.forEach(({ topkIdx }, s) => {
    const home = Math.floor(s / G);
    for (let t = 0; t < shape.tokens; t++) {
      const ranks = new Set<number>();
      for (let j = 0; j < shape.topk; j++) ranks.add(Math.floor(topkIdx.data[t * shape.topk + j] / perRank));
      const nodes = new Set([...ranks].map((r) => Math.floor(r / G)));
      ib += [...nodes].filter((b) => b !== home).length;
      ranksReached += ranks.size, nodesReached += nodes.size;
      for (const r of ranks) {
        const node = Math.floor(r / G);
        const from = node === home ? s : node * G + (s % G);  // the source itself, or the forwarder of its rail
        if (from !== r) nvl++;
        if (r !== s) node === home ? flatNvl++ : flatIb++;
      }
    }
  });
  const tokens = routes.length * shape.tokens;
  return { ib, nvl, flatIb, flatNvl, ranksPerToken: ranksReached / tokens, nodesPerToken: nodesReached / tokens };
}

function run(args: string[]): string {
  return execFileSync(process.execPath, [cli, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('fp8kit bench dispatch', () => {
  test('times dispatch and combine next to a copy; its traffic is the two-hop path counted independently', () => {
    const out = JSON.parse(run(['bench', 'dispatch', ...flags, '--reps', '2', '--json']));
    const rows = expectedRows(routing());
    const fp8Row = shape.hidden + 4 * Math.ceil(shape.hidden / 128), bf16Row = 2 * shape.hidden;
    expect(rows.ib).toBeGreaterThan(0);
    expect(out.dispatch.ibBytes).toBe(rows.ib * fp8Row);
    expect(out.dispatch.nvlBytes).toBe(rows.nvl * fp8Row);
    expect(out.dispatch.flatIbBytes).toBe(rows.flatIb * fp8Row);
    expect(out.dispatch.flatNvlBytes).toBe(rows.flatNvl * fp8Row);
    expect(out.combine.ibBytes).toBe(rows.ib * bf16Row);
    expect(out.dispatch.ibOverFlat).toBeCloseTo(rows.ib / rows.flatIb, 12);
    for (const op of ['dispatch', 'combine', 'both']) {
      const x = out[op];
      expect(x.medianS, op).toBeGreaterThan(0);
      expect(x.minS).toBeLessThanOrEqual(x.medianS);
      expect(x.maxS).toBeGreaterThanOrEqual(x.medianS);
      expect(x.gbps).toBeCloseTo(x.payloadBytes / x.medianS / 1e9, 9);
      expect(x.ofCopy).toBeCloseTo(x.gbps / out.copy.gbps, 9);
      expect(x.ofCopy).toBeGreaterThan(0);
    }
    expect(out.dispatch.payloadBytes).toBe(out.dispatch.ibBytes + out.dispatch.nvlBytes);
    expect(out.both.payloadBytes).toBe(out.dispatch.payloadBytes + out.combine.payloadBytes);
    expect(out.copy.gbps).toBeGreaterThan(0);
    expect(out.dispatch.modelSeconds).toBeGreaterThan(0);
    expect(out.dispatch.modelSeconds).toBeLessThanOrEqual(out.dispatch.flatModelSeconds);
    // One group per rank, 2 groups kept: a token reaches 1 or 2 ranks (its top-4 may all sit in one group).
    expect(out.routing.ranksPerToken).toBeCloseTo(rows.ranksPerToken, 12);
    expect(out.routing.nodesPerToken).toBeCloseTo(rows.nodesPerToken, 12);
    expect(rows.ranksPerToken).toBeGreaterThan(1);
    expect(rows.ranksPerToken).toBeLessThanOrEqual(2);
    expect(out.memory.peakRssBytes).toBeGreaterThan(0);
    expect(out.deepep.map((d: { ep: number }) => d.ep)).toEqual([16, 32, 64]);
  }, 20_000);

  test('bad options are refused with a message', () => {
    let status = 0, stderr = '';
    try {
      run(['bench', 'dispatch', '--experts', '15']);
    } catch (e) {
      status = (e as { status: number }).status;
      stderr = String((e as { stderr: string }).stderr);
    }
    expect(status).toBe(1);
    expect(stderr).toMatch(/--experts \(15\) must be a multiple of the 16 ranks/);
    expect(run(['bench', 'dispatch', '--help'])).toMatch(/--topk-groups K/);
  });
});

describe('fp8kit bench route', () => {
  test('times route (f32 and bf16 logits) and dispatchLayout on DeepSeek-V3 shapes, into and with new outputs, next to a copy', () => {
    const out = JSON.parse(run(['bench', 'route', '--reps', '1', '--json']));
    const rows = out.results.route as { name: string; bytes: number; medianMs: number; gbps: number; copyGbps: number; ofCopy: number }[];
    // each case into an earlier result, then with new outputs
    const names = ['route 4096x256 f32 (V3 gate)', 'route 4096x256 bf16 (V3 gate)', 'dispatchLayout 4096x8 on 2x8 ranks'];
    expect(rows.map((r) => r.name)).toEqual(names.flatMap((n) => [n, `${n} (new output)`]));
    // logits read, ids and weights written; ids read, counts and the token-in-rank map written
    const bytes = [4096 * 256 * 4 + 4096 * 8 * 8, 4096 * 256 * 2 + 4096 * 8 * 8, 4096 * 8 * 4 + (16 + 2 + 256) * 4 + 4096 * 16];
    expect(rows.map((r) => r.bytes)).toEqual(bytes.flatMap((b) => [b, b]));
    for (let i = 1; i < rows.length; i += 2) expect((rows[i] as { overInto?: number }).overInto).toBeCloseTo(rows[i].medianMs / rows[i - 1].medianMs, 9);
    for (const r of rows) {
      expect(r.medianMs).toBeGreaterThan(0);
      expect(r.gbps).toBeCloseTo(r.bytes / r.medianMs / 1e6, 9);
      expect(r.ofCopy).toBeCloseTo(r.gbps / r.copyGbps, 9);
    }
    expect(out.options.reps).toBe(1);
  }, 30_000);

  test('--shape TxE times the gate on other shapes; one it cannot take is an error naming why', () => {
    const out = JSON.parse(run(['bench', 'route', '--shape', '64x256,100x128', '--reps', '1', '--json']));
    const rows = out.results.route as { name: string; bytes: number }[];
    expect(rows.filter((r) => !r.name.endsWith('(new output)')).map((r) => r.name)).toEqual([
      'route 64x256 f32 (V3 gate)', 'route 64x256 bf16 (V3 gate)', 'dispatchLayout 64x8 on 2x8 ranks',
      'route 100x128 f32 (V3 gate)', 'route 100x128 bf16 (V3 gate)', 'dispatchLayout 100x8 on 2x8 ranks',
    ]);
    expect(rows.find((r) => r.name === 'route 100x128 f32 (V3 gate)')!.bytes).toBe(100 * 128 * 4 + 100 * 8 * 8);
    const bad = spawnSync(process.execPath, [cli, 'bench', 'route', '--shape', '64x7', '--reps', '1'], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/groups \(8\) must divide the 7 experts/);
  }, 30_000);
});

describe('fp8kit simulate', () => {
  test('writes an R x R heat map per operation, and its JSON agrees with a Cluster run here', async () => {
    const svg = path.join(os.tmpdir(), `fp8kit-traffic-${process.pid}.svg`);
    const out = JSON.parse(run(['simulate', ...flags, '--svg', svg, '--json']));
    const R = shape.nodes * shape.gpus;

    // The same routing through a Cluster of this test (activations of its own: traffic does not depend on them).
    const routes = routing();
    const cluster = new fp8.Cluster({ nodes: shape.nodes, gpusPerNode: shape.gpus }, { numExperts: shape.experts });
    const inputs = routes.map((r, s) => ({
      x: fp8.tensor('f32', [shape.tokens, shape.hidden], Float32Array.from({ length: shape.tokens * shape.hidden }, (_, i) => Math.sin(i + s))),
      topkIdx: r.topkIdx, topkWeights: r.topkWeights,
    }));
    const received = await cluster.dispatch(inputs, { payload: 'fp8' });
    const dispatch = cluster.stats();
    cluster.resetStats();
    await cluster.combine(received.map((r) => fp8.castFromFp8Sync(r.recvX, { out: 'bf16' })), received);
    const combine = cluster.stats();
    expect(out.dispatch).toEqual(dispatch);
    expect(out.combine).toEqual(combine);
    expect(out.summary.dispatch.ibOverFlat).toBeCloseTo(dispatch.ibBytes / dispatch.flatIbBytes, 12);

    const text = fs.readFileSync(svg, 'utf8');
    fs.rmSync(svg);
    expect(text).toMatch(/^<svg /);
    expect(text.trimEnd().endsWith('</svg>')).toBe(true);
    for (const [op, stats] of [['dispatch', dispatch], ['combine', combine]] as const) {
      const block = text.split(`data-op="${op}"`)[1].split('</g>')[0];
      const cells = [...block.matchAll(/class="cell" data-from="(\d+)" data-to="(\d+)" data-kind="(\w+)" data-bytes="(\d+)"/g)];
      expect(cells.length).toBe(R * R);
      const drawn = cells.filter((c) => c[3] !== 'none').map((c) => ({ kind: c[3], from: Number(c[1]), to: Number(c[2]), bytes: Number(c[4]) }));
      const byKey = (a: { kind: string; from: number; to: number }, b: { kind: string; from: number; to: number }) => a.kind.localeCompare(b.kind) || a.from - b.from || a.to - b.to;
      expect(drawn.sort(byKey)).toEqual([...stats.links].sort(byKey));
    }
    expect(text).toContain('IB/flat');
  }, 20_000);
});
