/**
 * SPEC §8's plans: who sends which row where, for every rank of the cluster, from every rank's routing
 * alone. Both transports make the same plan and count its traffic the same way — `sim` on all ranks'
 * inputs in one process, `mpi` on every process from the routing all ranks exchange first — so they
 * move the same rows in the same order, and their results and stats agree bit for bit.
 */
import { allocateOutput } from '../tensor.js';
import type { Topology } from './topology.js';
import { RowList, starts } from './rows.js';
import { Traffic } from './traffic.js';

/** A dispatch's routes, for every rank. */
export interface DispatchPlan {
  /** per source rank: [T · R], the row of (s, t) in rank r's receive order, or −1 */
  recvPos: Int32Array[];
  /** per source rank: [T · nodes], 1 where the token reaches the node */
  nodeHit: Uint8Array[];
  recvCount: Int32Array;
  recvStart: Int32Array;
  /** Hop 1: every forwarder's IB receive rows (source s, token t), in order of forwarder f, then (s, t). */
  ib: RowList;
  /** Where forwarder f's rows start in ib (R + 1 entries). */
  ibStart: Int32Array;
  /** per source rank: [T · nodes], the token's row in ib for that node, or −1 */
  ibRow: Int32Array[];
  /** Hop 2: every rank's rows in receive order: source s (< R) row t, or ib (R) row ibRow. */
  finals: { n: number; srcOf: Int32Array; rowOf: Int32Array };
  /** per received row: (source rank, token); its local expert ids (−1: not here) and weights. */
  source: Int32Array;
  idx: Int32Array;
  w: Float32Array;
  /** [R · slotsPerRank]: rows per expert slot. */
  perExpert: Int32Array;
}

/**
 * The two-hop routes of every token (physical expert slots `phys[s]`, weights `weights[s]`, `tokens[s]`
 * per rank), counting `rowBytes` per row on each link of `traffic`.
 */
export function planDispatch(topo: Topology, slotsPerRank: number, k: number, phys: Int32Array[], weights: Float32Array[], tokens: number[], rowBytes: number,
  traffic: Traffic): DispatchPlan {
  const G = topo.gpusPerNode, N = topo.nodes, R = N * G, S = slotsPerRank, T = tokens;
  // Who reaches whom: each (s, t)'s row position at every rank it reaches (in order of (s, t) there), and its nodes.
  const recvPos = T.map((n) => new Int32Array(n * R).fill(-1));
  const nodeHit = T.map((n) => new Uint8Array(n * N));
  const slotRank = T.map((n) => new Int32Array(n * k));  // the rank of each top-k slot, −1 for none
  const recvCount = new Int32Array(R);
  for (let s = 0; s < R; s++) {
    const ps = phys[s], rp = recvPos[s], hit = nodeHit[s], sr = slotRank[s];
    for (let t = 0; t < T[s]; t++)
      for (let j = 0; j < k; j++) {
        const e = ps[t * k + j];
        const r = e < 0 ? -1 : (e / S) | 0;
        sr[t * k + j] = r;
        if (r < 0 || rp[t * R + r] >= 0) continue;
        rp[t * R + r] = recvCount[r]++;
        hit[t * N + ((r / G) | 0)] = 1;
      }
  }
  const recvStart = starts(recvCount);

  // Hop 1 (IB): rank f = (b, l) receives, in order of (s, t), the tokens of rail-l ranks of other nodes
  // bound for node b. All forwarders' buffers are one list, in order of f.
  const ibRow = T.map((n) => new Int32Array(n * N).fill(-1));
  const ib = new RowList();
  const ibStart = new Int32Array(R + 1);
  for (let f = 0; f < R; f++) {
    const b = (f / G) | 0, l = f % G;
    ibStart[f] = ib.n;
    for (let a = 0; a < N; a++) {
      if (a === b) continue;
      const s = a * G + l, before = ib.n;
      for (let t = 0; t < T[s]; t++)
        if (nodeHit[s][t * N + b]) {
          ibRow[s][t * N + b] = ib.n;
          ib.push(s, t);
        }
      if (ib.n > before) traffic.add('ib', s, f, (ib.n - before) * rowBytes);
    }
  }
  ibStart[R] = ib.n;

  // Hop 2 (NVLink): each rank gathers its tokens from the source on its own node, or from the forwarder
  // of the source's rail on its node (a local read where that is itself); its routing metadata with them.
  const total = recvStart[R];
  const finals = { n: total, srcOf: new Int32Array(total), rowOf: new Int32Array(total) };
  const src = allocateOutput('i32', 2 * total), ids = allocateOutput('i32', total * k), ws = allocateOutput('f32', total * k);
  const perExpert = new Int32Array(R * S);
  const links = new LinkRows(R);
  const { srcOf, rowOf } = finals;
  for (let s = 0; s < R; s++) {
    const a = (s / G) | 0, weight = weights[s], ps = phys[s], rp = recvPos[s], ir = ibRow[s], sr = slotRank[s];
    for (let t = 0; t < T[s]; t++)
      for (let r = 0; r < R; r++) {
        const at = rp[t * R + r];
        if (at < 0) continue;
        const i = recvStart[r] + at, node = (r / G) | 0, local = node === a, f = node * G + (s % G);
        srcOf[i] = local ? s : R;
        rowOf[i] = local ? t : ir[t * N + node];
        if ((local ? s : f) !== r) links.nvl[(local ? s : f) * R + r]++;
        if (s !== r) links.flat[s * R + r]++;  // the flat alternative: straight there
        src[2 * i] = s, src[2 * i + 1] = t;
        for (let j = 0; j < k; j++) {
          const mine = sr[t * k + j] === r, e = ps[t * k + j];
          ids[i * k + j] = mine ? e - r * S : -1;
          ws[i * k + j] = mine ? weight[t * k + j] : 0;
          if (mine) perExpert[e]++;
        }
      }
  }
  links.count(traffic, rowBytes);
  return { recvPos, nodeHit, recvCount, recvStart, ib, ibStart, ibRow, finals, source: src, idx: ids, w: ws, perExpert };
}

/** One rank's expert-major layout: which received row goes to which expanded row (−1: padding). */
export function expandLayout(idx: Int32Array, tokensPerLocalExpert: Int32Array, alignment: number, n: number, k: number) {
  const L = tokensPerLocalExpert.length;
  const counts = new Int32Array(L), start = new Int32Array(L + 1);
  for (let e = 0; e < L; e++) counts[e] = Math.ceil(tokensPerLocalExpert[e] / alignment) * alignment;
  for (let e = 0; e < L; e++) start[e + 1] = start[e] + counts[e];
  const total = start[L];
  const mIndices = new Int32Array(total).fill(-1), srcOf = new Int32Array(total).fill(-1), rowOf = new Int32Array(total);
  const rowOfSlot = new Int32Array(n * k).fill(-1), fill = new Int32Array(L);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < k; j++) {
      const e = idx[i * k + j];
      if (e < 0) continue;
      const row = start[e] + fill[e]++;
      mIndices[row] = e, srcOf[row] = 0, rowOf[row] = i, rowOfSlot[i * k + j] = row;
    }
  return { counts, mIndices, plan: { n: total, srcOf, rowOf }, rowOfSlot };
}

/** What combine needs of a dispatch (DispatchHandle holds it). */
export interface Routes {
  tokens: number[];
  k: number;
  recvPos: Int32Array[];
  nodeHit: Uint8Array[];
  expandedRow: (Int32Array | null)[];
  recvWeights: Float32Array[];
  recvIdx: Int32Array[];
}

export interface CombinePlan {
  /** Reduction 1: one segment per (forwarder f, (s, t)) of y rows (rank r, row, weight), in order of f. */
  first: RowList;
  /** Where forwarder f's segments start in first (R + 1 entries). */
  firstStart: Int32Array;
  /** per source rank: [T · nodes], the token's partial (segment of first) for that node, or −1 */
  partRow: Int32Array[];
  /** Reduction 2: one segment per (s, t) of partials, in ascending node order. */
  second: RowList;
}

/** Combine's two reductions in SPEC's fixed order, counting 2·H bytes per row on each link of `traffic`. */
export function planCombine(topo: Topology, h: Routes, layout: 'tokens' | 'expanded', weighted: boolean, rowBytes: number, traffic: Traffic): CombinePlan {
  const G = topo.gpusPerNode, N = topo.nodes, R = N * G, k = h.k;
  // Reduction 1: at f = (b, l), one partial per (s, t) with s on rail l reaching node b, in order of
  // (s, t); all forwarders' partials are one list, in order of f.
  const partRow = h.tokens.map((n) => new Int32Array(n * N).fill(-1));
  const first = new RowList(true, weighted);
  const firstStart = new Int32Array(R + 1);
  const links = new LinkRows(R);
  for (let f = 0; f < R; f++) {
    const b = (f / G) | 0, l = f % G;
    firstStart[f] = first.segments;
    for (let a = 0; a < N; a++) {
      const s = a * G + l;
      for (let t = 0; t < h.tokens[s]; t++) {
        if (!h.nodeHit[s][t * N + b]) continue;
        partRow[s][t * N + b] = first.segments;
        for (let r = b * G; r < (b + 1) * G; r++) {
          const i = h.recvPos[s][t * R + r];
          if (i < 0) continue;
          if (r !== s) links.flat[r * R + s]++;  // the flat alternative: straight back
          if (layout === 'tokens') {
            first.push(r, i);
            if (r !== f) links.nvl[r * R + f]++;
          } else {
            for (const j of slotsByExpert(h.recvIdx[r], i, k)) {
              first.push(r, h.expandedRow[r]![i * k + j], h.recvWeights[r][i * k + j]);
              if (r !== f) links.nvl[r * R + f]++;
            }
          }
        }
        first.end();
        if (a !== b) links.ib[f * R + s]++;
      }
    }
  }
  firstStart[R] = first.segments;
  links.count(traffic, rowBytes);

  // Reduction 2: at the source, the node partials in ascending node order.
  const second = new RowList(true);
  for (let s = 0; s < R; s++)
    for (let t = 0; t < h.tokens[s]; t++) {
      for (let b = 0; b < N; b++) if (h.nodeHit[s][t * N + b]) second.push(0, partRow[s][t * N + b]);
      second.end();
    }
  return { first, firstStart, partRow, second };
}

/** Rows per link (from · R + to) of one plan, counted into the traffic once per link at the end. */
class LinkRows {
  readonly ib: Float64Array;
  readonly nvl: Float64Array;
  readonly flat: Float64Array;
  constructor(private readonly R: number) {
    this.ib = new Float64Array(R * R);
    this.nvl = new Float64Array(R * R);
    this.flat = new Float64Array(R * R);
  }
  count(traffic: Traffic, rowBytes: number): void {
    const R = this.R;
    for (let i = 0; i < R * R; i++) {
      const from = (i / R) | 0, to = i % R;
      if (this.ib[i]) traffic.add('ib', from, to, this.ib[i] * rowBytes);
      if (this.nvl[i]) traffic.add('nvl', from, to, this.nvl[i] * rowBytes);
      if (this.flat[i]) traffic.addFlat(from, to, this.flat[i] * rowBytes);
    }
  }
}

/** Slots of received row i holding a local expert, in ascending expert order. */
function slotsByExpert(idx: Int32Array, i: number, k: number): number[] {
  const slots: number[] = [];
  for (let j = 0; j < k; j++) if (idx[i * k + j] >= 0) slots.push(j);
  return slots.sort((a, b) => idx[i * k + a] - idx[i * k + b]);
}
