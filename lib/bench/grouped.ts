/**
 * `fp8kit bench grouped-gemm`: the MoE expert layer's GEMMs (SPEC §4 "Grouped GEMMs") on DeepSeek-V3's
 * expert shapes — G experts of `m` rows each, gate+up (N 4096, K 7168) and down (N 7168, K 2048) — with
 * the experts' weights packed once: the contiguous layout (with DeepGEMM's 128-row alignment and a padding
 * block per expert, as dispatch lays rows out) and the masked one, next to one dense GEMM of the same
 * useful FLOPs and the peak of the instruction the path runs on, measured in the same run. No peer has a
 * grouped FP8 GEMM, so the peers (oneDNN's bf16 matmul, OpenBLAS sgemm, where installed) run that dense
 * GEMM of the same rows and FLOPs.
 */
import { availableParallelism } from 'node:os';

import type { BackendName } from '../backends.js';
import { gemmSync } from '../gemm.js';
import { groupedGemmContiguousSync, groupedGemmMaskedSync } from '../grouped.js';
import { native } from '../native.js';
import { packWeightsSync } from '../pack.js';
import { quantizeSync } from '../quant.js';
import { tensor } from '../tensor.js';
import { median, timeMs, uniforms } from './harness.js';
import { peakKind } from './gemm.js';
import { GemmPeerName, PeerTime, timePeers } from './peers/gemm.js';

/** [experts, rows per expert, N, K]. */
export type GroupedShape = [number, number, number, number];

export const GROUPED_SHAPES: GroupedShape[] = [
  [8, 256, 4096, 7168],
  [8, 256, 7168, 2048],
];

export interface GroupedBenchRow {
  shape: GroupedShape;
  path: string;
  /** Milliseconds (median) and useful GFLOP/s (2·G·m·N·K over the time) of each form. */
  contiguousMs: number;
  /** The fastest and slowest of the contiguous GEMM's timed calls. */
  contiguousMinMs: number;
  contiguousMaxMs: number;
  contiguousGflops: number;
  /** The contiguous GEMM with a new output per call (the other figures reuse theirs with `into`). */
  newOutputMs: number;
  maskedMs: number;
  maskedGflops: number;
  denseMs: number;
  denseGflops: number;
  peakGflops: number;
  /** contiguous GFLOP/s over the peak, and over the dense GEMM's. */
  ofPeak: number;
  ofDense: number;
  /** The peers' dense GEMM of the same rows and FLOPs: median ms, and that over fp8kit's contiguous ms. */
  peers: PeerTime[];
  /** Why a peer is missing (with the command that installs it), or how it failed. */
  notes: string[];
}

function values(n: number, seed: number): Float32Array {
  const u = uniforms(seed);
  return Float32Array.from({ length: n }, () => u() - 0.5);
}

export function benchGroupedGemm(o: { reps: number; backend: BackendName; shapes?: GroupedShape[]; peers?: boolean }): GroupedBenchRow[] {
  const simd = native().cpuSimd();
  const threads = Number(process.env.FP8KIT_THREADS) || availableParallelism();
  const peerNames: GemmPeerName[] = o.peers === false ? [] : ['onednn', 'openblas'];
  const rows: GroupedBenchRow[] = [];
  for (const [G, m, n, k] of o.shapes ?? GROUPED_SHAPES) {
    const b = packWeightsSync(quantizeSync(tensor('f32', [G, n, k], values(G * n * k, 1)), { tile: [128, 128], backend: o.backend }), { backend: o.backend });
    // Contiguous: each expert's m rows, then padding to the next multiple of 128 (one block each).
    const block = Math.ceil(m / 128) * 128 + 128;
    const M = G * block;
    const idx = new Int32Array(M).fill(-1);
    for (let g = 0; g < G; g++) idx.fill(g, g * block, g * block + m);
    const a = quantizeSync(tensor('f32', [M, k], values(M * k, 2)), { backend: o.backend });
    const a3 = quantizeSync(tensor('f32', [G, m, k], values(G * m * k, 3)), { backend: o.backend });
    const masked = new Int32Array(G).fill(m);
    const dense = quantizeSync(tensor('f32', [G * m, k], values(G * m * k, 4)), { backend: o.backend });
    const one = packWeightsSync(quantizeSync(tensor('f32', [n, k], values(n * k, 5)), { tile: [128, 128], backend: o.backend }), { backend: o.backend });
    const out = { c: groupedGemmContiguousSync(a, b, idx), mk: groupedGemmMaskedSync(a3, b, masked), d: gemmSync(dense, one) };
    const times = (fn: () => void) => Array.from({ length: o.reps }, () => timeMs(fn));
    const time = (fn: () => void) => median(times(fn));
    const contiguous = times(() => groupedGemmContiguousSync(a, b, idx, { into: out.c }));
    const contiguousMs = median(contiguous);
    const newOutputMs = time(() => groupedGemmContiguousSync(a, b, idx));
    const maskedMs = time(() => groupedGemmMaskedSync(a3, b, masked, { into: out.mk }));
    const denseMs = time(() => gemmSync(dense, one, { into: out.d }));
    const flops = 2 * G * m * n * k;
    const gf = (ms: number) => flops / ms / 1e6;
    const peak = native().benchPeak(peakKind(simd.gemm, m));
    const row: GroupedBenchRow = {
      shape: [G, m, n, k], path: simd.gemm, contiguousMs, contiguousMinMs: Math.min(...contiguous), contiguousMaxMs: Math.max(...contiguous), contiguousGflops: gf(contiguousMs), newOutputMs, maskedMs, maskedGflops: gf(maskedMs), denseMs, denseGflops: gf(denseMs),
      peakGflops: peak, ofPeak: gf(contiguousMs) / peak, ofDense: denseMs / contiguousMs, peers: [], notes: [],
    };
    // a peer's dense GEMM of the same rows and FLOPs
    const compared = timePeers(peerNames, G * m, n, k, o.reps, threads, contiguousMs, rows.flatMap((r) => r.notes));
    row.peers.push(...compared.peers);
    row.notes.push(...compared.notes);
    rows.push(row);
  }
  return rows;
}

export function formatGrouped(rows: GroupedBenchRow[], title: string): string {
  const peerNames = [...new Set(rows.flatMap((r) => r.peers.map((p) => p.name)))];
  const head = `${'experts x rows x N x K'.padEnd(24)} ${'contiguous ms'.padStart(14)} ${'min-max ms'.padStart(15)} ${'GFLOP/s'.padStart(8)} ${'of peak'.padStart(8)} ${'new out ms'.padStart(11)} ${'masked ms'.padStart(10)} ${'dense ms'.padStart(9)} ${'of dense'.padStart(9)}` +
    peerNames.map((p) => ` ${`${p} ms`.padStart(12)} ${'fp8kit x'.padStart(9)}`).join('');
  return [title, head, ...rows.map((r) =>
    `${r.shape.join(' x ').padEnd(24)} ${r.contiguousMs.toFixed(2).padStart(14)} ${`${r.contiguousMinMs.toFixed(2)}-${r.contiguousMaxMs.toFixed(2)}`.padStart(15)} ${r.contiguousGflops.toFixed(0).padStart(8)} ${`${(100 * r.ofPeak).toFixed(0)}%`.padStart(8)} ${r.newOutputMs.toFixed(2).padStart(11)} ${r.maskedMs.toFixed(2).padStart(10)} ${r.denseMs.toFixed(2).padStart(9)} ${`${(100 * r.ofDense).toFixed(0)}%`.padStart(9)}` +
    peerNames.map((name) => {
      const p = r.peers.find((x) => x.name === name);
      return p ? ` ${p.ms.toFixed(2).padStart(12)} ${p.fp8kitSpeedup.toFixed(2).padStart(9)}` : ` ${'-'.padStart(12)} ${'-'.padStart(9)}`;
    }).join('')),
    `path: ${rows[0]?.path ?? '?'}, peak ${rows[0] ? rows[0].peakGflops.toFixed(0) : '-'} GFLOP/s; GFLOP/s count the experts' rows only (not the padding); dense = one GEMM of the same rows and FLOPs on one packed B; of dense = dense time over contiguous time; new out = contiguous with a new output per call (the others reuse theirs with into)`,
    ...(peerNames.length ? ["peers: the dense GEMM of the same rows and FLOPs (no peer has a grouped FP8 GEMM); fp8kit x = the peer's median over fp8kit's contiguous time (above 1: fp8kit is faster)"] : []),
    ...rows.flatMap((r) => r.notes),
  ].join('\n');
}
