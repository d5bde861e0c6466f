/**
 * SPEC §8: dispatch and combine along DeepSeek-V3's two-hop path (IB once per target node to the rank of
 * the same local index, then NVLink inside the node), with every byte counted per link. The `sim`
 * transport runs all ranks in this process: the plan (who sends which row where) is made here, the rows
 * are moved by the backend's copyRows / reduceRows (cpu, ref, or the CUDA kernels through cuda-emu).
 */
import type { BackendName } from '../backends.js';
import { Fp8kitError, callAsync } from '../errors.js';
import { native } from '../native.js';
import { checkOptions, choice, describe, integer } from '../options.js';
import { castToBf16 } from '../cast.js';
import { checkQuantizedOperand } from '../gemm.js';
import { quantize, QuantizedTensor } from '../quant.js';
import { allocateOutput, checkTensor, Fp8Format, Tensor } from '../tensor.js';
import { choosePhysical, ChoosePhysicalPlacement } from './placement.js';
import { checkExperts, checkTopology, Topology } from './topology.js';
import { CopyPlan, owned, output, reusable, RowList, split, starts } from './rows.js';
import { Traffic, TrafficStats } from './traffic.js';

export interface ClusterOptions {
  /** 'sim' (default): every rank in this process. ('mpi' is the multi-process transport, not in this build.) */
  transport?: 'sim';
  /** Experts of the model: physical slots, or with `placement` the logical experts. */
  numExperts: number;
  /** An eplbRebalance result (or one layer of it): topkIdx then holds logical ids, sent to the replica choosePhysical picks. */
  placement?: ChoosePhysicalPlacement & { phy2log: Tensor<'i32'> };
  /** The placement's layer, when it holds several. */
  layer?: number;
  /** Where the rows move: 'cpu' (default), 'ref', or 'cuda-emu' (native/cuda's kernels on the CPU). */
  backend?: BackendName;
  /** Cost model: bytes per second of one IB NIC (default 50e9) and of one GPU's NVLink (default 160e9), each direction. */
  ibBandwidth?: number;
  nvlBandwidth?: number;
}

export interface DispatchInput {
  /** [T, H]: bf16 or f32 (quantized here for an FP8 payload), or a 1×128 quantized tensor. */
  x: Tensor<'bf16' | 'f32'> | QuantizedTensor<'host'>;
  /** i32 [T, k]: expert ids (physical slots, or logical ids with a placement), −1 for none; no repeats within a row. */
  topkIdx: Tensor<'i32'>;
  /** f32 [T, k]. */
  topkWeights: Tensor<'f32'>;
}

export interface DispatchOptions {
  /** 'fp8' (default: data + 1×128 scales) or 'bf16'. */
  payload?: 'fp8' | 'bf16';
  /** The FP8 format when dispatch quantizes (default 'e4m3'). */
  format?: Fp8Format;
  /** Also lay the rows out expert-major, each expert's rows starting at a multiple of this (for groupedGemmContiguous). */
  expertAlignment?: number;
  /**
   * An earlier dispatch's results whose memory this one reuses where it is large enough (fresh memory
   * costs the kernel's zeroing of every page, which at DeepSeek-V3 sizes is most of a dispatch). Those
   * results are overwritten: use them no more.
   */
  into?: Received[];
}

export interface Expanded {
  /** [rows, H]: one row per (token, local expert), experts in order, each padded to the alignment with zero rows. */
  x: Tensor;
  /** f32 [rows, ceil(H/128)] for an FP8 payload (zero for padding rows). */
  scales?: Tensor<'f32'>;
  /** The local expert of each row, −1 for padding: groupedGemmContiguous's mIndices. */
  mIndices: Int32Array;
  /** Rows per local expert, padding included (multiples of the alignment). */
  counts: Int32Array;
  /** x and scales as groupedGemmContiguous's `a` (FP8 payloads). */
  a?: QuantizedTensor<'host'>;
}

export interface Received {
  /** [Nr, H]: the tokens this rank received, in order of (source rank, source token). */
  recvX: Tensor;
  /** f32 [Nr, ceil(H/128)] for an FP8 payload. */
  recvScales?: Tensor<'f32'>;
  /** i32 [Nr, 2]: each row's (source rank, source token index). */
  recvSource: Tensor<'i32'>;
  /** i32 [Nr, k]: local expert ids, −1 for experts on other ranks. */
  recvTopkIdx: Tensor<'i32'>;
  /** f32 [Nr, k]: 0 where recvTopkIdx is −1. */
  recvTopkWeights: Tensor<'f32'>;
  /** Rows per local expert (not padded). */
  tokensPerLocalExpert: Int32Array;
  expanded?: Expanded;
  /** The routes, for combine. */
  handle: DispatchHandle;
}

export interface CombineOptions {
  /** Multiply each expanded row by its top-k weight (in f32) before summing; needs the expanded layout. */
  weights?: boolean;
  /** 'tokens' ([Nr, H], one row per received token) or 'expanded'; by default 'expanded' with weights, else told by the row count. */
  layout?: 'tokens' | 'expanded';
  /** An earlier combine's results whose memory this one reuses where it is large enough (they are overwritten). */
  into?: Tensor<'bf16'>[];
}

/** What one dispatch decided; combine retraces it. Opaque to users. */
export class DispatchHandle {
  /** @internal */
  constructor(
    readonly cluster: Cluster,
    readonly hidden: number,
    readonly tokens: number[],
    readonly k: number,
    /** per source rank: [T · R], the row of (s, t) in rank r's receive order, or −1 */
    readonly recvPos: Int32Array[],
    /** per source rank: [T · nodes], 1 where the token reaches the node */
    readonly nodeHit: Uint8Array[],
    /** per receiving rank: [Nr · k], the expanded row of each slot, or −1 (null without expanded) */
    readonly expandedRow: (Int32Array | null)[],
    readonly recvCount: number[],
    readonly expandedRows: number[],
    readonly recvWeights: Float32Array[],
    readonly recvIdx: Int32Array[],
  ) {}
}

const FN = 'Cluster';

export class Cluster {
  readonly topology: Topology;
  readonly numExperts: number;
  /** Physical expert slots per rank. */
  readonly slotsPerRank: number;
  readonly backend: BackendName;
  private readonly placement?: ChoosePhysicalPlacement;
  private readonly layer?: number;
  private readonly traffic: Traffic;
  private queue: Promise<void> = Promise.resolve();
  private readonly buffers = new Map<string, { dtype: Tensor['dtype']; data: Tensor['data'] }>();

  constructor(topology: Topology, opts: ClusterOptions) {
    const o = checkOptions(opts, ['transport', 'numExperts', 'placement', 'layer', 'backend', 'ibBandwidth', 'nvlBandwidth'], FN);
    if (opts === undefined) throw new Fp8kitError('ERR_ARGUMENT', `${FN}: options.numExperts is required`);
    const transport = o.transport ?? 'sim';
    if (transport !== 'sim')
      throw new Fp8kitError(transport === 'mpi' ? 'ERR_BACKEND_UNAVAILABLE' : 'ERR_ARGUMENT', `${FN}: transport ${describe(transport)} is not available in this build (only 'sim')`);
    this.topology = checkTopology(topology, `${FN}: topology`);
    const ranks = this.ranks;
    this.backend = choice(o.backend, ['cpu', 'ref', 'cuda-emu', 'cuda'] as const, 'cpu', `${FN}: options.backend`);
    if (o.placement !== undefined) {
      const p = o.placement;
      if (p.phy2log === undefined) throw new Fp8kitError('ERR_ARGUMENT', `${FN}: options.placement needs phy2log (an eplbRebalance result)`);
      const phy2log = checkTensor(p.phy2log, `${FN}: options.placement.phy2log`, ['i32'] as const);
      const l2p = checkTensor(p.log2phy, `${FN}: options.placement.log2phy`, ['i32'] as const);
      const logical = l2p.shape[l2p.shape.length - 2];
      this.numExperts = integer(o.numExperts, `${FN}: options.numExperts`, 1, logical);
      if (this.numExperts !== logical) throw new Fp8kitError('ERR_ARGUMENT', `${FN}: options.numExperts (${this.numExperts}) disagrees with the placement's ${logical} logical experts`);
      const slots = phy2log.shape[phy2log.shape.length - 1];
      if (slots % ranks) throw new Fp8kitError('ERR_ARGUMENT', `${FN}: the placement's ${slots} physical slots do not divide over ${ranks} ranks`);
      this.slotsPerRank = slots / ranks;
      this.placement = p;
      this.layer = o.layer;
    } else {
      this.numExperts = checkExperts(o.numExperts, this.topology, `${FN}: options.numExperts`);
      this.slotsPerRank = this.numExperts / ranks;
    }
    this.traffic = new Traffic(this.topology, bandwidth(o.ibBandwidth, 50e9, 'ibBandwidth'), bandwidth(o.nvlBandwidth, 160e9, 'nvlBandwidth'));
  }

  get ranks(): number {
    return this.topology.nodes * this.topology.gpusPerNode;
  }

  /** Payload bytes per link and the cost-model time, summed since the cluster was made or resetStats(). */
  stats(): TrafficStats {
    return this.traffic.stats();
  }

  resetStats(): void {
    this.traffic.reset();
  }

  /** Sends every rank's tokens to the ranks hosting their experts; one input per rank, one result per rank. */
  dispatch(inputs: DispatchInput[], opts?: DispatchOptions): Promise<Received[]> {
    return this.exclusive(() => this.dispatchNow(inputs, opts));
  }

  private async dispatchNow(inputs: DispatchInput[], opts?: DispatchOptions): Promise<Received[]> {
    const fn = `${FN}.dispatch`;
    const o = checkOptions(opts, ['payload', 'format', 'expertAlignment', 'into'], fn);
    const payload = choice(o.payload, ['fp8', 'bf16'] as const, 'fp8', `${fn}: options.payload`);
    const format = choice(o.format, ['e4m3', 'e5m2'] as const, 'e4m3', `${fn}: options.format`);
    const alignment = o.expertAlignment === undefined ? undefined : integer(o.expertAlignment, `${fn}: options.expertAlignment`, 1);
    const R = this.ranks, G = this.topology.gpusPerNode, N = this.topology.nodes;
    if (!Array.isArray(inputs) || inputs.length !== R) throw new Fp8kitError('ERR_ARGUMENT', `${fn}: inputs must hold one entry per rank (${R}); got ${describe(inputs)}`);

    // Everything is checked before any row moves.
    const checked = inputs.map((input, s) => this.checkInput(input, s, payload, fn));
    const H = checked[0].hidden, k = checked[0].k;
    // The FP8 format each rank's rows go in: a quantized x's own, else the one dispatch quantizes to.
    const sent = (c: (typeof checked)[number]) => c.format ?? format;
    checked.forEach((c, s) => {
      if (c.hidden !== H) throw new Fp8kitError('ERR_SHAPE', `${fn}: inputs[${s}].x has ${c.hidden} columns, inputs[0].x ${H}`);
      if (c.k !== k) throw new Fp8kitError('ERR_SHAPE', `${fn}: inputs[${s}].topkIdx has ${c.k} columns, inputs[0].topkIdx ${k}`);
      if (payload === 'fp8' && sent(c) !== sent(checked[0]))
        throw new Fp8kitError('ERR_DTYPE', `${fn}: inputs[${s}].x would be sent as ${sent(c)}, inputs[0].x as ${sent(checked[0])}`);
    });
    const phys = checked.map((c, s) => this.physical(c.topk, s, fn));

    // Payload rows: FP8 data (+ scales) or bf16, in fp8kit's own memory so the copies read them in place.
    const rows = await Promise.all(checked.map(async (c) => {
      if (payload === 'bf16') {
        const x = c.x as Tensor<'bf16' | 'f32'>;
        return { data: owned(x.dtype === 'bf16' ? x : await castToBf16(x, { backend: this.backend })), scales: undefined };
      }
      const q = c.quantized ?? (await quantize(c.x as Tensor<'bf16' | 'f32'>, { tile: [1, 128], format, backend: this.backend }));
      return { data: owned(q.data as Tensor), scales: owned(q.scales as Tensor) };
    }));
    const fmt = payload === 'bf16' ? 'bf16' : (rows[0].data.dtype as Fp8Format);
    const dataBytes = payload === 'bf16' ? 2 * H : H, scaleCols = Math.ceil(H / 128), scaleBytes = payload === 'bf16' ? 0 : 4 * scaleCols;
    const rowBytes = dataBytes + scaleBytes;

    // Who reaches whom: each (s, t)'s row position at every rank it reaches (in order of (s, t) there), and its nodes.
    const T = checked.map((c) => c.tokens);
    const S = this.slotsPerRank;
    const recvPos = T.map((n) => new Int32Array(n * R).fill(-1));
    const nodeHit = T.map((n) => new Uint8Array(n * N));
    const recvCount = new Int32Array(R);
    for (let s = 0; s < R; s++)
      for (let t = 0; t < T[s]; t++)
        for (let j = 0; j < k; j++) {
          const e = phys[s][t * k + j];
          if (e < 0) continue;
          const r = (e / S) | 0;
          if (recvPos[s][t * R + r] >= 0) continue;
          recvPos[s][t * R + r] = recvCount[r]++;
          nodeHit[s][t * N + ((r / G) | 0)] = 1;
        }
    const recvStart = starts(recvCount);

    // Hop 1 (IB): rank f = (b, l) receives, in order of (s, t), the tokens of rail-l ranks of other nodes
    // bound for node b. All forwarders' buffers are one array, in order of f.
    const ibRow = T.map((n) => new Int32Array(n * N).fill(-1));
    const ib = new RowList();
    for (let f = 0; f < R; f++) {
      const b = (f / G) | 0, l = f % G;
      for (let a = 0; a < N; a++) {
        if (a === b) continue;
        const s = a * G + l;
        for (let t = 0; t < T[s]; t++)
          if (nodeHit[s][t * N + b]) {
            ibRow[s][t * N + b] = ib.n;
            ib.push(s, t);
            this.traffic.add('ib', s, f, rowBytes);
          }
      }
    }
    const ibData = await this.copy(rows.map((r) => r.data), ib, dataBytes, fmt, H, 'ib data');
    const ibScales = scaleBytes ? await this.copy(rows.map((r) => r.scales!), ib, scaleBytes, 'f32', scaleCols, 'ib scales') : undefined;

    // Hop 2 (NVLink): each rank gathers its tokens from the source on its own node, or from the forwarder
    // of the source's rail on its node (a local read where that is itself); its routing metadata with them.
    const total = recvStart[R];
    const finals = { n: total, srcOf: new Int32Array(total), rowOf: new Int32Array(total) };
    const source = allocateOutput('i32', 2 * total), idx = allocateOutput('i32', total * k), w = allocateOutput('f32', total * k);
    const perExpert = new Int32Array(R * S);
    for (let s = 0; s < R; s++) {
      const a = (s / G) | 0, weights = checked[s].weights;
      for (let t = 0; t < T[s]; t++)
        for (let r = 0; r < R; r++) {
          const at = recvPos[s][t * R + r];
          if (at < 0) continue;
          const i = recvStart[r] + at, node = (r / G) | 0, local = node === a, f = node * G + (s % G);
          finals.srcOf[i] = local ? s : R;
          finals.rowOf[i] = local ? t : ibRow[s][t * N + node];
          if ((local ? s : f) !== r) this.traffic.add('nvl', local ? s : f, r, rowBytes);
          if (s !== r) this.traffic.addFlat(s, r, rowBytes);  // the flat alternative: straight there
          source[2 * i] = s, source[2 * i + 1] = t;
          for (let j = 0; j < k; j++) {
            const e = phys[s][t * k + j], mine = e >= 0 && ((e / S) | 0) === r;
            idx[i * k + j] = mine ? e - r * S : -1;
            w[i * k + j] = mine ? weights[t * k + j] : 0;
            if (mine) perExpert[e]++;
          }
        }
    }
    const reuse = reusable(o.into, (r: Received) => [r.recvX, r.recvScales], fn);
    const recvData = split(await this.copy([...rows.map((r) => r.data), ibData], finals, dataBytes, fmt, H, undefined, reuse[0]), recvStart);
    const recvScales = ibScales ? split(await this.copy([...rows.map((r) => r.scales!), ibScales], finals, scaleBytes, 'f32', scaleCols, undefined, reuse[1]), recvStart) : undefined;

    this.traffic.endOperation();

    // Each rank's view of the received rows, and the expert-major layout.
    const results: Received[] = [];
    const expandedRow: (Int32Array | null)[] = [], expandedRows: number[] = [], recvWeightsAll: Float32Array[] = [], recvIdxAll: Int32Array[] = [];
    for (let r = 0; r < R; r++) {
      const n = recvCount[r], i0 = recvStart[r];
      const rIdx = idx.subarray(i0 * k, (i0 + n) * k), rW = w.subarray(i0 * k, (i0 + n) * k);
      recvWeightsAll.push(rW), recvIdxAll.push(rIdx);
      const received: Received = {
        recvX: recvData[r],
        recvScales: recvScales?.[r] as Tensor<'f32'> | undefined,
        recvSource: { dtype: 'i32', shape: [n, 2], data: source.subarray(2 * i0, 2 * (i0 + n)) },
        recvTopkIdx: { dtype: 'i32', shape: [n, k], data: rIdx },
        recvTopkWeights: { dtype: 'f32', shape: [n, k], data: rW },
        tokensPerLocalExpert: perExpert.slice(r * S, (r + 1) * S),
        handle: undefined as unknown as DispatchHandle,
      };
      if (alignment !== undefined) {
        const ex = await this.expand(received, alignment, n, k, dataBytes, scaleBytes, fmt, H, scaleCols);
        received.expanded = ex.expanded;
        expandedRow.push(ex.rowOfSlot), expandedRows.push(ex.expanded.mIndices.length);
      } else expandedRow.push(null), expandedRows.push(0);
      if (!received.recvScales) delete received.recvScales;
      results.push(received);
    }
    const handle = new DispatchHandle(this, H, T, k, recvPos, nodeHit, expandedRow, Array.from(recvCount), expandedRows, recvWeightsAll, recvIdxAll);
    for (const r of results) r.handle = handle;
    return results;
  }

  /**
   * Returns each rank's expert outputs (bf16) to the tokens' sources and sums them in SPEC's fixed order:
   * per (token, node) the node's rank with the source's local index sums the node's contributions in f32
   * (ascending rank, then ascending local expert) and rounds to bf16; the source adds the node partials
   * in f32 in ascending node order and rounds once. One bf16 row per (token, node) crosses IB.
   */
  combine(y: Tensor<'bf16'>[], received: Received[], opts?: CombineOptions): Promise<Tensor<'bf16'>[]> {
    return this.exclusive(() => this.combineNow(y, received, opts));
  }

  private async combineNow(y: Tensor<'bf16'>[], received: Received[], opts?: CombineOptions): Promise<Tensor<'bf16'>[]> {
    const fn = `${FN}.combine`;
    const o = checkOptions(opts, ['weights', 'layout', 'into'], fn);
    const R = this.ranks, G = this.topology.gpusPerNode, N = this.topology.nodes;
    if (!Array.isArray(received) || received.length !== R) throw new Fp8kitError('ERR_ARGUMENT', `${fn}: received must be dispatch's ${R} results`);
    const h = received[0]?.handle;
    if (!(h instanceof DispatchHandle) || h.cluster !== this || received.some((x) => x?.handle !== h))
      throw new Fp8kitError('ERR_ARGUMENT', `${fn}: received must be the results of one dispatch of this cluster`);
    if (!Array.isArray(y) || y.length !== R) throw new Fp8kitError('ERR_ARGUMENT', `${fn}: y must hold one tensor per rank (${R})`);
    const weighted = o.weights === true;
    const expandedShape = h.expandedRow[0] !== null && y.every((t, r) => t?.shape?.[0] === h.expandedRows[r]) && !y.every((t, r) => t?.shape?.[0] === h.recvCount[r]);
    const layout = choice(o.layout, ['tokens', 'expanded'] as const, weighted || expandedShape ? 'expanded' : 'tokens', `${fn}: options.layout`);
    if (weighted && layout !== 'expanded') throw new Fp8kitError('ERR_ARGUMENT', `${fn}: options.weights applies to the expanded layout`);
    if (layout === 'expanded' && h.expandedRow[0] === null) throw new Fp8kitError('ERR_ARGUMENT', `${fn}: the expanded layout needs a dispatch with expertAlignment`);
    const H = h.hidden, k = h.k;
    const ys = y.map((t, r) => {
      const c = checkTensor(t, `${fn}: y[${r}]`, ['bf16'] as const);
      const want = layout === 'tokens' ? h.recvCount[r] : h.expandedRows[r];
      if (c.shape.length !== 2 || c.shape[0] !== want || c.shape[1] !== H)
        throw new Fp8kitError('ERR_SHAPE', `${fn}: y[${r}] must be [${want}, ${H}] (${layout} layout); got [${c.shape.join(', ')}]`);
      return c;
    });
    const sources = ys.map((t) => owned(t));
    const rowBytes = 2 * H;

    // Reduction 1: at f = (b, l), one partial per (s, t) with s on rail l reaching node b, in order of
    // (s, t); all forwarders' partials are one array, in order of f.
    const partRow = h.tokens.map((n) => new Int32Array(n * N).fill(-1));
    const first = new RowList(true, weighted);
    for (let f = 0; f < R; f++) {
      const b = (f / G) | 0, l = f % G;
      for (let a = 0; a < N; a++) {
        const s = a * G + l;
        for (let t = 0; t < h.tokens[s]; t++) {
          if (!h.nodeHit[s][t * N + b]) continue;
          partRow[s][t * N + b] = first.segments;
          for (let r = b * G; r < (b + 1) * G; r++) {
            const i = h.recvPos[s][t * R + r];
            if (i < 0) continue;
            if (r !== s) this.traffic.addFlat(r, s, rowBytes);  // the flat alternative: straight back
            if (layout === 'tokens') {
              first.push(r, i);
              if (r !== f) this.traffic.add('nvl', r, f, rowBytes);
            } else {
              for (const j of slotsByExpert(h.recvIdx[r], i, k)) {
                first.push(r, h.expandedRow[r]![i * k + j], h.recvWeights[r][i * k + j]);
                if (r !== f) this.traffic.add('nvl', r, f, rowBytes);
              }
            }
          }
          first.end();
          if (a !== b) this.traffic.add('ib', f, s, rowBytes);
        }
      }
    }
    const partials = await this.reduce(sources, first, H, 'partials');

    // Reduction 2: at the source, the node partials in ascending node order.
    const second = new RowList(true);
    for (let s = 0; s < R; s++)
      for (let t = 0; t < h.tokens[s]; t++) {
        for (let b = 0; b < N; b++) if (h.nodeHit[s][t * N + b]) second.push(0, partRow[s][t * N + b]);
        second.end();
      }
    const [reuse] = reusable(o.into, (t: Tensor<'bf16'>) => [t], fn);
    const out = split(await this.reduce([partials], second, H, undefined, reuse), starts(Int32Array.from(h.tokens))) as Tensor<'bf16'>[];

    this.traffic.endOperation();
    return out;
  }

  /** One dispatch or combine at a time: they share the scratch buffers and the traffic of the operation under way. */
  private exclusive<T>(op: () => Promise<T>): Promise<T> {
    const guarded = () => op().catch((e: unknown) => {
      this.traffic.discard();  // a failed operation counts nothing
      throw e;
    });
    const run = this.queue.then(guarded, guarded);
    this.queue = run.then(() => undefined, () => undefined);
    return run;
  }

  private checkInput(input: DispatchInput, s: number, payload: 'fp8' | 'bf16', fn: string) {
    const name = `${fn}: inputs[${s}]`;
    if (input === null || typeof input !== 'object') throw new Fp8kitError('ERR_ARGUMENT', `${name} must be {x, topkIdx, topkWeights}`);
    const q = isQuantized(input.x) ? input.x : undefined;
    let tokens: number, hidden: number, format: Fp8Format | undefined;
    if (q) {
      if (payload === 'bf16') throw new Fp8kitError('ERR_ARGUMENT', `${name}.x is quantized; a 'bf16' payload takes bf16 or f32 x`);
      checkQuantizedOperand(q, 'x', name, 2);
      // the sim transport moves host rows
      const data = checkTensor(q.data, `${name}.x.data`, ['e4m3', 'e5m2'] as const);
      const scales = checkTensor(q.scales, `${name}.x.scales`, ['f32'] as const);
      if (q.tile?.[0] !== 1 || q.tile?.[1] !== 128 || (q.scaleLayout ?? 'row') !== 'row')
        throw new Fp8kitError('ERR_ARGUMENT', `${name}.x must be quantized in 1x128 tiles with row-major scales`);
      [tokens, hidden] = data.shape;
      if (scales.shape.length !== 2 || scales.shape[0] !== tokens || scales.shape[1] !== Math.ceil(hidden / 128))
        throw new Fp8kitError('ERR_SHAPE', `${name}.x.scales must be [${tokens}, ${Math.ceil(hidden / 128)}]`);
      format = data.dtype;
    } else {
      const x = checkTensor(input.x, `${name}.x`, ['bf16', 'f32'] as const);
      if (x.shape.length !== 2) throw new Fp8kitError('ERR_SHAPE', `${name}.x must be [T, H]; got [${x.shape.join(', ')}]`);
      [tokens, hidden] = x.shape;
    }
    if (hidden < 1) throw new Fp8kitError('ERR_SHAPE', `${name}.x has no columns`);
    const topk = checkTensor(input.topkIdx, `${name}.topkIdx`, ['i32'] as const);
    const weights = checkTensor(input.topkWeights, `${name}.topkWeights`, ['f32'] as const);
    if (topk.shape.length !== 2 || topk.shape[0] !== tokens || topk.shape[1] < 1)
      throw new Fp8kitError('ERR_SHAPE', `${name}.topkIdx must be [${tokens}, k]; got [${topk.shape.join(', ')}]`);
    if (weights.shape.length !== 2 || weights.shape[0] !== tokens || weights.shape[1] !== topk.shape[1])
      throw new Fp8kitError('ERR_SHAPE', `${name}.topkWeights must be [${tokens}, ${topk.shape[1]}]; got [${weights.shape.join(', ')}]`);
    return { x: input.x, quantized: q, tokens, hidden, format, k: topk.shape[1], topk, weights: weights.data };
  }

  /** Physical slots of one rank's topkIdx, checked: ids in range, none repeated in a row. */
  private physical(topk: Tensor<'i32'>, s: number, fn: string): Int32Array {
    const [T, k] = topk.shape;
    const E = this.numExperts;
    const ids = topk.data;
    for (let t = 0; t < T; t++)
      for (let j = 0; j < k; j++) {
        const e = ids[t * k + j];
        if (e < -1 || e >= E) throw new Fp8kitError('ERR_ARGUMENT', `${fn}: inputs[${s}].topkIdx[${t}][${j}] = ${e} is outside [-1, ${E})`);
        for (let i = 0; i < j; i++)
          if (e >= 0 && ids[t * k + i] === e) throw new Fp8kitError('ERR_ARGUMENT', `${fn}: inputs[${s}].topkIdx[${t}] names expert ${e} twice`);
      }
    if (!this.placement) return ids;
    const { nodes, gpusPerNode } = this.topology;
    return choosePhysical(topk, this.placement, { nodes, gpusPerNode, slotsPerRank: this.slotsPerRank, sourceRank: s, layer: this.layer }).data;
  }

  /** One copyRows: row i of the result = sources[plan.srcOf[i]] row plan.rowOf[i]. */
  private async copy(sources: Tensor[], plan: CopyPlan, rowBytes: number, dtype: Tensor['dtype'], cols: number, scratch?: string, reuse?: ArrayBufferLike): Promise<Tensor> {
    const n = plan.n;
    if (sources.some((t) => t.data.buffer === reuse)) reuse = undefined;  // never write over an input
    const data = scratch ? this.scratch(scratch, dtype, n * cols) : output(dtype, n * cols, reuse);
    if (n) await callAsync(() => native().copyRows(this.backend, sources.map((t) => t.data), sources.map((t) => t.shape[0]), rowBytes, plan.srcOf, plan.rowOf, n, data, undefined, true) as Promise<unknown>);
    return { dtype, shape: [n, cols], data } as Tensor;
  }

  /** One reduceRows: a bf16 row per segment of the plan. */
  private async reduce(sources: Tensor[], plan: RowList, H: number, scratch?: string, reuse?: ArrayBufferLike): Promise<Tensor<'bf16'>> {
    const n = plan.segments;
    if (sources.some((t) => t.data.buffer === reuse)) reuse = undefined;
    const data = scratch ? this.scratch(scratch, 'bf16', n * H) : output('bf16', n * H, reuse);
    if (n) await callAsync(() => native().reduceRows(this.backend, sources.map((t) => t.data), sources.map((t) => t.shape[0]), H, plan.offsets, plan.srcOf, plan.rowOf, plan.weights, n, data, undefined, true) as Promise<unknown>);
    return { dtype: 'bf16', shape: [n, H], data };
  }

  /**
   * A buffer of this cluster's own (IB receive buffers, node partials), kept between calls: they never
   * reach the caller, and fresh memory costs a page fault per 4 KiB on every call.
   */
  private scratch<D extends Tensor['dtype']>(name: string, dtype: D, n: number): Tensor<D>['data'] {
    let b = this.buffers.get(name);
    if (!b || b.dtype !== dtype || b.data.length < n) {
      b = { dtype, data: allocateOutput(dtype, Math.max(n, Math.ceil((b?.data.length ?? 0) * 1.25))) };
      this.buffers.set(name, b);
    }
    return b.data.subarray(0, n) as Tensor<D>['data'];
  }

  /** The expert-major layout of one rank's received rows. */
  private async expand(rec: Received, alignment: number, n: number, k: number, dataBytes: number, scaleBytes: number, fmt: Tensor['dtype'], H: number, scaleCols: number) {
    const L = this.slotsPerRank;
    const counts = new Int32Array(L), start = new Int32Array(L + 1);
    for (let e = 0; e < L; e++) counts[e] = Math.ceil(rec.tokensPerLocalExpert[e] / alignment) * alignment;
    for (let e = 0; e < L; e++) start[e + 1] = start[e] + counts[e];
    const total = start[L];
    const mIndices = new Int32Array(total).fill(-1), srcOf = new Int32Array(total).fill(-1), rowOf = new Int32Array(total);
    const rowOfSlot = new Int32Array(n * k).fill(-1), fill = new Int32Array(L);
    const idx = rec.recvTopkIdx.data;
    for (let i = 0; i < n; i++)
      for (let j = 0; j < k; j++) {
        const e = idx[i * k + j];
        if (e < 0) continue;
        const row = start[e] + fill[e]++;
        mIndices[row] = e, srcOf[row] = 0, rowOf[row] = i, rowOfSlot[i * k + j] = row;
      }
    const plan = { n: total, srcOf, rowOf };
    const x = await this.copy([rec.recvX], plan, dataBytes, fmt, H);
    const expanded: Expanded = { x, mIndices, counts };
    if (scaleBytes && rec.recvScales) {
      const scales = await this.copy([rec.recvScales], plan, scaleBytes, 'f32', scaleCols);
      expanded.scales = scales as Tensor<'f32'>;
      expanded.a = { data: x as Tensor<Fp8Format>, scales: scales as Tensor<'f32'>, tile: [1, 128], format: fmt as Fp8Format, scaleFormat: 'f32', scaleLayout: 'row' };
    }
    return { expanded, rowOfSlot };
  }
}

/** Slots of received row i holding a local expert, in ascending expert order. */
function slotsByExpert(idx: Int32Array, i: number, k: number): number[] {
  const slots: number[] = [];
  for (let j = 0; j < k; j++) if (idx[i * k + j] >= 0) slots.push(j);
  return slots.sort((a, b) => idx[i * k + a] - idx[i * k + b]);
}

function isQuantized(x: unknown): x is QuantizedTensor<'host'> {
  return x !== null && typeof x === 'object' && 'scales' in x && 'data' in x && 'tile' in x;
}

function bandwidth(v: unknown, fallback: number, name: string): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) throw new Fp8kitError('ERR_ARGUMENT', `${FN}: options.${name} must be a positive number of bytes per second`);
  return v;
}
