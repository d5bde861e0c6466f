/**
 * `fp8kit bench route`: the DeepSeek-V3 gate (SPEC §5: sigmoid, bias, top-8 of 256 experts in 8 groups,
 * 4 groups kept, scale 2.5) on 4096 tokens (or `--shape TxE`), and dispatchLayout (SPEC §7) of its picks
 * on 2 × 8 ranks.
 * Sub-millisecond calls: each case takes 50 calls per `--reps`, for a median the machine's noise moves
 * less; each both into an earlier result (`into`) and with new outputs. No peer computes the group-limited
 * gate or DeepEP's layout, so there is none beside them. Bytes are the logits read and the outputs written; both are compute-bound, so "of copy" says
 * how far from memory speed they are, not a target.
 */
import { castToBf16Sync } from '../cast.js';
import { DispatchLayout, dispatchLayoutSync } from '../moe/layout.js';
import { routeSync, RouteOptions } from '../moe/route.js';
import { tensor } from '../tensor.js';
import { BenchOptions } from './cast.js';
import { BenchRow, measurePair, uniforms } from './harness.js';

const TOKENS = 4096, EXPERTS = 256, TOPK = 8;

export function benchRoute(o: BenchOptions): BenchRow[] {
  const rows: BenchRow[] = [];
  for (const [tokens, experts] of o.shapes ?? [[TOKENS, EXPERTS]]) rows.push(...benchRouteShape(o, tokens, experts));
  return rows;
}

function benchRouteShape(o: BenchOptions, tokens: number, experts: number): BenchRow[] {
  const u = uniforms(7);
  const logits = tensor('f32', [tokens, experts], Float32Array.from({ length: tokens * experts }, () => (u() - 0.5) * 8));
  const bias = tensor('f32', [experts], Float32Array.from({ length: experts }, () => (u() - 0.5) / 4));
  const gate: RouteOptions = { topk: TOPK, groups: 8, topkGroups: 4, scoreFunc: 'sigmoid', bias, routeScale: 2.5, backend: o.backend };
  const reps = 50 * o.reps;
  const out = tokens * TOPK * 8;  // i32 ids and f32 weights
  const rows: BenchRow[] = [];
  // Each case into the outputs of an earlier call, as a serving loop would reuse them, and with new ones,
  // timed in turn.
  for (const x of [logits, castToBf16Sync(logits)]) {
    const n = `route ${tokens}x${experts} ${x.dtype} (V3 gate)`;
    const into = routeSync(x, gate);
    rows.push(...measurePair(n, tokens * experts * (x.dtype === 'f32' ? 4 : 2) + out, reps, () => routeSync(x, { ...gate, into }), () => routeSync(x, gate)));
  }
  const ids = routeSync(logits, gate).topkIdx;
  const topology = { nodes: 2, gpusPerNode: 8 };
  // ids read; per-rank, per-node and per-expert counts and the token-in-rank bytes written
  const layoutBytes = tokens * TOPK * 4 + (16 + 2 + experts) * 4 + tokens * 16;
  const layout = (into?: DispatchLayout) => dispatchLayoutSync(ids, experts, topology, { backend: o.backend, into });
  const layoutInto = layout();
  rows.push(...measurePair(`dispatchLayout ${tokens}x${TOPK} on 2x8 ranks`, layoutBytes, reps, () => layout(layoutInto), () => layout()));
  return rows;
}
