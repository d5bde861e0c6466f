/**
 * `fp8kit bench gemm`: SPEC §4's FP8 GEMM (1D2D, bf16 out) on DeepGEMM's shapes and a square 2048³,
 * with B packed (packWeights) and not, next to the ceilings measured in the same run — the peak of the
 * instruction the GEMM path runs on, and for small M (decode) a memory copy, since the weights are then
 * read once — and the peers where installed (oneDNN's bf16 matmul, OpenBLAS sgemm).
 */
import { availableParallelism } from 'node:os';

import type { BackendName } from '../backends.js';
import { isDeviceBackend, uploadSync } from '../device.js';
import type { Fp8kitError } from '../errors.js';
import { gemmSync } from '../gemm.js';
import { native } from '../native.js';
import { packWeightsSync } from '../pack.js';
import type { PackedWeights } from '../packed.js';
import { quantizeSync, QuantizedTensor } from '../quant.js';
import { tensor } from '../tensor.js';
import { copyOf, median, timeMs, uniforms } from './harness.js';
import { GemmPeerName, PeerTime, timePeers } from './peers/gemm.js';

export type Shape = [number, number, number];

/** DeepGEMM's test shapes (M × (N, K)), the decode sizes of the issue, and 2048³. */
export const GEMM_SHAPES: Shape[] = [
  ...[1, 4, 16].map((m): Shape => [m, 7168, 7168]),
  ...[1, 16, 64, 128, 4096].flatMap((m) => ([[2112, 7168], [24576, 1536], [7168, 16384], [4096, 7168], [7168, 2048]] as [number, number][]).map(([n, k]): Shape => [m, n, k])),
  [2048, 2048, 2048],
];

export interface GemmBenchOptions {
  reps: number;
  backend: BackendName;
  shapes: Shape[];
  peers: boolean;
}

export interface GemmBenchRow {
  shape: Shape;
  /** The GEMM path that ran (the cpu backend's tier). */
  path: string;
  /** The instruction this shape's tier runs on (the cpu GEMM picks a tier by M); none for a device backend. */
  instruction?: 'amx' | 'vdpbf16ps' | 'fma';
  packedMs: number;
  /** The fastest and slowest of the packed GEMM's timed calls. */
  packedMinMs: number;
  packedMaxMs: number;
  gflops: number;
  /** The peak (GFLOP/s) of the instruction the path runs on, measured at the start of the run, and gflops over it. */
  peakGflops: number;
  ofPeak: number;
  /** M ≤ 16: FP8 weight bytes per second, the copy bandwidth measured in turn (read + write counted), and the ratio. */
  weightGbps?: number;
  copyGbps?: number;
  ofCopy?: number;
  unpackedMs: number;
  packMs: number;
  peers: PeerTime[];
  notes: string[];
}

function normal(n: number, seed: number): Float32Array {
  const u = uniforms(seed);
  return Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
}

/** The peak instruction of the path the cpu GEMM takes for M rows, from its description. */
export function peakKind(path: string, m: number): 'amx' | 'vdpbf16ps' | 'fma' {
  if (path.startsWith('amx') && m >= 8) return 'amx';
  return path.startsWith('amx') || path.startsWith('avx512bf16') ? 'vdpbf16ps' : 'fma';
}

export function benchGemm(o: GemmBenchOptions): GemmBenchRow[] {
  const simd = native().cpuSimd();
  const peaks: Record<string, number> = {};
  const peak = (kind: 'amx' | 'vdpbf16ps' | 'fma') => (peaks[kind] ??= native().benchPeak(kind));
  const threads = Number(process.env.FP8KIT_THREADS) || availableParallelism();
  const peerNames: GemmPeerName[] = o.peers ? ['onednn', 'openblas'] : [];
  const rows: GemmBenchRow[] = [];
  // A device backend's operands and outputs stay on the device (uploaded once), so no copy is timed.
  const device = isDeviceBackend(o.backend);
  const place = (q: QuantizedTensor): QuantizedTensor =>
    device ? ({ ...q, data: uploadSync(q.data as never, { backend: o.backend }), scales: uploadSync(q.scales as never, { backend: o.backend }) } as QuantizedTensor) : q;
  for (const [m, n, k] of o.shapes) {
    const qa = place(quantizeSync(tensor('f32', [m, k], normal(m * k, 1)), { backend: device ? 'ref' : o.backend }));
    const qb = place(quantizeSync(tensor('f32', [n, k], normal(n * k, 2)), { tile: [128, 128], backend: device ? 'ref' : o.backend }));
    // Three packings timed; the GEMMs use the last. A backend that does not pack times B as it is.
    const packings: PackedWeights[] = [];
    const notes: string[] = [];
    let packMs = NaN;
    let packed: PackedWeights | QuantizedTensor = qb;
    try {
      packMs = median([0, 1, 2].map(() => timeMs(() => packings.push(packWeightsSync(qb, { backend: o.backend })))));
      packed = packings[2];
    } catch (e) {
      if ((e as Fp8kitError).code !== 'ERR_BACKEND_UNAVAILABLE') throw e;
      if (!rows.some((r) => r.notes.some((x) => x.startsWith(`${o.backend} does not pack`))))
        notes.push(`${o.backend} does not pack weights: the packed column times the GEMM on B as it is`);
    }
    for (const p of packings.slice(0, -1)) p.free();  // device memory now, not at some later collection
    packings.length = 0;
    const d = gemmSync(qa, packed, { backend: o.backend });
    const first = timeMs(() => gemmSync(qa, packed, { backend: o.backend, into: d }));
    const reps = first > 1000 ? 1 : first > 200 ? 3 : o.reps;
    // For decode sizes the weights are read once: a copy of their bytes, timed in turn with the GEMM.
    const decode = m <= 16 && !device;  // a host copy says nothing of a device's memory
    const copy = decode ? copyOf(2 * n * k) : undefined;
    copy?.copy();
    const t: number[] = [];
    const c: number[] = [];
    for (let r = 0; r < reps; r++) {
      if (copy) c.push(timeMs(copy.copy));
      t.push(timeMs(() => gemmSync(qa, packed, { backend: o.backend, into: d })));
    }
    const packedMs = median(t);
    const unpackedMs = median(Array.from({ length: Math.min(reps, 3) }, () => timeMs(() => gemmSync(qa, qb, { backend: o.backend, into: d }))));
    const gflops = (2 * m * n * k) / packedMs / 1e6;
    // The peak of the CPU instruction the cpu path runs on; none measured for a device backend.
    const kind = peakKind(simd.gemm, m);
    const top = device ? NaN : peak(kind);
    const path = device ? `${o.backend} gemm kernel` : simd.gemm;
    const row: GemmBenchRow = { shape: [m, n, k], path, instruction: device ? undefined : kind, packedMs, packedMinMs: Math.min(...t), packedMaxMs: Math.max(...t), gflops, peakGflops: top, ofPeak: gflops / top, unpackedMs, packMs, peers: [], notes };
    if (copy) {
      row.weightGbps = (n * k) / packedMs / 1e6;
      row.copyGbps = copy.copyBytes / median(c) / 1e6;
      row.ofCopy = row.weightGbps / row.copyGbps;
    }
    const compared = timePeers(peerNames, m, n, k, reps, threads, packedMs, rows.flatMap((r) => r.notes));
    row.peers.push(...compared.peers);
    row.notes.push(...compared.notes);
    rows.push(row);
  }
  return rows;
}

export function formatGemm(rows: GemmBenchRow[], title: string): string {
  const peerNames = [...new Set(rows.flatMap((r) => r.peers.map((p) => p.name)))];
  const head =
    `${'M x N x K'.padEnd(20)} ${'on'.padEnd(9)} ${'packed ms'.padStart(10)} ${'min-max ms'.padStart(15)} ${'GFLOP/s'.padStart(8)} ${'of peak'.padStart(8)} ${'weights GB/s'.padStart(12)} ${'of copy'.padStart(8)} ${'unpacked ms'.padStart(12)} ${'pack ms'.padStart(8)}` +
    peerNames.map((p) => ` ${`${p} ms`.padStart(12)} ${'fp8kit x'.padStart(9)}`).join('');
  const body = rows.map((r) => {
    const peers = peerNames
      .map((name) => {
        const p = r.peers.find((x) => x.name === name);
        return p ? ` ${p.ms.toFixed(2).padStart(12)} ${p.fp8kitSpeedup.toFixed(2).padStart(9)}` : ` ${'-'.padStart(12)} ${'-'.padStart(9)}`;
      })
      .join('');
    return (
      `${r.shape.join(' x ').padEnd(20)} ${(r.instruction ?? '-').padEnd(9)} ${r.packedMs.toFixed(2).padStart(10)} ${`${r.packedMinMs.toFixed(2)}-${r.packedMaxMs.toFixed(2)}`.padStart(15)} ${r.gflops.toFixed(0).padStart(8)} ${Number.isFinite(r.ofPeak) ? `${(100 * r.ofPeak).toFixed(0)}%`.padStart(8) : '-'.padStart(8)} ` +
      `${r.weightGbps === undefined ? '-'.padStart(12) : r.weightGbps.toFixed(1).padStart(12)} ${r.ofCopy === undefined ? '-'.padStart(8) : `${(100 * r.ofCopy).toFixed(0)}%`.padStart(8)} ` +
      `${r.unpackedMs.toFixed(2).padStart(12)} ${Number.isFinite(r.packMs) ? r.packMs.toFixed(2).padStart(8) : '-'.padStart(8)}` +
      peers
    );
  });
  const peaks = [...new Map(rows.map((r) => [r.instruction, `${r.instruction} ${r.peakGflops.toFixed(0)}`])).values()].join(', ');
  const impls = [...new Set(rows.flatMap((r) => r.peers.map((p) => `${p.name}: ${p.impl}`)))];
  const copies = rows.filter((r) => r.copyGbps !== undefined).map((r) => r.copyGbps!);
  return [
    title,
    `path: ${rows[0]?.path ?? '?'}; instruction peak ${rows.some((r) => Number.isFinite(r.peakGflops)) ? `${peaks} GFLOP/s` : 'not measured for a device (README, GPU: the roofline estimates)'}; copy ${copies.length ? `${Math.min(...copies).toFixed(1)}–${Math.max(...copies).toFixed(1)}` : '-'} GB/s (read + write counted)`,
    head,
    ...body,
    ...impls,
    'fp8kit x: the peer\'s median time over fp8kit\'s with packed B (above 1: fp8kit is faster).',
    ...[...new Set(rows.flatMap((r) => r.notes))],
  ].join('\n') + '\n';
}
