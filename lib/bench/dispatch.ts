/**
 * `fp8kit bench dispatch`: SPEC §8's Cluster.dispatch and Cluster.combine (sim transport: every rank in
 * this process, rows moved by the backend's copyRows / reduceRows) on DeepSeek-V3's shape and routing,
 * next to a two-thread memory copy measured in the same run, with the traffic and the cost model's time
 * for H800-like links beside DeepEP's published figures.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import type { BackendName } from '../backends.js';
import { backendOption } from '../backends.js';
import { castFromFp8, castToBf16 } from '../cast.js';
import { Fp8kitError } from '../errors.js';
import { Cluster, DispatchInput, Received } from '../moe/cluster.js';
import { routeSync } from '../moe/route.js';
import type { TrafficStats } from '../moe/traffic.js';
import { quantizeSync, QuantizedTensor } from '../quant.js';
import { allocateOutput, Tensor, tensor } from '../tensor.js';
import { collectGarbage, copyOf, median, timeAsync, timeMs, uniforms } from './harness.js';

export interface MoeShape {
  nodes: number;
  gpus: number;
  /** Tokens per rank. */
  tokens: number;
  hidden: number;
  experts: number;
  topk: number;
  groups: number;
  topkGroups: number;
  payload: 'fp8' | 'bf16';
  backend: BackendName;
  seed: number;
}

export interface DispatchBenchOptions extends MoeShape {
  reps: number;
}

/** DeepSeek-V3 (report §3.5, DeepEP's tests): 4096 tokens a rank, hidden 7168, top-8 of 256 experts in 8 groups, 4 kept. */
export const DISPATCH_DEFAULTS: DispatchBenchOptions = {
  nodes: 2, gpus: 8, tokens: 4096, hidden: 7168, experts: 256, topk: 8, groups: 8, topkGroups: 4, payload: 'fp8', backend: 'cpu', seed: 1, reps: 5,
};

export const MOE_OPTIONS_USAGE = `      --nodes N        nodes (default 2)
      --gpus G         ranks per node (default 8)
      --tokens T       tokens per rank
      --hidden H       hidden size (default 7168)
      --experts E      experts, a multiple of the ranks and of --groups (default 256)
      --topk K         experts per token (default 8)
      --groups G       expert groups (default 8)
      --topk-groups K  groups a token may use (default 4)
      --payload P      fp8 (default: e4m3 data + 1x128 f32 scales) or bf16
      --seed S         routing and data seed (default 1)
      --backend B      where the rows move: cpu (default), ref, cuda-emu
      --json           print the results as JSON
`;

export const DISPATCH_USAGE = `  bench dispatch       Cluster.dispatch + combine (sim transport) next to a two-thread memory copy, with traffic and the H800 cost model
${MOE_OPTIONS_USAGE.replace('--tokens T       tokens per rank', '--tokens T       tokens per rank (default 4096)')}      --reps R         timed repetitions (default 5)
      --transport T    sim (default) or mpi: run under mpirun, one process per rank; rank 0 prints mpi next to sim
      --node-of N      mpi: how ranks find their node: shared (default: the shared-memory domain), block
                       (world rank / --gpus: one host standing for several nodes), or this process's node
                       memory (FP8 payload, peak RSS measured): --tokens 1024 4.4 GB, --tokens 2048 9.5 GB;
                       the default 4096 needs about 19 GB (extrapolated); smaller: --tokens 512 (3.9 GB)
`;

/** The MoE options of `bench dispatch` and `simulate` (and, in `extra`, the names that take a value there too). */
export function parseMoeArgs<T extends MoeShape>(args: string[], cmd: string, defaults: T, extra: Record<string, (v: string) => void> = {}): T {
  const o = { ...defaults };
  const ints: Record<string, keyof MoeShape> = {
    nodes: 'nodes', gpus: 'gpus', tokens: 'tokens', hidden: 'hidden', experts: 'experts', topk: 'topk', groups: 'groups', 'topk-groups': 'topkGroups', seed: 'seed',
  };
  if ('reps' in o) ints.reps = 'reps' as keyof MoeShape;
  const names = [...Object.keys(ints), 'payload', 'backend', ...Object.keys(extra).map((k) => k.replace(/^--/, ''))];
  let parsed;
  try {
    parsed = parseArgs({ args, strict: true, options: { json: { type: 'boolean' }, ...Object.fromEntries(names.map((n) => [n, { type: 'string' as const }])) } });
  } catch (e) {
    throw new Fp8kitError('ERR_ARGUMENT', `${cmd}: ${(e as Error).message}`);
  }
  for (const [name, text] of Object.entries(parsed.values)) {
    if (name === 'json' || typeof text !== 'string') continue;
    if (name in ints) {
      const v = Number(text);
      if (!Number.isSafeInteger(v) || v < 1) throw new Fp8kitError('ERR_ARGUMENT', `${cmd}: --${name} needs a positive integer; got '${text}'`);
      (o as Record<string, unknown>)[ints[name]] = v;
    } else if (name === 'payload') {
      if (text !== 'fp8' && text !== 'bf16') throw new Fp8kitError('ERR_ARGUMENT', `${cmd}: --payload must be fp8 or bf16; got '${text}'`);
      o.payload = text;
    } else if (name === 'backend') o.backend = backendOption(text, cmd);
    else extra[`--${name}`](text);
  }
  const R = o.nodes * o.gpus;
  if (o.experts % R) throw new Fp8kitError('ERR_ARGUMENT', `${cmd}: --experts (${o.experts}) must be a multiple of the ${R} ranks`);
  if (o.experts % o.groups) throw new Fp8kitError('ERR_ARGUMENT', `${cmd}: --experts (${o.experts}) must be a multiple of --groups (${o.groups})`);
  if (o.topkGroups > o.groups) throw new Fp8kitError('ERR_ARGUMENT', `${cmd}: --topk-groups (${o.topkGroups}) is more than --groups (${o.groups})`);
  if (o.topk > o.topkGroups * (o.experts / o.groups))
    throw new Fp8kitError('ERR_ARGUMENT', `${cmd}: --topk (${o.topk}) is more than the ${o.topkGroups * (o.experts / o.groups)} experts of ${o.topkGroups} groups`);
  return o;
}

/** Each rank's routing (or the listed ranks'): DeepSeek-V3's gate (sigmoid, group-limited, route scale 2.5) over seeded random logits, with a seeded bias. */
export function makeRouting(o: MoeShape, ranks?: number[]): { topkIdx: Tensor<'i32'>; topkWeights: Tensor<'f32'> }[] {
  const R = o.nodes * o.gpus;
  const u = uniforms(0x5eed ^ o.seed);
  const bias = tensor('f32', [o.experts], Float32Array.from({ length: o.experts }, () => 0.1 * (u() - 0.5)));
  return (ranks ?? Array.from({ length: R }, (_, r) => r)).map((r) => {
    const next = uniforms((o.seed * 7919 + r * 104729 + 1) >>> 0);
    const logits = Float32Array.from({ length: o.tokens * o.experts }, () => Math.sqrt(-2 * Math.log(next())) * Math.cos(2 * Math.PI * next()));
    return routeSync(tensor('f32', [o.tokens, o.experts], logits), { topk: o.topk, groups: o.groups, topkGroups: o.topkGroups, routeScale: 2.5, bias, backend: o.backend });
  });
}

/** Seeded bf16 [T, H] activations, standard normal, in fp8kit's output memory. */
export function makeActivations(o: MoeShape, rank: number): Tensor<'bf16'> {
  const next = uniforms((o.seed * 31337 + rank * 2654435761 + 7) >>> 0);
  // A table of 65536 pairs of bf16 normals, picked by a cheap generator: two elements per 32-bit word.
  const f = new Float32Array(1 << 17);
  for (let i = 0; i < f.length; i++) f[i] = Math.sqrt(-2 * Math.log(next())) * Math.cos(2 * Math.PI * next());
  const bits = new Uint32Array(f.buffer);
  const pairs = new Uint32Array(1 << 16);
  for (let i = 0; i < pairs.length; i++) pairs[i] = (bits[2 * i] >>> 16) | (bits[2 * i + 1] & 0xffff0000);
  const n = o.tokens * o.hidden;
  const data = allocateOutput('bf16', n);
  const words = new Uint32Array(data.buffer, data.byteOffset, n >> 1);
  let s = (next() * 4294967296) >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    words[i] = pairs[s & 0xffff];
  }
  if (n & 1) data[n - 1] = pairs[0] & 0xffff;
  return { dtype: 'bf16', shape: [o.tokens, o.hidden], data };
}

export interface RoutingSummary {
  /** Distinct nodes / ranks a token reaches, averaged over every rank's tokens. */
  nodesPerToken: number;
  remoteNodesPerToken: number;
  ranksPerToken: number;
  /** Experts (top-k slots) per reached node. */
  expertsPerNode: number;
  /** Payload bytes of one row: data + scales (fp8: H + 4·ceil(H/128)), or 2·H (bf16). */
  dispatchRowBytes: number;
  combineRowBytes: number;
  /** Tokens × remote nodes reached (rows over IB, each direction), and × ranks reached other than the source (flat). */
  ibRows: number;
  flatIbRows: number;
  /** The busiest source rank's (token, node) pairs, own node included: DeepEP's test counts these as RDMA tokens. */
  deepepRdmaRowsBusiestRank: number;
}

/** What the routing implies, counted from topkIdx and the topology alone (not from Cluster). */
export function summarizeRouting(o: MoeShape, routing: { topkIdx: Tensor<'i32'> }[]): RoutingSummary {
  const R = o.nodes * o.gpus, perRank = o.experts / R;
  let nodes = 0, remote = 0, ranks = 0, slots = 0, ib = 0, flatIb = 0, busiest = 0;
  routing.forEach(({ topkIdx }, s) => {
    const [T, k] = topkIdx.shape;
    const home = Math.floor(s / o.gpus);
    let mine = 0;
    for (let t = 0; t < T; t++) {
      const rankSet = new Set<number>(), nodeSet = new Set<number>();
      for (let j = 0; j < k; j++) {
        const e = topkIdx.data[t * k + j];
        if (e < 0) continue;
        const r = Math.floor(e / perRank);
        rankSet.add(r), nodeSet.add(Math.floor(r / o.gpus));
        slots++;
      }
      nodes += nodeSet.size, ranks += rankSet.size, mine += nodeSet.size;
      const far = nodeSet.size - (nodeSet.has(home) ? 1 : 0);
      remote += far, ib += far;
      for (const r of rankSet) if (Math.floor(r / o.gpus) !== home) flatIb++;
    }
    busiest = Math.max(busiest, mine);
  });
  const tokens = R * o.tokens;
  return {
    nodesPerToken: nodes / tokens, remoteNodesPerToken: remote / tokens, ranksPerToken: ranks / tokens, expertsPerNode: slots / nodes,
    dispatchRowBytes: o.payload === 'fp8' ? o.hidden + 4 * Math.ceil(o.hidden / 128) : 2 * o.hidden,
    combineRowBytes: 2 * o.hidden,
    ibRows: ib, flatIbRows: flatIb, deepepRdmaRowsBusiestRank: busiest,
  };
}

export interface OperationStats {
  ibBytes: number;
  nvlBytes: number;
  flatIbBytes: number;
  flatNvlBytes: number;
  /** ibBytes / flatIbBytes. */
  ibOverFlat: number;
  /** The cost model's seconds (H800-like: 50 GB/s per IB NIC, 160 GB/s NVLink per GPU), and for the flat path. */
  modelSeconds: number;
  flatModelSeconds: number;
  /** The busiest IB NIC's bytes (in or out) and NVLink port's bytes. */
  busiestNicBytes: number;
  busiestNvlBytes: number;
  /** What bounds the model: the slower of the busiest NIC and the busiest NVLink port. */
  modelBound: 'ib' | 'nvl';
  /** busiestNicBytes / modelSeconds. */
  modelIbGbps: number;
  /** DeepEP's counting: the busiest rank's tokens × nodes reached (own node included) × row bytes, over modelSeconds. */
  modelDeepepRdmaGbps: number;
}

/** The busiest port of each kind, from one operation's links. */
function ports(stats: TrafficStats, R: number): { ib: number; nvl: number } {
  const out = { ib: [new Float64Array(R), new Float64Array(R)], nvl: [new Float64Array(R), new Float64Array(R)] };
  for (const l of stats.links) {
    out[l.kind][0][l.from] += l.bytes;
    out[l.kind][1][l.to] += l.bytes;
  }
  const most = (a: Float64Array[]) => Math.max(0, ...a[0], ...a[1]);
  return { ib: most(out.ib), nvl: most(out.nvl) };
}

export function operationStats(stats: TrafficStats, R: number, deepepRdmaBytes: number): OperationStats {
  const p = ports(stats, R);
  const ibBound = p.ib / 50e9 >= p.nvl / 160e9;
  return {
    ibBytes: stats.ibBytes, nvlBytes: stats.nvlBytes, flatIbBytes: stats.flatIbBytes, flatNvlBytes: stats.flatNvlBytes,
    ibOverFlat: stats.flatIbBytes ? stats.ibBytes / stats.flatIbBytes : 0,
    modelSeconds: stats.modelSeconds, flatModelSeconds: stats.flatModelSeconds,
    busiestNicBytes: p.ib, busiestNvlBytes: p.nvl, modelBound: ibBound ? 'ib' : 'nvl',
    modelIbGbps: stats.modelSeconds ? p.ib / stats.modelSeconds / 1e9 : 0,
    modelDeepepRdmaGbps: stats.modelSeconds ? deepepRdmaBytes / stats.modelSeconds / 1e9 : 0,
  };
}

export interface Timing {
  medianS: number;
  minS: number;
  maxS: number;
}

function timing(xs: number[]): Timing {
  return { medianS: median(xs), minS: Math.min(...xs), maxS: Math.max(...xs) };
}

export interface DispatchBenchResult {
  options: DispatchBenchOptions;
  ranks: number;
  routing: RoutingSummary;
  /** What the timed dispatch does: the inputs are quantized beforehand, so it moves rows only. */
  timed: string;
  dispatch: Timing & OperationStats & { payloadBytes: number; gbps: number; ofCopy: number; ofHugeCopy: number };
  combine: Timing & OperationStats & { payloadBytes: number; gbps: number; ofCopy: number; ofHugeCopy: number };
  /** Dispatch + combine: payload bytes of both over the median of their summed times. */
  both: Timing & { payloadBytes: number; gbps: number; ofCopy: number; ofHugeCopy: number };
  /** The same with new outputs per call (the rows above reuse the previous call's results with `into`). */
  newOutputs: Record<'dispatch' | 'combine' | 'both', Timing & { payloadBytes: number; gbps: number; ofCopy: number; ofHugeCopy: number }>;
  /** The FP8 payload's 1×128 quantization of every rank's bf16 input (not in the dispatch time), per rep. */
  quantize?: Timing & { inputBytes: number };
  /** Two-thread memory copies timed in turn with the reps: bytes copied per second (each read once, written once). */
  copy: { bytes: number; gbps: number; readWriteGbps: number; hugeGbps: number; hugeReadWriteGbps: number };
  memory: {
    /** Peak resident set of this process (VmHWM), and the bytes of the tensors held at the peak. */
    peakRssBytes: number;
    inputBytes: number;
    receivedBytes: number;
    yBytes: number;
    combinedBytes: number;
  };
  /** DeepEP's published internode normal-kernel figures (H800, CX7 400 Gb/s), for comparison. */
  deepep: { ep: number; dispatchGbps: number; combineGbps: number }[];
}

export const DEEPEP_INTERNODE = [
  { ep: 16, dispatchGbps: 43, combineGbps: 43 },
  { ep: 32, dispatchGbps: 58, combineGbps: 57 },
  { ep: 64, dispatchGbps: 51, combineGbps: 50 },
];

function peakRss(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : process.memoryUsage().rss;
  } catch {
    return process.memoryUsage().rss;
  }
}

function bytesOf(ts: (Tensor | undefined)[]): number {
  return ts.reduce((s, t) => s + (t ? t.data.byteLength : 0), 0);
}

/** Builds the cluster, the routing and the inputs (quantized beforehand for an FP8 payload). */
export function prepareInputs(o: MoeShape): { cluster: Cluster; inputs: DispatchInput[]; bf16: Tensor<'bf16'>[]; routing: ReturnType<typeof makeRouting> } {
  const R = o.nodes * o.gpus;
  const cluster = new Cluster({ nodes: o.nodes, gpusPerNode: o.gpus }, { numExperts: o.experts, backend: o.backend });
  const routing = makeRouting(o);
  const bf16 = Array.from({ length: R }, (_, r) => makeActivations(o, r));
  const inputs = bf16.map((x, r): DispatchInput => ({
    x: o.payload === 'fp8' ? (quantizeSync(x, { tile: [1, 128], backend: o.backend }) as QuantizedTensor<'host'>) : x,
    topkIdx: routing[r].topkIdx, topkWeights: routing[r].topkWeights,
  }));
  return { cluster, inputs, bf16, routing };
}

/** y for combine: each rank's received rows as bf16 (FP8 data cast without its scales; bf16 as is). */
export async function combineInputs(received: Received[], backend: BackendName): Promise<Tensor<'bf16'>[]> {
  return Promise.all(received.map(async (r) =>
    // a copy of bf16 rows too: later dispatches write over the received rows (into)
    r.recvX.dtype === 'bf16' ? await castToBf16(r.recvX as Tensor<'bf16'>, { backend }) : ((await castFromFp8(r.recvX as Tensor<'e4m3'>, { out: 'bf16', backend })) as Tensor<'bf16'>)));
}

export async function benchDispatch(o: DispatchBenchOptions): Promise<DispatchBenchResult> {
  const R = o.nodes * o.gpus;
  collectGarbage();
  const { cluster, inputs, bf16, routing } = prepareInputs(o);
  const summary = summarizeRouting(o, routing);
  const inputBytes = bytesOf(bf16) + (o.payload === 'fp8' ? inputs.reduce((s, i) => s + bytesOf([(i.x as QuantizedTensor<'host'>).data as Tensor, (i.x as QuantizedTensor<'host'>).scales as Tensor]), 0) : 0);

  // The warm-up dispatch and combine: their traffic, and y (prepared once, outside the timing).
  cluster.resetStats();
  let received: Received[] | undefined = await cluster.dispatch(inputs, { payload: o.payload });
  const dStats = cluster.stats();
  const receivedBytes = received.reduce((s, r) => s + bytesOf([r.recvX, r.recvScales]), 0);
  const y = await combineInputs(received, o.backend);
  const yBytes = o.payload === 'bf16' ? 0 : bytesOf(y);
  cluster.resetStats();
  let combined: Tensor<'bf16'>[] | undefined = await cluster.combine(y, received, {});
  const cStats = cluster.stats();
  const combinedBytes = bytesOf(combined);
  // The warm-up's results are the first timed call's `into`.
  let lastRec: Received[] | undefined = received, lastOut: Tensor<'bf16'>[] | undefined = combined;
  received = combined = undefined;

  const dBytes = dStats.ibBytes + dStats.nvlBytes, cBytes = cStats.ibBytes + cStats.nvlBytes;
  // The copies: at most 256 MiB a side (beyond every cache), between typed arrays and between huge-page buffers.
  const copyBytes = Math.min(2 * Math.max(dBytes, cBytes, 1 << 20), 1 << 29);
  const plain = copyOf(copyBytes), huge = copyOf(copyBytes, true);
  plain.copy(), huge.copy();

  const td: number[] = [], tc: number[] = [], tq: number[] = [], cp: number[] = [], ch: number[] = [], tdNew: number[] = [], tcNew: number[] = [];
  for (let rep = 0; rep < o.reps; rep++) {
    collectGarbage();
    cp.push(timeMs(plain.copy) / 1e3);
    ch.push(timeMs(huge.copy) / 1e3);
    if (o.payload === 'fp8') tq.push(timeMs(() => bf16.forEach((x) => quantizeSync(x, { tile: [1, 128], backend: o.backend }))) / 1e3);
    collectGarbage();
    // As a server loop runs it: each call reuses the memory of the previous results (`into`) ...
    let rec: Received[] | undefined;
    td.push(await timeAsync(async () => (rec = await cluster.dispatch(inputs, { payload: o.payload, into: lastRec }))));
    tc.push(await timeAsync(async () => (lastOut = await cluster.combine(y, rec!, { into: lastOut }))));
    lastRec = rec;
    // ... and with new outputs per call, which the kernel must zero first.
    collectGarbage();
    let fresh: Received[] | undefined;
    tdNew.push(await timeAsync(async () => (fresh = await cluster.dispatch(inputs, { payload: o.payload }))));
    tcNew.push(await timeAsync(() => cluster.combine(y, fresh!, {})));
    fresh = undefined;
  }
  lastRec = lastOut = undefined;
  const copied = plain.copyBytes / 2;
  const copyGbps = copied / median(cp) / 1e9, hugeGbps = copied / median(ch) / 1e9;
  const deepep = (rows: number, bytes: number) => rows * bytes;
  const op = (stats: TrafficStats, t: number[], bytes: number, rowBytes: number) => {
    const tm = timing(t), gbps = bytes / tm.medianS / 1e9;
    return { ...tm, ...operationStats(stats, R, deepep(summary.deepepRdmaRowsBusiestRank, rowBytes)), payloadBytes: bytes, gbps, ofCopy: gbps / copyGbps, ofHugeCopy: gbps / hugeGbps };
  };
  const sums = td.map((t, i) => t + tc[i]);
  const bothT = timing(sums), bothGbps = (dBytes + cBytes) / bothT.medianS / 1e9;
  return {
    options: o, ranks: R, routing: summary,
    timed: o.payload === 'fp8' ? 'dispatch of inputs quantized beforehand (1x128 e4m3): row movement only; the quantization is timed apart' : 'dispatch of bf16 inputs, sent as is',
    dispatch: op(dStats, td, dBytes, summary.dispatchRowBytes),
    combine: op(cStats, tc, cBytes, summary.combineRowBytes),
    both: { ...bothT, payloadBytes: dBytes + cBytes, gbps: bothGbps, ofCopy: bothGbps / copyGbps, ofHugeCopy: bothGbps / hugeGbps },
    newOutputs: (() => {
      const one = (t: number[], bytes: number) => {
        const tm = timing(t), gbps = bytes / tm.medianS / 1e9;
        return { ...tm, payloadBytes: bytes, gbps, ofCopy: gbps / copyGbps, ofHugeCopy: gbps / hugeGbps };
      };
      return { dispatch: one(tdNew, dBytes), combine: one(tcNew, cBytes), both: one(tdNew.map((t, i) => t + tcNew[i]), dBytes + cBytes) };
    })(),
    quantize: tq.length ? { ...timing(tq), inputBytes: bytesOf(bf16) } : undefined,
    copy: { bytes: copied, gbps: copyGbps, readWriteGbps: 2 * copyGbps, hugeGbps, hugeReadWriteGbps: 2 * hugeGbps },
    memory: { peakRssBytes: peakRss(), inputBytes, receivedBytes, yBytes, combinedBytes },
    deepep: DEEPEP_INTERNODE,
  };
}

const gb = (b: number) => (b >= 1e9 ? `${(b / 1e9).toFixed(3)} GB` : b >= 1e6 ? `${(b / 1e6).toFixed(2)} MB` : `${(b / 1e3).toFixed(2)} kB`);
const mb = gb;
const ms = (s: number) => `${(1e3 * s).toFixed(2)} ms`;
const us = (s: number) => `${(1e6 * s).toFixed(1)} µs`;
const pct = (x: number) => `${(100 * x).toFixed(0)}%`;

export function formatDispatch(r: DispatchBenchResult): string {
  const o = r.options;
  const lines = [
    `dispatch: ${o.nodes} x ${o.gpus} ranks (sim transport, backend ${o.backend}), ${o.tokens} tokens/rank, hidden ${o.hidden}, top-${o.topk} of ${o.experts} experts, ${o.groups} groups / ${o.topkGroups} kept, ${o.payload} payload, ${o.reps} reps`,
    `timed: ${r.timed}; combine of y = recvX as bf16 (tokens layout, prepared once)`,
    `routing: ${r.routing.nodesPerToken.toFixed(3)} nodes (${r.routing.remoteNodesPerToken.toFixed(3)} remote), ${r.routing.ranksPerToken.toFixed(3)} ranks per token; ${r.routing.expertsPerNode.toFixed(3)} experts per reached node`,
    `copy (2 threads, ${mb(r.copy.bytes)} copied): ${r.copy.gbps.toFixed(1)} GB/s copied (${r.copy.readWriteGbps.toFixed(1)} read + write); huge pages ${r.copy.hugeGbps.toFixed(1)} (${r.copy.hugeReadWriteGbps.toFixed(1)})`,
    '',
    `${'operation'.padEnd(18)} ${'median'.padStart(10)} ${'min'.padStart(10)} ${'max'.padStart(10)} ${'payload'.padStart(11)} ${'GB/s'.padStart(7)} ${'of copy'.padStart(8)} ${'of huge'.padStart(8)}`,
    ...(['dispatch', 'combine', 'both'] as const).map((k) => {
      const x = r[k];
      return `${(k === 'both' ? 'dispatch + combine' : k).padEnd(18)} ${ms(x.medianS).padStart(10)} ${ms(x.minS).padStart(10)} ${ms(x.maxS).padStart(10)} ${gb(x.payloadBytes).padStart(11)} ${x.gbps.toFixed(2).padStart(7)} ${pct(x.ofCopy).padStart(8)} ${pct(x.ofHugeCopy).padStart(8)}`;
    }),
    ...(['dispatch', 'combine', 'both'] as const).map((k) => {
      const x = r.newOutputs[k];
      return `${(k === 'both' ? '  + (new outputs)' : `${k} (new outputs)`).padEnd(18)} ${ms(x.medianS).padStart(10)} ${ms(x.minS).padStart(10)} ${ms(x.maxS).padStart(10)} ${gb(x.payloadBytes).padStart(11)} ${x.gbps.toFixed(2).padStart(7)} ${pct(x.ofCopy).padStart(8)} ${pct(x.ofHugeCopy).padStart(8)}`;
    }),
    ...(r.quantize ? [`${'(quantize 1x128)'.padEnd(18)} ${ms(r.quantize.medianS).padStart(10)} ${ms(r.quantize.minS).padStart(10)} ${ms(r.quantize.maxS).padStart(10)} ${gb(r.quantize.inputBytes).padStart(11)}  bf16 in, not in the dispatch time`] : []),
    'payload = ibBytes + nvlBytes of one operation (data + scales, copies to a rank itself not counted); GB/s = payload / median; of copy = GB/s over the copy\'s bytes copied per second; the first three rows reuse the previous results (into), as a server loop does',
    '',
    `traffic per operation   ${'IB'.padStart(11)} ${'NVLink'.padStart(11)} ${'flat IB'.padStart(11)} ${'flat NVL'.padStart(11)} ${'IB/flat'.padStart(8)}`,
    ...(['dispatch', 'combine'] as const).map((k) => {
      const x = r[k];
      return `${k.padEnd(23)} ${gb(x.ibBytes).padStart(11)} ${gb(x.nvlBytes).padStart(11)} ${gb(x.flatIbBytes).padStart(11)} ${gb(x.flatNvlBytes).padStart(11)} ${x.ibOverFlat.toFixed(3).padStart(8)}`;
    }),
    '',
    'cost model (not a measurement): H800-like links, 50 GB/s per IB NIC, 160 GB/s NVLink per GPU, the busiest port decides',
    `${'operation'.padEnd(10)} ${'model'.padStart(10)} ${'flat model'.padStart(11)} ${'bound'.padStart(6)} ${'busiest NIC'.padStart(12)} ${'IB GB/s'.padStart(8)} ${'DeepEP-counted RDMA GB/s'.padStart(25)}`,
    ...(['dispatch', 'combine'] as const).map((k) => {
      const x = r[k];
      return `${k.padEnd(10)} ${us(x.modelSeconds).padStart(10)} ${us(x.flatModelSeconds).padStart(11)} ${x.modelBound.padStart(6)} ${mb(x.busiestNicBytes).padStart(12)} ${x.modelIbGbps.toFixed(1).padStart(8)} ${x.modelDeepepRdmaGbps.toFixed(1).padStart(25)}`;
    }),
    'IB GB/s = the busiest NIC\'s bytes / model time; DeepEP-counted = the busiest rank\'s tokens x nodes reached, its own node included (as DeepEP\'s tests count RDMA bytes) x row bytes / model time',
    `DeepEP internode normal kernels, published (H800, CX7 400 Gb/s, 4096 tokens, 7168 hidden, top-4 groups, top-8; bottleneck RDMA GB/s, dispatch / combine): ${r.deepep.map((d) => `EP${d.ep} ${d.dispatchGbps} / ${d.combineGbps}`).join(', ')}`,
    '',
    `memory: peak RSS ${gb(r.memory.peakRssBytes)}; inputs ${gb(r.memory.inputBytes)}, received ${gb(r.memory.receivedBytes)}, y ${gb(r.memory.yBytes)}, combined ${gb(r.memory.combinedBytes)}`,
  ];
  return lines.join('\n') + '\n';
}
