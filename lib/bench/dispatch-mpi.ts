/**
 * `fp8kit bench dispatch --transport mpi`, one process per rank under mpirun: each rank times its
 * dispatch and combine of the same inputs `bench dispatch` builds for it (quantized beforehand, the
 * results' memory reused with `into`); an operation takes as long as its slowest rank. Rank 0 then runs
 * the sim transport on the same shape in its own process (the other ranks wait, idle) and prints both
 * with their payload, GB/s and the cost model's time, which the transports compute alike.
 */
import type { TrafficStats } from '../moe/traffic.js';
import { Cluster, DispatchInput, Received } from '../moe/cluster.js';
import { quantizeSync, QuantizedTensor } from '../quant.js';
import type { Tensor } from '../tensor.js';
import { benchDispatch, combineInputs, DispatchBenchOptions, DispatchBenchResult, makeActivations, makeRouting } from './dispatch.js';
import { collectGarbage, median, timeAsync } from './harness.js';

export interface MpiDispatchBenchResult {
  options: DispatchBenchOptions;
  ranks: number;
  nodeOf: string;
  /** The mpi transport: per operation the median over reps of the slowest rank's time. */
  mpi: { dispatchS: number; combineS: number; bothS: number; payloadBytes: number; gbps: number; modelSeconds: number; stats: { dispatch: TrafficStats; combine: TrafficStats } };
  /** The sim transport on the same shape (bench dispatch), in rank 0's process. */
  sim: { dispatchS: number; combineS: number; bothS: number; payloadBytes: number; gbps: number; modelSeconds: number };
  /** mpi GB/s over sim GB/s (dispatch + combine). */
  ofSim: number;
  /** Whether both transports counted the same bytes on every link and the same model time. */
  sameTraffic: boolean;
}

/** The result on rank 0; undefined on the others. */
export async function benchDispatchMpi(o: DispatchBenchOptions, nodeOf: string | undefined): Promise<MpiDispatchBenchResult | undefined> {
  const R = o.nodes * o.gpus;
  const how = nodeOf ?? process.env.FP8KIT_MPI_NODE ?? 'shared';  // as Cluster reads it
  const cluster = await new Cluster({ nodes: o.nodes, gpusPerNode: o.gpus }, { transport: 'mpi', numExperts: o.experts, backend: o.backend, nodeOf: how as 'shared' }).connect();
  const me = cluster.rank;
  const [routing] = makeRouting(o, [me]);
  const x = makeActivations(o, me);
  const input: DispatchInput = { x: o.payload === 'fp8' ? (quantizeSync(x, { tile: [1, 128], backend: o.backend }) as QuantizedTensor<'host'>) : x, ...routing };

  cluster.resetStats();
  let lastRec: Received[] = await cluster.dispatch([input], { payload: o.payload });
  const dStats = cluster.stats();
  const y = await combineInputs(lastRec, o.backend);
  cluster.resetStats();
  let lastOut: Tensor<'bf16'>[] = await cluster.combine(y, lastRec, {});
  const cStats = cluster.stats();
  const times = new Float64Array(2 * o.reps);
  for (let rep = 0; rep < o.reps; rep++) {
    collectGarbage();
    let rec: Received[] | undefined;
    times[2 * rep] = await timeAsync(async () => (rec = await cluster.dispatch([input], { payload: o.payload, into: lastRec })));
    times[2 * rep + 1] = await timeAsync(async () => (lastOut = await cluster.combine(y, rec!, { into: lastOut })));
    lastRec = rec!;
  }
  // Rank 0 gathers the times, then measures sim while the others wait for its word to finish.
  const gathered = await cluster.gatherAtZero(times, 600);
  const release = async () => cluster.gatherAtZero(new Float64Array(1), 3600);
  if (me !== 0) {
    await release();
    return undefined;
  }
  const slowest = (i: number) => Math.max(...gathered!.map((t) => t[i]));
  const d = Array.from({ length: o.reps }, (_, rep) => slowest(2 * rep)), c = Array.from({ length: o.reps }, (_, rep) => slowest(2 * rep + 1));
  const bytes = dStats.ibBytes + dStats.nvlBytes + cStats.ibBytes + cStats.nvlBytes;
  const both = median(d.map((t, i) => t + c[i]));
  lastRec = [], lastOut = [];
  let sim: DispatchBenchResult;
  try {
    sim = await benchDispatch(o);
  } finally {
    await release();
  }
  const simBytes = sim.dispatch.payloadBytes + sim.combine.payloadBytes;
  const simModel = sim.dispatch.modelSeconds + sim.combine.modelSeconds;
  const mpiModel = dStats.modelSeconds + cStats.modelSeconds;
  const mpiGbps = bytes / both / 1e9;
  return {
    options: o, ranks: R, nodeOf: how,
    mpi: { dispatchS: median(d), combineS: median(c), bothS: both, payloadBytes: bytes, gbps: mpiGbps, modelSeconds: mpiModel, stats: { dispatch: dStats, combine: cStats } },
    sim: { dispatchS: sim.dispatch.medianS, combineS: sim.combine.medianS, bothS: sim.both.medianS, payloadBytes: simBytes, gbps: sim.both.gbps, modelSeconds: simModel },
    ofSim: mpiGbps / sim.both.gbps,
    sameTraffic: simBytes === bytes && simModel === mpiModel && sim.dispatch.ibBytes === dStats.ibBytes && sim.combine.ibBytes === cStats.ibBytes,
  };
}

export function formatDispatchMpi(r: MpiDispatchBenchResult): string {
  const o = r.options;
  const ms = (s: number) => `${(1e3 * s).toFixed(2)} ms`;
  const row = (name: string, x: MpiDispatchBenchResult['sim']) =>
    `${name.padEnd(10)} ${ms(x.dispatchS).padStart(11)} ${ms(x.combineS).padStart(11)} ${ms(x.bothS).padStart(11)} ${`${(x.payloadBytes / 1e6).toFixed(2)} MB`.padStart(12)} ${x.gbps.toFixed(2).padStart(7)} ${`${(1e6 * x.modelSeconds).toFixed(1)} µs`.padStart(11)}`;
  return [
    `dispatch + combine: ${o.nodes} x ${o.gpus} ranks, ${o.tokens} tokens/rank, hidden ${o.hidden}, top-${o.topk} of ${o.experts} experts, ${o.payload} payload, backend ${o.backend}, ${o.reps} reps; mpi nodes: ${r.nodeOf}`,
    `${'transport'.padEnd(10)} ${'dispatch'.padStart(11)} ${'combine'.padStart(11)} ${'both'.padStart(11)} ${'payload'.padStart(12)} ${'GB/s'.padStart(7)} ${'model'.padStart(11)}`,
    row('sim', r.sim),
    row('mpi', r.mpi),
    `mpi / sim throughput: ${(100 * r.ofSim).toFixed(0)}%; traffic and model time ${r.sameTraffic ? 'identical' : 'DIFFER'} (model: H800-like links, not a measurement)`,
    'times: medians over reps; an mpi operation takes its slowest rank\'s time; sim runs every rank in one process (rank 0\'s, the others idle)',
  ].join('\n') + '\n';
}
