/**
 * SPEC §8: dispatch and combine along DeepSeek-V3's two-hop path (IB once per target node to the rank of
 * the same local index, then NVLink inside the node), with every byte counted per link. The plan (who
 * sends which row where, plan.ts) is the same for both transports; the rows are moved by the backend's
 * copyRows / reduceRows (cpu, ref, or the CUDA kernels through cuda-emu). The `sim` transport runs all
 * ranks in this process; `mpi` (mpi.ts) one rank per process under mpirun.
 */
import type { BackendName } from '../backends.js';
import { Fp8kitError, callAsync } from '../errors.js';
import { mpiStatus, native } from '../native.js';
import { checkOptions, choice, describe, integer } from '../options.js';
import { castToBf16 } from '../cast.js';
import { checkQuantizedOperand } from '../gemm.js';
import { quantize, QuantizedTensor } from '../quant.js';
import { allocateOutput, checkTensor, Fp8Format, Tensor } from '../tensor.js';
import { choosePhysical, ChoosePhysicalPlacement } from './placement.js';
import { checkExperts, checkTopology, Topology } from './topology.js';
import { blocks, Comm, gatherAtZero, H_OP, HEADER_INTS, MpiLink, OP_COMBINE, OP_DISPATCH, rankCombine, rankDispatch, sameEverywhere } from './mpi.js';
import { DispatchPlan, expandLayout, planCombine, planDispatch } from './plan.js';
import { CopyPlan, owned, output, reusable, RowList, split, starts } from './rows.js';
import { Traffic, TrafficStats } from './traffic.js';

export interface ClusterOptions {
  /** 'sim' (default): every rank in this process. 'mpi': one rank per process under mpirun (lib/moe/mpi.ts). */
  transport?: 'sim' | 'mpi';
  /**
   * mpi: the node of this process — 'shared' (default: its shared-memory domain, MPI_COMM_TYPE_SHARED),
   * 'block' (world rank / gpusPerNode), a node number, or a function of the world rank. The environment's
   * FP8KIT_MPI_NODE gives the same choices. One host can so stand for several nodes.
   */
  nodeOf?: 'shared' | 'block' | number | ((worldRank: number) => number);
  /** mpi: how long an exchange waits for its peers before failing with ERR_TRANSPORT (default 60000, or FP8KIT_MPI_TIMEOUT_MS). */
  timeoutMs?: number;
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
    /** mpi: the dispatch's operation number, and this process's rank */
    readonly seq = 0,
    readonly rank?: number,
  ) {}
}

const FN = 'Cluster';

/** One rank's checked dispatch input. */
type Checked = ReturnType<Cluster['checkInput']>;

export class Cluster {
  readonly topology: Topology;
  readonly numExperts: number;
  /** Physical expert slots per rank. */
  readonly slotsPerRank: number;
  readonly backend: BackendName;
  /** 'sim': every rank here; 'mpi': this process is one rank (see connect()). */
  readonly transport: 'sim' | 'mpi';
  private readonly placement?: ChoosePhysicalPlacement;
  private readonly layer?: number;
  private readonly traffic: Traffic;
  private queue: Promise<void> = Promise.resolve();
  private readonly buffers = new Map<string, { dtype: Tensor['dtype']; data: Tensor['data'] }>();
  private readonly mpiNode: number = -1;
  private readonly timeoutSeconds: number = 60;
  private link?: Promise<MpiLink>;
  private connected?: MpiLink;

  constructor(topology: Topology, opts: ClusterOptions) {
    const o = checkOptions(opts, ['transport', 'numExperts', 'placement', 'layer', 'backend', 'ibBandwidth', 'nvlBandwidth', 'nodeOf', 'timeoutMs'], FN);
    if (opts === undefined) throw new Fp8kitError('ERR_ARGUMENT', `${FN}: options.numExperts is required`);
    this.transport = choice(o.transport, ['sim', 'mpi'] as const, 'sim', `${FN}: options.transport`);
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
    if (this.transport === 'mpi') {
      const s = mpiStatus();
      if (!s.available) throw new Fp8kitError('ERR_BACKEND_UNAVAILABLE', `${FN}: the mpi transport is unavailable here: ${s.reason}`);
      this.mpiNode = nodeOption(o.nodeOf ?? process.env.FP8KIT_MPI_NODE, this.topology);
      const ms = o.timeoutMs ?? (process.env.FP8KIT_MPI_TIMEOUT_MS ? Number(process.env.FP8KIT_MPI_TIMEOUT_MS) : 60_000);
      if (typeof ms !== 'number' || !(ms > 0) || !Number.isFinite(ms)) throw new Fp8kitError('ERR_ARGUMENT', `${FN}: options.timeoutMs must be a positive number of milliseconds; got ${describe(ms)}`);
      this.timeoutSeconds = ms / 1000;
    } else if (o.nodeOf !== undefined || o.timeoutMs !== undefined) {
      throw new Fp8kitError('ERR_ARGUMENT', `${FN}: options.nodeOf and options.timeoutMs belong to the mpi transport`);
    }
  }

  get ranks(): number {
    return this.topology.nodes * this.topology.gpusPerNode;
  }

  /**
   * mpi: makes this process's communicators, with every other process of the job (each must make its
   * cluster with the same topology); resolves to the cluster once its rank is known. dispatch and combine
   * connect by themselves. sim: resolves at once.
   */
  connect(): Promise<this> {
    if (this.transport === 'sim') return Promise.resolve(this);
    this.link ??= MpiLink.connect(this.mpiNode, this.topology.nodes, this.topology.gpusPerNode, this.timeoutSeconds).then((l) => (this.connected = l));
    return this.link.then(() => this);
  }

  /** mpi: this process's rank (node · gpusPerNode + local), once connect() resolved. */
  get rank(): number {
    if (this.transport === 'sim') throw new Fp8kitError('ERR_ARGUMENT', `${FN}: a sim cluster holds every rank; rank belongs to the mpi transport`);
    if (!this.connected) throw new Fp8kitError('ERR_ARGUMENT', `${FN}: the rank is known once connect() has resolved`);
    return this.connected.rank;
  }

  /** @internal mpi: every rank's numbers at rank 0, undefined elsewhere (the dispatch benchmark's gather and release). */
  async gatherAtZero(values: Float64Array, timeoutSeconds: number): Promise<Float64Array[] | undefined> {
    return gatherAtZero(await this.mpiLink(), this.ranks, values, timeoutSeconds);
  }

  /** mpi: this process's link, connecting first if need be. */
  private async mpiLink(): Promise<MpiLink> {
    await this.connect();
    return this.connected!;
  }

  /** Payload bytes per link and the cost-model time, summed since the cluster was made or resetStats() (mpi: the whole cluster's, the same on every rank). */
  stats(): TrafficStats {
    return this.traffic.stats();
  }

  resetStats(): void {
    this.traffic.reset();
  }

  /** Sends every rank's tokens to the ranks hosting their experts; one input per rank, one result per rank (mpi: this process's only). */
  dispatch(inputs: DispatchInput[], opts?: DispatchOptions): Promise<Received[]> {
    return this.exclusive(() => this.dispatchNow(inputs, opts));
  }

  private async dispatchNow(inputs: DispatchInput[], opts?: DispatchOptions): Promise<Received[]> {
    const fn = `${FN}.dispatch`;
    const o = checkOptions(opts, ['payload', 'format', 'expertAlignment', 'into'], fn);
    const payload = choice(o.payload, ['fp8', 'bf16'] as const, 'fp8', `${fn}: options.payload`);
    const format = choice(o.format, ['e4m3', 'e5m2'] as const, 'e4m3', `${fn}: options.format`);
    const alignment = o.expertAlignment === undefined ? undefined : integer(o.expertAlignment, `${fn}: options.expertAlignment`, 1);
    if (this.transport === 'mpi') return this.dispatchMpi(inputs, payload, format, alignment, o.into, fn);
    const R = this.ranks;
    if (!Array.isArray(inputs) || inputs.length !== R) throw new Fp8kitError('ERR_ARGUMENT', `${fn}: inputs must hold one entry per rank (${R}); got ${describe(inputs)}`);

    // Everything is checked before any row moves.
    const checked = inputs.map((input, s) => this.checkInput(input, s, payload, fn));
    const H = checked[0].hidden, k = checked[0].k;
    // The FP8 format each rank's rows go in: a quantized x's own, else the one dispatch quantizes to.
    const sent = (c: Checked) => c.format ?? format;
    checked.forEach((c, s) => {
      if (c.hidden !== H) throw new Fp8kitError('ERR_SHAPE', `${fn}: inputs[${s}].x has ${c.hidden} columns, inputs[0].x ${H}`);
      if (c.k !== k) throw new Fp8kitError('ERR_SHAPE', `${fn}: inputs[${s}].topkIdx has ${c.k} columns, inputs[0].topkIdx ${k}`);
      if (payload === 'fp8' && sent(c) !== sent(checked[0]))
        throw new Fp8kitError('ERR_DTYPE', `${fn}: inputs[${s}].x would be sent as ${sent(c)}, inputs[0].x as ${sent(checked[0])}`);
    });
    const phys = checked.map((c, s) => this.physical(c.topk, s, s, fn));
    const rows = await Promise.all(checked.map((c) => this.payloadRows(c, payload, format)));
    const fmt = payload === 'bf16' ? 'bf16' : (rows[0].data.dtype as Fp8Format);
    const g = rowGeometry(payload, H);
    const plan = planDispatch(this.topology, this.slotsPerRank, k, phys, checked.map((c) => c.weights), checked.map((c) => c.tokens), g.rowBytes, this.traffic);

    // Hop 1 (IB) into every forwarder's rows, one list in order of forwarder; hop 2 (NVLink) from the
    // sources on each rank's node or the forwarders of their rails (a local read where that is itself).
    const ibData = await this.copy(rows.map((r) => r.data), plan.ib, g.dataBytes, fmt, H, 'ib data');
    const ibScales = g.scaleBytes ? await this.copy(rows.map((r) => r.scales!), plan.ib, g.scaleBytes, 'f32', g.scaleCols, 'ib scales') : undefined;
    const reuse = reusable(o.into, (r: Received) => [r.recvX, r.recvScales], fn);
    const recvData = split(await this.copy([...rows.map((r) => r.data), ibData], plan.finals, g.dataBytes, fmt, H, undefined, reuse[0]), plan.recvStart);
    const recvScales = ibScales ? split(await this.copy([...rows.map((r) => r.scales!), ibScales], plan.finals, g.scaleBytes, 'f32', g.scaleCols, undefined, reuse[1]), plan.recvStart) : undefined;
    this.traffic.endOperation();

    const results: Received[] = [], expanded: (Layout | null)[] = [];
    for (let r = 0; r < R; r++) {
      const [x, layout] = await this.received(plan, r, recvData[r], recvScales?.[r] as Tensor<'f32'> | undefined, alignment, k, fmt, H);
      results.push(x), expanded.push(layout);
    }
    const handle = this.handleOf(plan, checked.map((c) => c.tokens), H, k, expanded, 0);
    for (const r of results) r.handle = handle;
    return results;
  }

  /** mpi: this process's part of the dispatch the whole cluster plans alike (lib/moe/mpi.ts). */
  private async dispatchMpi(inputs: DispatchInput[], payload: 'fp8' | 'bf16', format: Fp8Format, alignment: number | undefined, into: Received[] | undefined, fn: string): Promise<Received[]> {
    const link = await this.mpiLink();
    const me = link.rank, R = this.ranks, G = this.topology.gpusPerNode, N = this.topology.nodes;
    const seq = link.begin(fn);
    // This rank's checks; a failure is announced in the header, so every rank fails before data moves.
    let c: Checked | undefined, mine: Int32Array | undefined, failure: unknown;
    try {
      if (!Array.isArray(inputs) || inputs.length !== 1)
        throw new Fp8kitError('ERR_ARGUMENT', `${fn}: under the mpi transport inputs holds this process's entry only (rank ${me}); got ${describe(inputs)}`);
      c = this.checkInput(inputs[0], 0, payload, fn);
      mine = this.physical(c.topk, me, 0, fn);
    } catch (e) {
      failure = e;
    }
    const header = new Int32Array(HEADER_INTS);
    header[H_OP] = OP_DISPATCH;
    if (c) {
      header.set([N, G, this.numExperts, c.hidden, c.k, c.tokens, payload === 'bf16' ? 1 : 0, FORMATS.indexOf(c.format ?? format), alignment ?? 0], D_NODES);
    }
    const all = await link.agree(header, failure, R, seq, fn);
    sameEverywhere(all, D_NODES, 'nodes', 'ERR_ARGUMENT', fn);
    sameEverywhere(all, D_GPUS, 'gpusPerNode', 'ERR_ARGUMENT', fn);
    sameEverywhere(all, D_EXPERTS, 'numExperts', 'ERR_ARGUMENT', fn);
    sameEverywhere(all, D_HIDDEN, 'a hidden size (x columns) of', 'ERR_SHAPE', fn);
    sameEverywhere(all, D_K, 'topkIdx with k =', 'ERR_SHAPE', fn);
    sameEverywhere(all, D_PAYLOAD, 'payload', 'ERR_ARGUMENT', fn, (v) => (v ? "'bf16'" : "'fp8'"));
    if (payload === 'fp8') sameEverywhere(all, D_FORMAT, 'rows sent as', 'ERR_DTYPE', fn, (v) => FORMATS[v]);
    sameEverywhere(all, D_ALIGN, 'expertAlignment', 'ERR_ARGUMENT', fn, (v) => (v ? String(v) : 'none'));
    const checked = c!, H = checked.hidden, k = checked.k;
    const T = all.map((h) => h[D_TOKENS]);

    // Everyone's routing: the slots and weights of every token, so every rank makes the same plan.
    const route = new Int32Array(2 * T[me] * k);
    route.set(mine!);
    route.set(new Int32Array(checked.weights.buffer, checked.weights.byteOffset, checked.weights.length), T[me] * k);
    const routes = T.map((t, r) => (r === me ? route : new Int32Array(2 * t * k)));
    await link.exchange(Comm.Cluster, routes.map((x, r) => (r === me || !route.length ? null : route)), routes.map((x, r) => (r === me || !x.length ? null : x)), seq, 1);
    const phys = routes.map((x, r) => x.subarray(0, T[r] * k));
    const weights = routes.map((x, r) => new Float32Array(x.buffer, x.byteOffset + 4 * T[r] * k, T[r] * k));

    const rows = await this.payloadRows(checked, payload, format);
    const fmt = payload === 'bf16' ? 'bf16' : (rows.data.dtype as Fp8Format);
    const g = rowGeometry(payload, H);
    const plan = planDispatch(this.topology, this.slotsPerRank, k, phys, weights, T, g.rowBytes, this.traffic);
    const mv = rankDispatch(plan, me, N, G);
    const reuse = reusable(into, (r: Received) => [r.recvX, r.recvScales], fn);

    // Data and scales together, one exchange a hop: hop 1 over the rail, hop 2 over the node.
    const parts: { src: Tensor; rowBytes: number; dtype: Tensor['dtype']; cols: number; reuse?: ArrayBufferLike }[] = [{ src: rows.data, rowBytes: g.dataBytes, dtype: fmt, cols: H, reuse: reuse[0] }];
    if (g.scaleBytes) parts.push({ src: rows.scales!, rowBytes: g.scaleBytes, dtype: 'f32', cols: g.scaleCols, reuse: reuse[1] });
    const perPeer = (ts: Tensor[], counts: Int32Array) => {
      const b = ts.map((t) => blocks(t, counts));
      return Array.from(counts, (_, q) => b.map((x) => x[q]));
    };
    const ibSends: Tensor[] = [], nvlSends: Tensor[] = [], out: Tensor[] = [];
    for (const [i, x] of parts.entries())
      ibSends.push(await this.copy([x.src], { n: mv.ibSend.rowOf.length, srcOf: new Int32Array(mv.ibSend.rowOf.length), rowOf: mv.ibSend.rowOf }, x.rowBytes, x.dtype, x.cols, `mpi ib send ${i}`));
    const ibRows = parts.map((x, i) => this.scratchTensor(`mpi ib ${i}`, x.dtype, plan.ibStart[me + 1] - plan.ibStart[me], x.cols));
    await link.exchange(Comm.Rail, perPeer(ibSends, mv.ibSend.count), perPeer(ibRows, mv.ibRecv), seq, 2);
    for (const [i, x] of parts.entries())
      nvlSends.push(await this.copy([x.src, ibRows[i]], { n: mv.nvlSend.rowOf.length, srcOf: mv.nvlSend.srcOf, rowOf: mv.nvlSend.rowOf }, x.rowBytes, x.dtype, x.cols, `mpi nvl send ${i}`));
    const nvlRecv = parts.map((x, i) => Array.from(mv.nvlRecv, (n, q) => this.scratchTensor(`mpi nvl ${i} ${q}`, x.dtype, n, x.cols)));
    await link.exchange(Comm.Node, perPeer(nvlSends, mv.nvlSend.count), Array.from(mv.nvlRecv, (n, q) => nvlRecv.map((r) => (n ? r[q].data : null))), seq, 4);
    for (const [i, x] of parts.entries()) out.push(await this.copy([...nvlRecv[i], x.src, ibRows[i]], { n: plan.recvCount[me], ...mv.assemble }, x.rowBytes, x.dtype, x.cols, undefined, x.reuse));
    const recvX = out[0], recvScales = out[1] as Tensor<'f32'> | undefined;
    this.traffic.endOperation();

    const [result, layout] = await this.received(plan, me, recvX, recvScales, alignment, k, fmt, H);
    // Combine replans every rank's expanded rows: their layout (not their data) for all.
    const S = this.slotsPerRank;
    const expanded = T.map((_, r) => (r === me ? layout : alignment === undefined ? null : expandLayout(plan.idx.subarray(plan.recvStart[r] * k, plan.recvStart[r + 1] * k), plan.perExpert.slice(r * S, (r + 1) * S), alignment, plan.recvCount[r], k)));
    result.handle = this.handleOf(plan, T, H, k, expanded, seq, me);
    return [result];
  }

  /** Payload rows of one rank: FP8 data (+ scales) or bf16, in fp8kit's own memory so the copies read them in place. */
  private async payloadRows(c: Checked, payload: 'fp8' | 'bf16', format: Fp8Format): Promise<{ data: Tensor; scales?: Tensor }> {
    if (payload === 'bf16') {
      const x = c.x as Tensor<'bf16' | 'f32'>;
      return { data: owned(x.dtype === 'bf16' ? x : await castToBf16(x, { backend: this.backend })) };
    }
    const q = c.quantized ?? (await quantize(c.x as Tensor<'bf16' | 'f32'>, { tile: [1, 128], format, backend: this.backend }));
    return { data: owned(q.data as Tensor), scales: owned(q.scales as Tensor) };
  }

  /** Rank r's view of its received rows (the plan's routing metadata), with the expert-major layout. */
  private async received(plan: DispatchPlan, r: number, recvX: Tensor, recvScales: Tensor<'f32'> | undefined, alignment: number | undefined, k: number, fmt: Tensor['dtype'], H: number): Promise<[Received, Layout | null]> {
    const n = plan.recvCount[r], i0 = plan.recvStart[r], S = this.slotsPerRank;
    const received: Received = {
      recvX,
      recvScales,
      recvSource: { dtype: 'i32', shape: [n, 2], data: plan.source.subarray(2 * i0, 2 * (i0 + n)) },
      recvTopkIdx: { dtype: 'i32', shape: [n, k], data: plan.idx.subarray(i0 * k, (i0 + n) * k) },
      recvTopkWeights: { dtype: 'f32', shape: [n, k], data: plan.w.subarray(i0 * k, (i0 + n) * k) },
      tokensPerLocalExpert: plan.perExpert.slice(r * S, (r + 1) * S),
      handle: undefined as unknown as DispatchHandle,
    };
    const layout = alignment === undefined ? null : expandLayout(received.recvTopkIdx.data, received.tokensPerLocalExpert, alignment, n, k);
    if (layout) received.expanded = await this.expand(received, layout, fmt, H);
    if (!received.recvScales) delete received.recvScales;
    return [received, layout];
  }

  private handleOf(plan: DispatchPlan, T: number[], H: number, k: number, expanded: (Layout | null)[], seq: number, rank?: number): DispatchHandle {
    const R = this.ranks;
    const slice = <A extends Int32Array | Float32Array>(a: A, r: number) => a.subarray(plan.recvStart[r] * k, plan.recvStart[r + 1] * k) as A;
    return new DispatchHandle(this, H, T, k, plan.recvPos, plan.nodeHit, expanded.map((e) => e?.rowOfSlot ?? null), Array.from(plan.recvCount),
      expanded.map((e) => e?.mIndices.length ?? 0), Array.from({ length: R }, (_, r) => slice(plan.w, r)), Array.from({ length: R }, (_, r) => slice(plan.idx, r)), seq, rank);
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
    if (this.transport === 'mpi') return this.combineMpi(y, received, o, fn);
    const R = this.ranks;
    if (!Array.isArray(received) || received.length !== R) throw new Fp8kitError('ERR_ARGUMENT', `${fn}: received must be dispatch's ${R} results`);
    const h = this.handleFor(received, fn);
    if (!Array.isArray(y) || y.length !== R) throw new Fp8kitError('ERR_ARGUMENT', `${fn}: y must hold one tensor per rank (${R})`);
    const { layout, weighted } = combineLayout(h, y, o, fn, Array.from({ length: R }, (_, r) => r));
    const ys = y.map((t, r) => checkY(h, t, r, layout, fn));
    const plan = planCombine(this.topology, h, layout, weighted, 2 * h.hidden, this.traffic);
    const partials = await this.reduce(ys.map((t) => owned(t)), plan.first, h.hidden, 'partials');
    const [reuse] = reusable(o.into, (t: Tensor<'bf16'>) => [t], fn);
    const out = split(await this.reduce([partials], plan.second, h.hidden, undefined, reuse), starts(Int32Array.from(h.tokens))) as Tensor<'bf16'>[];
    this.traffic.endOperation();
    return out;
  }

  /** mpi: this process's part of the combine the whole cluster plans alike. */
  private async combineMpi(y: Tensor<'bf16'>[], received: Received[], o: CombineOptions, fn: string): Promise<Tensor<'bf16'>[]> {
    const link = await this.mpiLink();
    const me = link.rank, R = this.ranks, G = this.topology.gpusPerNode, N = this.topology.nodes;
    const seq = link.begin(fn);
    let h: DispatchHandle | undefined, ys: Tensor<'bf16'> | undefined, layout: 'tokens' | 'expanded' = 'tokens', weighted = false, failure: unknown;
    try {
      if (!Array.isArray(received) || received.length !== 1) throw new Fp8kitError('ERR_ARGUMENT', `${fn}: under the mpi transport received is this process's dispatch result only`);
      h = this.handleFor(received, fn);
      if (!Array.isArray(y) || y.length !== 1) throw new Fp8kitError('ERR_ARGUMENT', `${fn}: under the mpi transport y holds this process's tensor only (rank ${me})`);
      ({ layout, weighted } = combineLayout(h, y, o, fn, [me]));
      ys = checkY(h, y[0], me, layout, fn);
    } catch (e) {
      failure = e;
    }
    const header = new Int32Array(HEADER_INTS);
    header[H_OP] = OP_COMBINE;
    if (h && ys) header.set([h.seq, layout === 'expanded' ? 1 : 0, weighted ? 1 : 0, h.hidden, ys.shape[0]], C_DISPATCH);
    const all = await link.agree(header, failure, R, seq, fn);
    sameEverywhere(all, C_DISPATCH, 'the results of dispatch', 'ERR_ARGUMENT', fn, (v) => `#${v}`);
    sameEverywhere(all, C_LAYOUT, 'the layout', 'ERR_ARGUMENT', fn, (v) => (v ? "'expanded'" : "'tokens'"));
    sameEverywhere(all, C_WEIGHTS, 'weights', 'ERR_ARGUMENT', fn, (v) => String(v === 1));
    const H = h!.hidden;
    for (let r = 0; r < R; r++) {
      const want = layout === 'tokens' ? h!.recvCount[r] : h!.expandedRows[r];
      if (all[r][C_ROWS] !== want) throw new Fp8kitError('ERR_SHAPE', `${fn}: rank ${r}'s y has ${all[r][C_ROWS]} rows; its dispatch results need ${want} (${layout} layout)`);
    }

    const plan = planCombine(this.topology, h!, layout, weighted, 2 * H, this.traffic);
    const mv = rankCombine(plan, h!.tokens, h!.nodeHit, me, N, G, weighted);
    const own = owned(ys!);
    // Reduction 1 at each forwarder of the node, over NVLink; reduction 2 at the source, over the rail.
    const ySend = await this.copy([own], { n: mv.ySend.rowOf.length, srcOf: new Int32Array(mv.ySend.rowOf.length), rowOf: mv.ySend.rowOf }, 2 * H, 'bf16', H, 'mpi y send');
    const yRecv = Array.from(mv.yRecv, (n, q) => this.scratchTensor(`mpi y ${q}`, 'bf16', n, H));
    await link.exchange(Comm.Node, blocks(ySend, mv.ySend.count), yRecv.map((t) => (t.shape[0] ? t.data : null)), seq, 6);
    const partials = await this.reduce([...yRecv, own], mv.first, H, 'partials');
    const a = (me / G) | 0;
    const partRecv = Array.from(mv.partRecv, (n, b) => (b === a ? partials : this.scratchTensor(`mpi partials ${b}`, 'bf16', n, H)));
    await link.exchange(Comm.Rail, blocks(partials, mv.partCount, a), partRecv.map((t, b) => (b === a || !t.shape[0] ? null : t.data)), seq, 7);
    const [reuse] = reusable(o.into, (t: Tensor<'bf16'>) => [t], fn);
    const out = await this.reduce(partRecv, mv.second, H, undefined, reuse);
    this.traffic.endOperation();
    return [out];
  }

  private handleFor(received: Received[], fn: string): DispatchHandle {
    const h = received[0]?.handle;
    if (!(h instanceof DispatchHandle) || h.cluster !== this || received.some((x) => x?.handle !== h))
      throw new Fp8kitError('ERR_ARGUMENT', `${fn}: received must be the results of one dispatch of this cluster`);
    return h;
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
      // the cluster moves host rows
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

  /** Physical slots of rank s's topkIdx (input `at`), checked: ids in range, none repeated in a row. */
  private physical(topk: Tensor<'i32'>, s: number, at: number, fn: string): Int32Array {
    const [T, k] = topk.shape;
    const E = this.numExperts;
    const ids = topk.data;
    for (let t = 0; t < T; t++)
      for (let j = 0; j < k; j++) {
        const e = ids[t * k + j];
        if (e < -1 || e >= E) throw new Fp8kitError('ERR_ARGUMENT', `${fn}: inputs[${at}].topkIdx[${t}][${j}] = ${e} is outside [-1, ${E})`);
        for (let i = 0; i < j; i++)
          if (e >= 0 && ids[t * k + i] === e) throw new Fp8kitError('ERR_ARGUMENT', `${fn}: inputs[${at}].topkIdx[${t}] names expert ${e} twice`);
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

  private scratchTensor<D extends Tensor['dtype']>(name: string, dtype: D, rows: number, cols: number): Tensor<D> {
    return { dtype, shape: [rows, cols], data: this.scratch(name, dtype, rows * cols) } as Tensor<D>;
  }

  /** The expert-major layout of one rank's received rows. */
  private async expand(rec: Received, layout: Layout, fmt: Tensor['dtype'], H: number): Promise<Expanded> {
    const { counts, mIndices, plan } = layout;
    const x = await this.copy([rec.recvX], plan, fmt === 'bf16' ? 2 * H : H, fmt, H);
    const expanded: Expanded = { x, mIndices, counts };
    if (rec.recvScales) {
      const cols = rec.recvScales.shape[1];
      const scales = await this.copy([rec.recvScales], plan, 4 * cols, 'f32', cols);
      expanded.scales = scales as Tensor<'f32'>;
      expanded.a = { data: x as Tensor<Fp8Format>, scales: scales as Tensor<'f32'>, tile: [1, 128], format: fmt as Fp8Format, scaleFormat: 'f32', scaleLayout: 'row' };
    }
    return expanded;
  }
}

type Layout = ReturnType<typeof expandLayout>;
const FORMATS: Fp8Format[] = ['e4m3', 'e5m2'];
// Header fields after the common ones (mpi.ts): a dispatch's, and a combine's.
const D_NODES = 4, D_GPUS = 5, D_EXPERTS = 6, D_HIDDEN = 7, D_K = 8, D_TOKENS = 9, D_PAYLOAD = 10, D_FORMAT = 11, D_ALIGN = 12;
const C_DISPATCH = 4, C_LAYOUT = 5, C_WEIGHTS = 6, C_ROWS = 8;

/** Bytes of one payload row: its data, its scales (FP8), and both. */
function rowGeometry(payload: 'fp8' | 'bf16', H: number) {
  const dataBytes = payload === 'bf16' ? 2 * H : H, scaleCols = Math.ceil(H / 128), scaleBytes = payload === 'bf16' ? 0 : 4 * scaleCols;
  return { dataBytes, scaleCols, scaleBytes, rowBytes: dataBytes + scaleBytes };
}

/** combine's layout: the option, else 'expanded' with weights or when the rows say so. */
function combineLayout(h: DispatchHandle, y: Tensor<'bf16'>[], o: CombineOptions, fn: string, ranks: number[]) {
  const weighted = o.weights === true;
  const expandedShape = h.expandedRow[0] !== null && y.every((t, i) => t?.shape?.[0] === h.expandedRows[ranks[i]]) && !y.every((t, i) => t?.shape?.[0] === h.recvCount[ranks[i]]);
  const layout = choice(o.layout, ['tokens', 'expanded'] as const, weighted || expandedShape ? 'expanded' : 'tokens', `${fn}: options.layout`);
  if (weighted && layout !== 'expanded') throw new Fp8kitError('ERR_ARGUMENT', `${fn}: options.weights applies to the expanded layout`);
  if (layout === 'expanded' && h.expandedRow[0] === null) throw new Fp8kitError('ERR_ARGUMENT', `${fn}: the expanded layout needs a dispatch with expertAlignment`);
  return { layout, weighted };
}

/** Rank r's y, checked against its dispatch results. */
function checkY(h: DispatchHandle, t: unknown, r: number, layout: 'tokens' | 'expanded', fn: string): Tensor<'bf16'> {
  const c = checkTensor(t, `${fn}: y[${h.rank === undefined ? r : 0}]`, ['bf16'] as const);
  const want = layout === 'tokens' ? h.recvCount[r] : h.expandedRows[r];
  if (c.shape.length !== 2 || c.shape[0] !== want || c.shape[1] !== h.hidden)
    throw new Fp8kitError('ERR_SHAPE', `${fn}: y[${h.rank === undefined ? r : 0}] must be [${want}, ${h.hidden}] (${layout} layout); got [${c.shape.join(', ')}]`);
  return c;
}

/** The mpi transport's node option: 'shared', 'block', a node number, or a function of the world rank. */
function nodeOption(v: unknown, topo: Topology): number {
  const world = Number(process.env.OMPI_COMM_WORLD_RANK ?? process.env.PMIX_RANK ?? process.env.PMI_RANK ?? NaN);
  if (v === undefined || v === 'shared') return -1;
  if (v === 'block') {
    if (!Number.isInteger(world)) throw new Fp8kitError('ERR_ARGUMENT', `${FN}: nodeOf 'block' needs the world rank (OMPI_COMM_WORLD_RANK): run under mpirun`);
    return Math.floor(world / topo.gpusPerNode);
  }
  const node = typeof v === 'function' ? (v as (rank: number) => unknown)(world) : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  return integer(node, `${FN}: options.nodeOf`, 0, undefined, topo.nodes);
}

function isQuantized(x: unknown): x is QuantizedTensor<'host'> {
  return x !== null && typeof x === 'object' && 'scales' in x && 'data' in x && 'tile' in x;
}

function bandwidth(v: unknown, fallback: number, name: string): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) throw new Fp8kitError('ERR_ARGUMENT', `${FN}: options.${name} must be a positive number of bytes per second`);
  return v;
}
