#!/usr/bin/env node
// An estimate, not a measurement: the time native/cuda/gemm.cuh should take on the GPUs it targets, for
// DeepGEMM's shapes, from its geometry and each GPU's published peaks (../shared/MEASURING.md). Prints
// the README's table (markdown).
//
// Model. The kernel computes whole 128 × 128 tiles of D, one block per SM at a time (96 KiB of shared
// memory, 256 threads), so a shape takes ceil(blocks / SMs) waves (M <= 32: 32 × 32 tiles, see below); a block's tile runs at `eff` of an
// SM's share of the FP8 peak (sm_89: 45%, what per-tensor FP8 GEMMs reach on L40S; sm_90a: 22%, mma.sync
// being converted to FP16 MMAs on Hopper, near a third of the FP8 peak at best). Memory: the unique bytes
// (A, B, D in bf16, scales) at 70% of the bandwidth, and while fewer blocks than SMs run, each streams
// at most twice its share. The estimate is the larger of the two.
const GPUS = [
  { name: 'L40S (sm_89)', tflops: 733, gbps: 864, sms: 142, eff: 0.45 },
  { name: 'RTX 4090 (sm_89)', tflops: 330, gbps: 1008, sms: 128, eff: 0.45 },
  { name: 'H800 (sm_90a, mma.sync)', tflops: 1979, gbps: 3350, sms: 132, eff: 0.22 },
];
const SHAPES = [
  [1, 7168, 7168], [4, 7168, 7168],
  ...[64, 128, 4096].flatMap((m) => [[2112, 7168], [24576, 1536], [7168, 16384], [4096, 7168], [7168, 2048]].map(([n, k]) => [m, n, k])),
  [2048, 2048, 2048],
];
const cdiv = (a, b) => Math.ceil(a / b);

function estimate([m, n, k], g) {
  // M <= 32 ('nt'): the 32 x 32 small-M kernel, several blocks an SM (2 on sm_89's 100 KiB, 6 on sm_90's
  // 228), B read once; else 128 x 128 tiles, one block an SM.
  const small = m <= 32;
  const tile = small ? 32 : 128, resident = small ? (g.name.includes('sm_90') ? 6 : 2) : 1;
  const blocks = cdiv(m, tile) * cdiv(n, tile);
  const waves = cdiv(blocks, g.sms * resident);
  const perSlot = (g.tflops * 1e12 * g.eff) / (g.sms * resident);
  const compute = waves * (2 * tile * tile * k) / perSlot;
  const bytes = m * k + cdiv(m, tile) * n * k + 2 * m * n + 4 * (m + cdiv(n, 128)) * cdiv(k, 128);
  const active = Math.min(blocks, g.sms);
  const bw = 0.7 * g.gbps * 1e9 * Math.min(1, (2 * active) / g.sms);
  const memory = bytes / bw;
  const t = Math.max(compute, memory);
  return { t, flops: 2 * m * n * k, bytes, bound: compute >= memory ? 'compute' : 'memory', tflops: (2 * m * n * k) / t / 1e12, blocks };
}

const head = ['M × N × K', 'GFLOP', 'MB', 'blocks', ...GPUS.map((g) => `${g.name}: µs (TFLOP/s, bound)`)];
const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
for (const s of SHAPES) {
  const e = GPUS.map((g) => estimate(s, g));
  lines.push(`| ${s.join(' × ')} | ${(e[0].flops / 1e9).toFixed(1)} | ${(e[0].bytes / 1e6).toFixed(1)} | ${e[0].blocks} | ${e.map((x) => `${(x.t * 1e6).toFixed(0)} (${x.tflops.toFixed(0)}, ${x.bound})`).join(' | ')} |`);
}
process.stdout.write(lines.join('\n') + '\n');
