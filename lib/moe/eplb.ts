/**
 * SPEC §6: DeepSeek's expert-parallelism load balancer (github.com/deepseek-ai/EPLB, eplb.py at d52c72d),
 * restated in TypeScript so that a placement computed here equals the reference's for the same loads.
 *
 * Where torch leaves the result open, SPEC fixes it, and this file follows:
 * - `sort(descending=True)` is a stable sort: equal loads keep index order.
 * - `max(dim=-1).indices` takes the first of equal maxima (torch documents this on CPU).
 * - `min(..., key=pack_weights.__getitem__)` is Python's: the first of equal minima, so the lowest pack.
 * - Loads are f32 (`weight.float()`), and so is every sum and quotient on them (`Math.fround`).
 * Where the reference itself is open, the choice made is written where it applies (see `groupLoads`,
 * `checkCounts` and `maxReplicas` below).
 */
import { Fp8kitError } from '../errors.js';
import { checkOptions, describe } from '../options.js';
import { checkTensor, Tensor } from '../tensor.js';

export interface EplbOptions {
  /** Physical expert slots per layer (the reference's num_replicas): at least E, a multiple of `gpus`. */
  replicas: number;
  /** Expert groups of the model (DeepSeek-V3: 8); E must be a multiple when the hierarchical policy runs. */
  groups: number;
  /** Server nodes; the hierarchical policy is used when they divide `groups`. */
  nodes: number;
  /** GPUs in all, a multiple of `nodes`. */
  gpus: number;
}

export interface EplbPlacement {
  /** [L, replicas]: the logical expert in each physical slot. Slot p is on GPU floor(p / (replicas / gpus)). */
  phy2log: Tensor<'i32'>;
  /** [L, E, maxReplicas]: each expert's slots in replica order (the order replicas were made), −1 padded. */
  log2phy: Tensor<'i32'>;
  /** [L, E]: each expert's replica count (≥ 1; a layer's counts sum to replicas). */
  logcnt: Tensor<'i32'>;
}

const FN = 'eplbRebalance';

function positiveInteger(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1)
    throw new Fp8kitError('ERR_ARGUMENT', `${FN}: options.${name} must be a positive integer; got ${describe(v)}`);
  return v;
}

/** The loads as f32 rows (what `weight.float()` holds), each checked finite and non-negative. */
function loadRows(load: unknown): { L: number; E: number; w: Float32Array } {
  let L: number;
  let E: number;
  let at: (i: number) => unknown;
  if (Array.isArray(load)) {
    L = load.length;
    E = Array.isArray(load[0]) ? load[0].length : 0;
    load.forEach((row: unknown, l: number) => {
      if (!Array.isArray(row)) throw new Fp8kitError('ERR_ARGUMENT', `${FN}: load[${l}] must be an array of numbers; got ${describe(row)}`);
      if (row.length !== E) throw new Fp8kitError('ERR_SHAPE', `${FN}: load[${l}] has ${row.length} experts but load[0] has ${E}`);
    });
    at = (i) => (load as unknown[][])[Math.floor(i / E)][i % E];
  } else {
    const t = checkTensor(load, 'load', ['f32', 'i32'] as const);
    if (t.shape.length !== 2) throw new Fp8kitError('ERR_SHAPE', `${FN}: load must be [layers, experts]; got shape [${t.shape.join(', ')}]`);
    [L, E] = t.shape;
    at = (i) => t.data[i];
  }
  // torch's logcnt.max() of an empty tensor fails; a placement of no experts means nothing.
  if (L < 1 || E < 1) throw new Fp8kitError('ERR_SHAPE', `${FN}: load must have at least one layer and one expert; got [${L}, ${E}]`);
  const w = new Float32Array(L * E);
  for (let i = 0; i < w.length; i++) {
    const v = at(i);
    const where = `load[${Math.floor(i / E)}][${i % E}]`;
    if (typeof v !== 'number') throw new Fp8kitError('ERR_ARGUMENT', `${FN}: ${where} must be a number; got ${describe(v)}`);
    if (!Number.isFinite(v)) throw new Fp8kitError('ERR_NON_FINITE', `${FN}: ${where} is ${v}; loads must be finite`);
    if (v < 0) throw new Fp8kitError('ERR_ARGUMENT', `${FN}: ${where} is ${v}; loads must be non-negative`);
    w[i] = v;
  }
  return { L, E, w };
}

/**
 * The reference's asserts for the policy that runs, as errors naming the option. The hierarchical one
 * (`groups % nodes == 0`) needs E % groups and gpus % nodes; the global one runs the same code with
 * groups = nodes = 1, so it asserts neither and ignores both. Both need whole GPUs of slots and a slot
 * per expert.
 */
function checkCounts(E: number, o: EplbOptions): void {
  const { replicas, groups, nodes, gpus } = o;
  if (groups % nodes === 0) {
    if (E % groups) throw new Fp8kitError('ERR_ARGUMENT', `${FN}: options.groups (${groups}) must divide the ${E} experts of load (the hierarchical policy runs: nodes ${nodes} divide groups)`);
    if (gpus % nodes) throw new Fp8kitError('ERR_ARGUMENT', `${FN}: options.nodes (${nodes}) must divide options.gpus (${gpus}) (the hierarchical policy runs: nodes divide groups ${groups})`);
  }
  if (replicas % gpus) throw new Fp8kitError('ERR_ARGUMENT', `${FN}: options.gpus (${gpus}) must divide options.replicas (${replicas})`);
  if (replicas < E) throw new Fp8kitError('ERR_ARGUMENT', `${FN}: options.replicas (${replicas}) must be at least the ${E} experts of load`);
}

/** A stable descending sort's order: equal weights keep index order. */
function descending(w: ArrayLike<number>): number[] {
  return Array.from({ length: w.length }, (_, i) => i).sort((a, b) => w[b] - w[a] || a - b);
}

/**
 * `balanced_packing`: n items into m packs of n/m each, heaviest first into the lightest pack that has
 * room (the lowest such on a tie). With one item per pack the reference skips the sort: item i is pack i.
 */
function balancedPacking(w: Float32Array, m: number): { pack: Int32Array; rank: Int32Array } {
  const n = w.length;
  const per = n / m;
  const pack = new Int32Array(n);
  const rank = new Int32Array(n);
  if (per === 1) {
    for (let i = 0; i < n; i++) pack[i] = i;
    return { pack, rank };
  }
  const weights = new Float32Array(m);
  const items = new Int32Array(m);
  for (const i of descending(w)) {
    let best = -1;
    for (let p = 0; p < m; p++) if (items[p] < per && (best < 0 || weights[p] < weights[best])) best = p;
    pack[i] = best;
    rank[i] = items[best]++;
    weights[best] = Math.fround(weights[best] + w[i]);
  }
  return { pack, rank };
}

/**
 * `replicate_experts`: slots beyond the first `w.length` each go to the expert of highest load per replica
 * (the first on a tie), which makes the maximum per-replica load as small as this greedy gets it.
 */
function replicateExperts(w: Float32Array, phys: number): { phy2log: Int32Array; rank: Int32Array; cnt: Int32Array } {
  const n = w.length;
  const phy2log = new Int32Array(phys);
  const rank = new Int32Array(phys);
  const cnt = new Int32Array(n).fill(1);
  for (let i = 0; i < n; i++) phy2log[i] = i;
  for (let i = n; i < phys; i++) {
    let best = 0;
    let bestLoad = Math.fround(w[0] / cnt[0]);
    for (let e = 1; e < n; e++) {
      const v = Math.fround(w[e] / cnt[e]);
      if (v > bestLoad) [best, bestLoad] = [e, v];
    }
    phy2log[i] = best;
    rank[i] = cnt[best]++;
  }
  return { phy2log, rank, cnt };
}

/**
 * Each group's load, `unflatten(...).sum(-1)` in f32. Torch's CPU sum adds in an order set by its vector
 * width; this adds left to right. The two agree whenever the sums are exact in f32 (integer loads whose
 * group totals stay below 2^24, the usual token counts); fractional loads may differ in the last bit.
 */
function groupLoads(w: Float32Array, groups: number): Float32Array {
  const size = w.length / groups;
  const out = new Float32Array(groups);
  for (let g = 0; g < groups; g++) {
    let s = 0;
    for (let j = 0; j < size; j++) s = Math.fround(s + w[g * size + j]);
    out[g] = s;
  }
  return out;
}

/**
 * `rebalance_experts_hierarchical` for one layer: groups packed onto nodes, experts replicated within each
 * node, the node's replicas packed onto its GPUs. Returns each slot's expert and replica rank, and counts.
 */
function rebalanceLayer(w: Float32Array, replicas: number, groups: number, nodes: number, gpus: number) {
  const E = w.length;
  const groupSize = E / groups;
  const groupsPerNode = groups / nodes;
  const perGpu = replicas / gpus;
  const expertsPerNode = E / nodes;
  const slotsPerNode = replicas / nodes;

  // Step 1: groups to nodes. "mlog" numbers experts node by node, groups in their rank within the node.
  const g = balancedPacking(groupLoads(w, groups), nodes);
  const log2mlog = new Int32Array(E);
  const mlog2log = new Int32Array(E);
  for (let e = 0; e < E; e++) {
    const grp = Math.floor(e / groupSize);
    log2mlog[e] = (g.pack[grp] * groupsPerNode + g.rank[grp]) * groupSize + (e % groupSize);
    mlog2log[log2mlog[e]] = e;
  }

  const phy2log = new Int32Array(replicas);
  const phyrank = new Int32Array(replicas);
  const mlogcnt = new Int32Array(E);
  for (let n = 0; n < nodes; n++) {
    // Step 2: replicas within the node.
    const tokens = new Float32Array(expertsPerNode);
    for (let m = 0; m < expertsPerNode; m++) tokens[m] = w[mlog2log[n * expertsPerNode + m]];
    const r = replicateExperts(tokens, slotsPerNode);
    mlogcnt.set(r.cnt, n * expertsPerNode);

    // Step 3: the node's replicas to its GPUs, by load per replica.
    const perReplica = new Float32Array(slotsPerNode);
    for (let p = 0; p < slotsPerNode; p++) perReplica[p] = Math.fround(tokens[r.phy2log[p]] / r.cnt[r.phy2log[p]]);
    const k = balancedPacking(perReplica, gpus / nodes);
    for (let p = 0; p < slotsPerNode; p++) {
      const q = n * slotsPerNode + k.pack[p] * perGpu + k.rank[p];
      phy2log[q] = mlog2log[n * expertsPerNode + r.phy2log[p]];
      phyrank[q] = r.rank[p];
    }
  }
  const logcnt = new Int32Array(E);
  for (let e = 0; e < E; e++) logcnt[e] = mlogcnt[log2mlog[e]];
  return { phy2log, phyrank, logcnt };
}

/**
 * `rebalance_experts`: a placement of `replicas` physical slots per layer for the loads `load` [L, E]
 * (f32 or i32 tensor, or number[][]). Hierarchical when `nodes` divides `groups` (an expert's replicas stay
 * on the node its group went to), global otherwise (the reference's hierarchical step with one group and
 * one node, so replicas may land anywhere). The result equals the reference's, `log2phy` included.
 *
 * `log2phy`'s last dimension is the largest count of any expert in any layer, `logcnt.max()` as the
 * reference computes it; it is not `replicas - E + 1` (the widest it could be), which vLLM's port uses.
 */
export function eplbRebalance(load: Tensor<'f32' | 'i32'> | readonly (readonly number[])[], opts: EplbOptions): EplbPlacement {
  const o = checkOptions(opts, ['replicas', 'groups', 'nodes', 'gpus'], FN);
  if (opts === undefined) throw new Fp8kitError('ERR_ARGUMENT', `${FN}: options {replicas, groups, nodes, gpus} are required`);
  const counts: EplbOptions = {
    replicas: positiveInteger(o.replicas, 'replicas'),
    groups: positiveInteger(o.groups, 'groups'),
    nodes: positiveInteger(o.nodes, 'nodes'),
    gpus: positiveInteger(o.gpus, 'gpus'),
  };
  const { L, E, w } = loadRows(load);
  checkCounts(E, counts);
  const { replicas, groups, nodes, gpus } = counts;
  const hierarchical = groups % nodes === 0;

  const phy2log = new Int32Array(L * replicas);
  const phyrank = new Int32Array(L * replicas);
  const logcnt = new Int32Array(L * E);
  for (let l = 0; l < L; l++) {
    const layer = w.subarray(l * E, (l + 1) * E);
    const r = hierarchical ? rebalanceLayer(layer, replicas, groups, nodes, gpus) : rebalanceLayer(layer, replicas, 1, 1, gpus);
    phy2log.set(r.phy2log, l * replicas);
    phyrank.set(r.phyrank, l * replicas);
    logcnt.set(r.logcnt, l * E);
  }

  // The reference's `log2phy.view(L, -1).scatter_(-1, phy2log * maxlogcnt + phyrank, arange(replicas))`:
  // slot p is entry phyrank[p] of its expert's row. Ranks of one expert are distinct, so no write collides.
  const maxReplicas = logcnt.reduce((a, b) => Math.max(a, b), 0);
  const log2phy = new Int32Array(L * E * maxReplicas).fill(-1);
  for (let l = 0; l < L; l++)
    for (let p = 0; p < replicas; p++)
      log2phy[(l * E + phy2log[l * replicas + p]) * maxReplicas + phyrank[l * replicas + p]] = p;

  return {
    phy2log: { dtype: 'i32', shape: [L, replicas], data: phy2log },
    log2phy: { dtype: 'i32', shape: [L, E, maxReplicas], data: log2phy },
    logcnt: { dtype: 'i32', shape: [L, E], data: logcnt },
  };
}
