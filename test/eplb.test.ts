/**
 * SPEC §6 expert placement: eplbRebalance against DeepSeek's README example, hand-computed cases and a
 * plain restatement of eplb.py written here; choosePhysical against hand cases for each step of its rule.
 */
import { describe, expect, test } from 'vitest';

import { expectFp8kitError, fp8, rng, seed, uniform } from './helpers.js';

type Placement = ReturnType<typeof fp8.eplbRebalance>;
const i32 = (shape: number[], data: number[]) => fp8.tensor('i32', shape, Int32Array.from(data));
const list = (t: { data: ArrayLike<number> }) => Array.from(t.data);

// ---------------------------------------------------------------------------------------------------
// A restatement of github.com/deepseek-ai/EPLB eplb.py (d52c72d), line by line on nested arrays, with
// torch's open points fixed as SPEC fixes them: stable descending sort, first index of equal maxima,
// f32 arithmetic on loads (group sums added left to right).
// ---------------------------------------------------------------------------------------------------
const f32 = Math.fround;
const arange = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Indices of `row` sorted by value, largest first; an element passes only strictly smaller ones. */
function sortDescendingIndices(row: number[]): number[] {
  const idx: number[] = [];
  for (let i = 0; i < row.length; i++) {
    let j = idx.length;
    idx.push(i);
    while (j > 0 && row[idx[j - 1]] < row[i]) {
      idx[j] = idx[j - 1];
      j--;
    }
    idx[j] = i;
  }
  return idx;
}

const gather = (x: number[][], index: number[][]) => index.map((row, r) => row.map((i) => x[r][i]));
const inverse = (perm: number[][]) => perm.map((row) => {
  const inv = new Array<number>(row.length);
  row.forEach((p, j) => (inv[p] = j));
  return inv;
});
/** `x.view(rows, cols)` of a list of rows. */
const view = (x: number[][], cols: number) => {
  const flat = x.flat();
  return arange(flat.length / cols).map((r) => flat.slice(r * cols, (r + 1) * cols));
};

function pyBalancedPacking(weight: number[][], numPacks: number): [number[][], number[][]] {
  const numLayers = weight.length;
  const numGroups = weight[0].length;
  expect(numGroups % numPacks).toBe(0);
  const groupsPerPack = numGroups / numPacks;
  if (groupsPerPack === 1) return [weight.map((r) => arange(r.length)), weight.map((r) => r.map(() => 0))];
  const indices = weight.map(sortDescendingIndices);
  const packIndex = weight.map((r) => r.map(() => -1));
  const rankInPack = weight.map((r) => r.map(() => -1));
  for (let i = 0; i < numLayers; i++) {
    const packWeights = new Array<number>(numPacks).fill(0);
    const packItems = new Array<number>(numPacks).fill(0);
    for (const group of indices[i]) {
      // min(eligible, key=pack_weights.__getitem__): Python keeps the first of equal minima.
      const eligible = arange(numPacks).filter((p) => packItems[p] < groupsPerPack);
      const pack = eligible.reduce((best, p) => (packWeights[p] < packWeights[best] ? p : best));
      packIndex[i][group] = pack;
      rankInPack[i][group] = packItems[pack];
      packWeights[pack] = f32(packWeights[pack] + weight[i][group]);
      packItems[pack] += 1;
    }
  }
  return [packIndex, rankInPack];
}

function pyReplicateExperts(weight: number[][], numPhy: number): [number[][], number[][], number[][]] {
  const n = weight.length;
  const numLog = weight[0].length;
  expect(numPhy - numLog).toBeGreaterThanOrEqual(0);
  const phy2log = arange(n).map(() => arange(numPhy));
  const rank = arange(n).map(() => new Array<number>(numPhy).fill(0));
  const logcnt = arange(n).map(() => new Array<number>(numLog).fill(1));
  for (let i = numLog; i < numPhy; i++) {
    for (let r = 0; r < n; r++) {
      const ratio = weight[r].map((w, j) => f32(w / logcnt[r][j]));
      const redundant = ratio.indexOf(Math.max(...ratio)); // the first maximal index
      phy2log[r][i] = redundant;
      rank[r][i] = logcnt[r][redundant];
      logcnt[r][redundant] += 1;
    }
  }
  return [phy2log, rank, logcnt];
}

function pyHierarchical(weight: number[][], numPhysical: number, numGroups: number, numNodes: number, numGpus: number) {
  const numLogical = weight[0].length;
  expect(numLogical % numGroups).toBe(0);
  const groupSize = numLogical / numGroups;
  expect(numGroups % numNodes).toBe(0);
  const groupsPerNode = numGroups / numNodes;
  expect(numGpus % numNodes).toBe(0);
  expect(numPhysical % numGpus).toBe(0);
  const phyPerGpu = numPhysical / numGpus;

  // Step 1
  const tokensPerGroup = weight.map((row) => arange(numGroups).map((g) => row.slice(g * groupSize, (g + 1) * groupSize).reduce((a, b) => f32(a + b), 0)));
  const [groupPackIndex, groupRankInPack] = pyBalancedPacking(tokensPerGroup, numNodes);
  const log2mlog = groupPackIndex.map((packs, l) => packs.flatMap((pack, g) => arange(groupSize).map((j) => (pack * groupsPerNode + groupRankInPack[l][g]) * groupSize + j)));
  const mlog2log = inverse(log2mlog);

  // Step 2
  const tokensPerMlog = view(gather(weight, mlog2log), numLogical / numNodes);
  const [phy2mlog, phyrank, mlogcnt] = pyReplicateExperts(tokensPerMlog, numPhysical / numNodes);

  // Step 3
  const tokensPerPhy = gather(tokensPerMlog.map((row, r) => row.map((w, j) => f32(w / mlogcnt[r][j]))), phy2mlog);
  const [packIndex, rankInPack] = pyBalancedPacking(tokensPerPhy, numGpus / numNodes);
  const phy2pphy = packIndex.map((row, r) => row.map((p, j) => p * phyPerGpu + rankInPack[r][j]));
  const pphy2phy = inverse(phy2pphy);

  let pphy2mlog = gather(phy2mlog, pphy2phy);
  pphy2mlog = view(pphy2mlog.map((row, r) => row.map((m) => m + (r % numNodes) * (numLogical / numNodes))), numPhysical);
  const pphy2log = gather(mlog2log, pphy2mlog);
  const pphyrank = view(gather(phyrank, pphy2phy), numPhysical);
  const logcnt = gather(view(mlogcnt, numLogical), log2mlog);
  return [pphy2log, pphyrank, logcnt];
}

function pyRebalanceExperts(load: number[][], numReplicas: number, numGroups: number, numNodes: number, numGpus: number) {
  const numLayers = load.length;
  const numLogical = load[0].length;
  const weight = load.map((r) => r.map(f32));
  const [phy2log, phyrank, logcnt] = numGroups % numNodes === 0
    ? pyHierarchical(weight, numReplicas, numGroups, numNodes, numGpus)
    : pyHierarchical(weight, numReplicas, 1, 1, numGpus);
  const maxlogcnt = Math.max(...logcnt.flat());
  const log2phy = arange(numLayers).map(() => new Array<number>(numLogical * maxlogcnt).fill(-1));
  phy2log.forEach((row, l) => row.forEach((e, p) => (log2phy[l][e * maxlogcnt + phyrank[l][p]] = p)));
  return { phy2log, log2phy, logcnt, maxlogcnt };
}

// ---------------------------------------------------------------------------------------------------

/** What every placement must satisfy, whatever the loads. */
function checkInvariants(r: Placement, L: number, E: number, o: { replicas: number; groups: number; nodes: number; gpus: number }) {
  const { replicas, groups, nodes, gpus } = o;
  const M = r.log2phy.shape[2];
  expect(r.phy2log.shape).toEqual([L, replicas]);
  expect(r.log2phy.shape).toEqual([L, E, M]);
  expect(r.logcnt.shape).toEqual([L, E]);
  for (let l = 0; l < L; l++) {
    const p2l = list(r.phy2log).slice(l * replicas, (l + 1) * replicas);
    const cnt = list(r.logcnt).slice(l * E, (l + 1) * E);
    expect(cnt.reduce((a, b) => a + b)).toBe(replicas);
    for (let e = 0; e < E; e++) {
      expect(cnt[e]).toBeGreaterThanOrEqual(1);
      const row = list(r.log2phy).slice((l * E + e) * M, (l * E + e + 1) * M);
      const slots = p2l.flatMap((x, p) => (x === e ? [p] : []));
      expect(row.slice(0, cnt[e]).sort((a, b) => a - b)).toEqual(slots);
      expect(row.slice(cnt[e])).toEqual(new Array(M - cnt[e]).fill(-1));
    }
    // Each GPU's replicas/gpus slots all hold an expert.
    const perGpu = replicas / gpus;
    for (let g = 0; g < gpus; g++) expect(p2l.slice(g * perGpu, (g + 1) * perGpu).every((x) => x >= 0 && x < E)).toBe(true);
    if (groups % nodes === 0) {
      // Hierarchical: a node's slots hold the experts of its groups only, each group on one node, groups/nodes per node.
      const groupSize = E / groups;
      const perNode = replicas / nodes;
      const nodeOfGroup = new Map<number, number>();
      for (let p = 0; p < replicas; p++) {
        const g = Math.floor(p2l[p] / groupSize);
        const n = Math.floor(p / perNode);
        expect(nodeOfGroup.get(g) ?? n).toBe(n);
        nodeOfGroup.set(g, n);
      }
      expect(nodeOfGroup.size).toBe(groups);
      for (let n = 0; n < nodes; n++) expect([...nodeOfGroup.values()].filter((x) => x === n).length).toBe(groups / nodes);
    }
  }
}

describe('eplbRebalance', () => {
  // github.com/deepseek-ai/EPLB README: 2 layers of 12 experts, 16 replicas, 4 groups, 2 nodes of 4 GPUs.
  const readmeLoad = [
    [90, 132, 40, 61, 104, 165, 39, 4, 73, 56, 183, 86],
    [20, 107, 104, 64, 19, 197, 187, 157, 172, 86, 16, 27],
  ];
  const readmeOpts = { replicas: 16, groups: 4, nodes: 2, gpus: 8 };
  const readmePhy2log = [
    [5, 6, 5, 7, 8, 4, 3, 4, 10, 9, 10, 2, 0, 1, 11, 1],
    [7, 10, 6, 8, 6, 11, 8, 9, 2, 4, 5, 1, 5, 0, 3, 1],
  ];

  test("DeepSeek's README example: phy2log as printed there, from number[][], f32 and i32 loads", () => {
    const inputs = [
      readmeLoad,
      fp8.tensor('f32', [2, 12], Float32Array.from(readmeLoad.flat())),
      fp8.tensor('i32', [2, 12], Int32Array.from(readmeLoad.flat())),
    ];
    for (const load of inputs) {
      const r = fp8.eplbRebalance(load, readmeOpts);
      expect(r.phy2log.dtype).toBe('i32');
      expect(r.phy2log.shape).toEqual([2, 16]);
      expect(list(r.phy2log)).toEqual(readmePhy2log.flat());
      checkInvariants(r, 2, 12, readmeOpts);
    }
  });

  test('global policy by hand: 4 experts, 6 replicas, 2 GPUs (groups 1 on 2 nodes)', () => {
    // Replicate: 40 (e1) is the largest, then 30 (e3) over 20, 20, 10. Per replica [10, 20, 20, 15, 20, 15];
    // packing slots 1, 2, 4, 3, 5, 0 (stable) onto GPUs 0, 1, 0, 1, 1, 0 gives GPU 0 e1 e1 e0, GPU 1 e2 e3 e3.
    const r = fp8.eplbRebalance([[10, 40, 20, 30]], { replicas: 6, groups: 1, nodes: 2, gpus: 2 });
    expect(list(r.phy2log)).toEqual([1, 1, 0, 2, 3, 3]);
    expect(list(r.logcnt)).toEqual([1, 2, 1, 2]);
    expect(r.log2phy.shape).toEqual([1, 4, 2]);
    expect(list(r.log2phy)).toEqual([2, -1, 0, 1, 3, -1, 4, 5]);
  });

  test('ties by hand: the first expert gets the replica, equal loads keep index order, the lowest pack wins', () => {
    // Four loads of 5: the extra replicas go to e0 then e1. Per replica [2.5, 2.5, 5, 5, 2.5, 2.5], sorted
    // 2, 3, 0, 1, 4, 5; packs (ties to GPU 0) 0, 1, 0, 1, 0, 1.
    const r = fp8.eplbRebalance([[5, 5, 5, 5]], { replicas: 6, groups: 1, nodes: 2, gpus: 2 });
    expect(list(r.phy2log)).toEqual([2, 0, 0, 3, 1, 1]);
    expect(list(r.logcnt)).toEqual([2, 2, 1, 1]);
    expect(list(r.log2phy)).toEqual([1, 2, 4, 5, 0, -1, 3, -1]);
    // All zero: both extra replicas go to e0 (0/2 ties 0, the first wins), and GPU 0 stays the lightest
    // (weight 0) until full, so slots keep their order.
    const z = fp8.eplbRebalance([[0, 0, 0, 0]], { replicas: 6, groups: 1, nodes: 1, gpus: 2 });
    expect(list(z.phy2log)).toEqual([0, 1, 2, 3, 0, 0]);
    expect(list(z.log2phy)).toEqual([0, 4, 5, 1, -1, -1, 2, -1, -1, 3, -1, -1]);
  });

  test('hierarchical by hand: 4 groups of 1 on 2 nodes of 1 GPU, 6 replicas', () => {
    // Groups [3, 8, 5, 2] sorted 1, 2, 0, 3 go to nodes 0, 1, 1, 0 (8 | 5, then 5+3 < 8, then the tie to 0):
    // node 0 holds e1 e3, node 1 holds e2 e0. Node 0 replicates e1 (per replica 4, 2, 4 → order 0, 2, 1);
    // node 1 replicates e2 (2.5, 3, 2.5 → order 1, 0, 2).
    const r = fp8.eplbRebalance([[3, 8, 5, 2]], { replicas: 6, groups: 4, nodes: 2, gpus: 2 });
    expect(list(r.phy2log)).toEqual([1, 1, 3, 0, 2, 2]);
    expect(list(r.logcnt)).toEqual([1, 2, 2, 1]);
    expect(list(r.log2phy)).toEqual([3, -1, 0, 1, 4, 5, 2, -1]);
  });

  test('log2phy is as wide as the most replicas of any expert in any layer, not replicas - E + 1', () => {
    const r = fp8.eplbRebalance([[1, 1, 1, 1], [100, 1, 1, 1]], { replicas: 8, groups: 1, nodes: 1, gpus: 1 });
    // Layer 0 spreads the 4 extra replicas one each; layer 1 gives all 4 to e0 (100/5 = 20 > 1).
    expect(list(r.logcnt)).toEqual([2, 2, 2, 2, 5, 1, 1, 1]);
    expect(r.log2phy.shape).toEqual([2, 4, 5]);
    expect(fp8.eplbRebalance([[1, 1, 1, 1]], { replicas: 8, groups: 1, nodes: 1, gpus: 1 }).log2phy.shape).toEqual([1, 4, 2]);
  });

  test('equals a line-by-line restatement of eplb.py on random loads, hierarchical and global', () => {
    const s = seed('eplb restatement');
    const next = rng(s);
    const u = uniform(next);
    const int = (n: number) => next() % n;
    const kinds = ['ties', 'counts', 'fractions', 'zeros', 'sparse'] as const;
    const seen = { hierarchical: 0, global: 0 };
    for (let c = 0; c < 400; c++) {
      const nodes = 1 + int(4);
      const gpus = nodes * (1 + int(4));
      const groups = 1 + int(8);
      const E = groups * (1 + int(6));
      const replicas = gpus * (Math.ceil(E / gpus) + int(4));
      const L = 1 + int(3);
      const kind = kinds[c % kinds.length];
      const value = () => {
        switch (kind) {
          case 'ties': return int(4);
          case 'counts': return int(1000);
          case 'fractions': return f32(u() * 100);
          case 'zeros': return 0;
          default: return u() < 0.8 ? 0 : 1 + int(50);
        }
      };
      const load = arange(L).map(() => arange(E).map(value));
      const opts = { replicas, groups, nodes, gpus };
      const what = `case ${c}: ${kind} [${L}, ${E}] ${JSON.stringify(opts)}`;
      const want = pyRebalanceExperts(load, replicas, groups, nodes, gpus);
      const got = fp8.eplbRebalance(kind === 'fractions' ? fp8.tensor('f32', [L, E], Float32Array.from(load.flat())) : fp8.tensor('i32', [L, E], Int32Array.from(load.flat())), opts);
      expect(list(got.phy2log), what).toEqual(want.phy2log.flat());
      expect(list(got.logcnt), what).toEqual(want.logcnt.flat());
      expect(got.log2phy.shape, what).toEqual([L, E, want.maxlogcnt]);
      expect(list(got.log2phy), what).toEqual(want.log2phy.flat());
      checkInvariants(got, L, E, opts);
      seen[groups % nodes === 0 ? 'hierarchical' : 'global']++;
    }
    expect(seen.hierarchical).toBeGreaterThan(50);
    expect(seen.global).toBeGreaterThan(50);
  });

  test('DeepSeek-V3 sizes (256 experts in 8 groups, 288 replicas) equal the restatement, both policies', () => {
    const s = seed('eplb v3 sizes');
    const next = rng(s);
    const load = arange(2).map(() => arange(256).map(() => (next() % 5 === 0 ? 0 : next() % 4096)));
    for (const [nodes, gpus] of [[4, 32], [3, 24]]) {
      const opts = { replicas: 288, groups: 8, nodes, gpus };
      const want = pyRebalanceExperts(load, 288, 8, nodes, gpus);
      const got = fp8.eplbRebalance(load, opts);
      expect(list(got.phy2log)).toEqual(want.phy2log.flat());
      expect(list(got.log2phy)).toEqual(want.log2phy.flat());
      checkInvariants(got, 2, 256, opts);
    }
  });

  test('the global policy (nodes do not divide groups) ignores groups and nodes, as the reference does', () => {
    const s = seed('eplb global preconditions');
    const u = uniform(rng(s));
    // groups that divide neither the experts nor anything else, and nodes that do not divide the GPUs
    for (const o of [
      { replicas: 12, groups: 5, nodes: 2, gpus: 3 },
      { replicas: 8, groups: 3, nodes: 2, gpus: 4 },
      { replicas: 10, groups: 7, nodes: 4, gpus: 5 },
    ]) {
      const load = Array.from({ length: 2 }, () => Array.from({ length: 6 }, () => Math.floor(u() * 100)));
      const want = pyRebalanceExperts(load, o.replicas, o.groups, o.nodes, o.gpus);
      const got = fp8.eplbRebalance(load, o);
      expect(list(got.phy2log), JSON.stringify(o)).toEqual(want.phy2log.flat());
      expect(list(got.log2phy), JSON.stringify(o)).toEqual(want.log2phy.flat());
      expect(list(got.logcnt)).toEqual(want.logcnt.flat());
    }
    // what the global policy still needs
    expectFp8kitError(() => fp8.eplbRebalance([[1, 2, 3, 4, 5, 6]], { replicas: 7, groups: 5, nodes: 2, gpus: 3 }), 'ERR_ARGUMENT', /options\.gpus \(3\) must divide options\.replicas \(7\)/);
    expectFp8kitError(() => fp8.eplbRebalance([[1, 2, 3, 4, 5, 6]], { replicas: 3, groups: 5, nodes: 2, gpus: 3 }), 'ERR_ARGUMENT', /options\.replicas \(3\) must be at least the 6 experts/);
  });

  test('arguments are checked, each error naming what is wrong', () => {
    const load = [[1, 2, 3, 4]];
    const ok = { replicas: 4, groups: 2, nodes: 1, gpus: 2 };
    const bad = (o: object, code: string, text: RegExp) => expectFp8kitError(() => fp8.eplbRebalance(load, { ...ok, ...o } as typeof ok), code, text);
    bad({ replicas: 5 }, 'ERR_ARGUMENT', /options\.gpus \(2\) must divide options\.replicas \(5\)/);
    bad({ replicas: 2, gpus: 1 }, 'ERR_ARGUMENT', /options\.replicas \(2\) must be at least the 4 experts/);
    // Hierarchical (nodes divide groups): groups must divide the experts and nodes the GPUs.
    bad({ groups: 3 }, 'ERR_ARGUMENT', /options\.groups \(3\) must divide the 4 experts of load \(the hierarchical policy runs/);
    bad({ groups: 3, nodes: 3, gpus: 2 }, 'ERR_ARGUMENT', /options\.groups \(3\) must divide the 4 experts/);
    bad({ groups: 6, nodes: 3, gpus: 2 }, 'ERR_ARGUMENT', /options\.groups \(6\) must divide the 4 experts/);
    bad({ nodes: 2, gpus: 3, replicas: 6 }, 'ERR_ARGUMENT', /options\.nodes \(2\) must divide options\.gpus \(3\) \(the hierarchical policy runs/);
    bad({ gpus: 0 }, 'ERR_ARGUMENT', /options\.gpus must be a positive integer; got 0/);
    bad({ replicas: 4.5 }, 'ERR_ARGUMENT', /options\.replicas must be a positive integer; got 4\.5/);
    bad({ groups: '2' }, 'ERR_ARGUMENT', /options\.groups must be a positive integer; got '2'/);
    bad({ topk: 2 }, 'ERR_ARGUMENT', /unknown option 'topk'/);
    expectFp8kitError(() => fp8.eplbRebalance(load, undefined as never), 'ERR_ARGUMENT', /options \{replicas, groups, nodes, gpus\} are required/);
    expectFp8kitError(() => fp8.eplbRebalance(load, { replicas: 4, groups: 2, nodes: 1 } as never), 'ERR_ARGUMENT', /options\.gpus must be a positive integer; got undefined/);

    const e = (l: unknown, code: string, text: RegExp) => expectFp8kitError(() => fp8.eplbRebalance(l as never, ok), code, text);
    e([[1, 2, -1, 4]], 'ERR_ARGUMENT', /load\[0\]\[2\] is -1; loads must be non-negative/);
    e([[1, 2, NaN, 4]], 'ERR_NON_FINITE', /load\[0\]\[2\] is NaN/);
    e(fp8.tensor('f32', [1, 4], Float32Array.of(1, Infinity, 0, 0)), 'ERR_NON_FINITE', /load\[0\]\[1\] is Infinity/);
    e([[1, 2, 3, 4], [1, 2, 3]], 'ERR_SHAPE', /load\[1\] has 3 experts but load\[0\] has 4/);
    e([[1, 2, '3', 4]], 'ERR_ARGUMENT', /load\[0\]\[2\] must be a number/);
    e([], 'ERR_SHAPE', /at least one layer and one expert; got \[0, 0\]/);
    e(fp8.tensor('f32', [4], new Float32Array(4)), 'ERR_SHAPE', /load must be \[layers, experts\]; got shape \[4\]/);
    e(fp8.tensor('bf16', [1, 4], new Uint16Array(4)), 'ERR_DTYPE', /load\.dtype must be f32 or i32; got 'bf16'/);
    e(new Float32Array(4), 'ERR_ARGUMENT', /load must be a tensor/);
    e({ dtype: 'i32', shape: [1, 4], data: new Int32Array(3) }, 'ERR_SHAPE', /load\.data has 3 elements/);
  });
});

describe('choosePhysical', () => {
  // 2 nodes of 2 ranks, 3 slots per rank: rank 0 slots 0–2, rank 1 3–5 (node 0), rank 2 6–8, rank 3 9–11 (node 1).
  const rows = [
    [0], //         e0: rank 0
    [4, 10], //     e1: rank 1, rank 3
    [7, 5], //      e2: rank 2 (node 1), rank 1 (node 0)
    [6], //         e3: rank 2
    [9, 11], //     e4: rank 3 twice (node 1 only)
    [3, 2, 1], //   e5: rank 1, rank 0, rank 0 (node 0 only)
    [8], //         e6: rank 2
  ];
  const M = 3;
  const placement = {
    log2phy: i32([rows.length, M], rows.flatMap((r) => [...r, ...new Array(M - r.length).fill(-1)])),
    logcnt: i32([rows.length], rows.map((r) => r.length)),
  };
  const phy2log = new Array<number>(12);
  rows.forEach((r, e) => r.forEach((s) => (phy2log[s] = e)));
  const topo = { nodes: 2, gpusPerNode: 2, slotsPerRank: 3 };
  const choose = (tokens: number[][], sourceRank: number, p: object = placement, extra: object = {}) =>
    list(fp8.choosePhysical(i32([tokens.length, tokens[0]?.length ?? 0], tokens.flat()), p as typeof placement, { ...topo, sourceRank, ...extra }));

  test('single-replica experts first, then a replica on a rank already reached', () => {
    // e3 (one replica, slot 6 on rank 2) is taken first although it comes second; e2 then has slot 7 on rank 2,
    // ahead of slot 5 on the source node.
    expect(choose([[2, 3]], 0)).toEqual([7, 6]);
    // A multi-replica choice reaches its rank too: e1 takes slot 4 (rank 1, on the source node), then e5
    // takes slot 3 on rank 1.
    expect(choose([[1, 5]], 0)).toEqual([4, 3]);
  });

  test('else the first replica on a node already reached, in log2phy order; the source rank is not a reached rank', () => {
    expect(choose([[2]], 0)).toEqual([5]); // slot 7 is on node 1, slot 5 on the source node
    expect(choose([[5]], 0)).toEqual([3]); // slot 3 (rank 1) before slot 2 on the source rank 0
    expect(choose([[3, 4]], 0)).toEqual([6, 9]); // e3 reaches node 1; e4's first replica there is slot 9
  });

  test('else replica (sourceRank + t) % count; a -1 stays -1', () => {
    // From rank 2 (node 1), e5 (node 0 only) rotates with the token index: replicas 2, 0, 1, 2.
    expect(choose([[5], [5], [5], [5]], 2)).toEqual([1, 3, 2, 1]);
    // From rank 0, e4 (node 1 only): replicas 0, 1.
    expect(choose([[4], [4]], 0)).toEqual([9, 11]);
    // From rank 2, e0 (one replica) reaches rank 0 first, so e5 takes its replica on rank 0: slot 2.
    expect(choose([[5, 0]], 2)).toEqual([2, 0]);
    expect(choose([[-1, 2, -1]], 0)).toEqual([-1, 5, -1]);
    expect(choose([[-1, -1]], 3)).toEqual([-1, -1]);
  });

  test('a layer of a whole eplbRebalance result: every chosen slot holds the token’s expert', () => {
    const s = seed('choosePhysical random');
    const next = rng(s);
    const [L, E, k, T] = [3, 16, 4, 64];
    const load = Array.from({ length: L }, () => Array.from({ length: E }, () => next() % 100));
    const opts = { replicas: 24, groups: 4, nodes: 2, gpus: 4 };
    const r = fp8.eplbRebalance(load, opts);
    for (let layer = 0; layer < L; layer++) {
      const ids = Array.from({ length: T }, () => {
        const row: number[] = [];
        while (row.length < k) {
          const e = next() % (E + 2) - 2 < 0 ? -1 : next() % E;
          if (e < 0 || !row.includes(e)) row.push(e);
        }
        return row;
      });
      for (let sourceRank = 0; sourceRank < 4; sourceRank++) {
        const got = list(fp8.choosePhysical(i32([T, k], ids.flat()), r, { nodes: 2, gpusPerNode: 2, slotsPerRank: 6, sourceRank, layer }));
        got.forEach((slot, i) => expect(slot < 0 ? -1 : r.phy2log.data[layer * 24 + slot]).toBe(ids.flat()[i]));
      }
    }
    // The [1, E, M] form needs no layer.
    const one = fp8.eplbRebalance([load[0]], opts);
    const ids = i32([1, 2], [3, -1]);
    expect(list(fp8.choosePhysical(ids, one, { nodes: 2, gpusPerNode: 2, slotsPerRank: 6, sourceRank: 0 }))).toEqual(
      list(fp8.choosePhysical(ids, r, { nodes: 2, gpusPerNode: 2, slotsPerRank: 6, sourceRank: 0, layer: 0 })),
    );
  });

  test('hand placement: every slot maps back to its expert', () => {
    const ids = [[0, 1, 2, 3], [4, 5, 6, -1], [6, 5, 4, 3]];
    for (let src = 0; src < 4; src++) choose(ids, src).forEach((slot, i) => expect(slot < 0 ? -1 : phy2log[slot]).toBe(ids.flat()[i]));
  });

  test('arguments are checked', () => {
    const bad = (fn: () => unknown, code: string, text: RegExp) => expectFp8kitError(fn, code, text);
    bad(() => choose([[7]], 0), 'ERR_ARGUMENT', /topkIdx\[0\]\[0\] = 7 is not an expert of the placement \(0 to 6\) nor -1/);
    bad(() => choose([[0, -2]], 0), 'ERR_ARGUMENT', /topkIdx\[0\]\[1\] = -2/);
    bad(() => choose([[0]], 4), 'ERR_ARGUMENT', /options\.sourceRank must be an integer from 0 to 3; got 4/);
    bad(() => choose([[0]], 0, placement, { slotsPerRank: 2 }), 'ERR_ARGUMENT', /lists slot 10 for replica 1 of expert 1; the cluster has slots 0 to 7/);
    bad(() => choose([[0]], 0, placement, { gpusPerNode: 0 }), 'ERR_ARGUMENT', /options\.gpusPerNode must be an integer from 1 up; got 0/);
    bad(() => choose([[0]], 0, placement, { hops: 1 }), 'ERR_ARGUMENT', /unknown option 'hops'/);
    bad(() => choose([[0]], 0, { ...placement, logcnt: i32([7], [1, 2, 2, 1, 2, 0, 1]) }), 'ERR_ARGUMENT', /logcnt of expert 5 is 0; it must be from 1 to 3/);
    bad(() => choose([[0]], 0, { ...placement, logcnt: i32([6], [1, 2, 2, 1, 2, 3]) }), 'ERR_SHAPE', /placement\.logcnt must be \[7\]/);
    bad(() => choose([[0]], 0, { log2phy: placement.log2phy }), 'ERR_ARGUMENT', /placement must be \{log2phy, logcnt\}/);
    const two = fp8.eplbRebalance([[1, 2, 3, 4], [4, 3, 2, 1]], { replicas: 6, groups: 1, nodes: 1, gpus: 2 });
    bad(() => fp8.choosePhysical(i32([1, 1], [0]), two, { nodes: 1, gpusPerNode: 2, slotsPerRank: 3, sourceRank: 0 }), 'ERR_ARGUMENT', /holds 2 layers; say which with options\.layer/);
    bad(() => fp8.choosePhysical(i32([1, 1], [0]), two, { nodes: 1, gpusPerNode: 2, slotsPerRank: 3, sourceRank: 0, layer: 2 }), 'ERR_ARGUMENT', /options\.layer must be an integer from 0 to 1/);
    bad(() => fp8.choosePhysical(fp8.tensor('f32', [1, 1], new Float32Array(1)) as never, placement, { ...topo, sourceRank: 0 }), 'ERR_DTYPE', /topkIdx\.dtype must be i32/);
    bad(() => fp8.choosePhysical(i32([2], [0, 1]), placement, { ...topo, sourceRank: 0 }), 'ERR_SHAPE', /topkIdx must be \[tokens, k\]/);
  });
});
