// One allocation loop per run, in a child process with a small V8 heap: `node loops.cjs CASE N`.
// Prints {warm, peak, perCall, maxOutputs, maxBytes, afterGc}: resident memory after warm-up and its
// peak (VmHWM) at the end, the bytes of fresh output each iteration drops, the most outputs and bytes
// fp8kit held at once (outputs not yet collected plus the pool), and the outputs left after a full GC.
// Run with --expose-gc.
const fs = require('node:fs');
const fp8 = require('../../dist/index.js');

const [name, count] = [process.argv[2], Number(process.argv[3])];
const seed = Number(process.argv[4]) >>> 0 || 1;

function values(n) {
  const x = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    x[i] = ((s >>> 0) / 4294967296 - 0.5) * 2 ** ((s >>> 27) - 8);
  }
  return x;
}
const f32 = (shape) => fp8.tensor('f32', shape, values(shape.reduce((a, b) => a * b)));
const bf16 = (shape) => fp8.castToBf16Sync(f32(shape));

const big = [4096, 7168];
const small = [1024, 7168];
const n = (s) => s[0] * s[1];
const cases = {
  quantizeSync: () => { const x = bf16(big); return [n(big) + 4 * 4096 * 56, () => fp8.quantizeSync(x)]; },
  quantizeCastTransposeSync: () => {
    const x = bf16(big);
    let i = 0;
    return [2 * n(big), () => (i++ % 2 ? fp8.castTransposeSync(x) : fp8.quantizeSync(x))];
  },
  castToFp8Sync: () => { const x = f32([4096 * 1024]); return [4096 * 1024, () => fp8.castToFp8Sync(x)]; },
  dequantizeSync: () => { const q = fp8.quantizeSync(bf16(small)); return [2 * n(small), () => fp8.dequantizeSync(q, { out: 'bf16' })]; },
  quantizePromise: () => { const x = bf16(small); return [n(small), () => fp8.quantize(x)]; },
  castToFp8Promise: () => { const x = f32([4096 * 1024]); return [4096 * 1024, () => fp8.castToFp8(x)]; },
  dequantizePromise: () => { const q = fp8.quantizeSync(bf16(small)); return [4 * n(small), () => fp8.dequantize(q)]; },
  // Outputs of a few MiB, as for the other cases: much smaller ones stay alive by the hundred until V8
  // next collects (fp8kit hides up to 256 MiB of young outputs from V8's count), which is by design.
  gemmSync: () => {
    const a = fp8.quantizeSync(bf16([256, 256]));
    const b = fp8.packWeightsSync(fp8.quantizeSync(bf16([4096, 256]), { tile: [128, 128] }));
    return [256 * 4096 * 2, () => fp8.gemmSync(a, b)];
  },
  packWeightsSync: () => { const b = fp8.quantizeSync(bf16([1024, 7168]), { tile: [128, 128] }); return [n([1024, 7168]), () => fp8.packWeightsSync(b)]; },
  // The gate over 16384 tokens (1 MiB of picks and weights a call), and the layout of 65536 tokens on 64 ranks.
  routeSync: () => {
    const logits = f32([16384, 256]), bias = f32([256]);
    return [16384 * 8 * 8, () => fp8.routeSync(logits, { topk: 8, groups: 8, topkGroups: 4, bias, routeScale: 2.5 })];
  },
  dispatchLayoutSync: () => {
    const T = 65536, R = 64, E = 256;
    const idx = fp8.tensor('i32', [T, 8], new Int32Array(T * 8).map((_, i) => ((i >> 3) * 37 + (i & 7) * 32) % E));
    return [T * R + 4 * (2 * R + 8 + E), () => fp8.dispatchLayoutSync(idx, E, { nodes: 8, gpusPerNode: 8 })];
  },
  // Four experts of 128 rows each; the masked form over the same rows as [G, 128, K].
  groupedGemmContiguousSync: () => {
    const G = 4, M = 128, N = 4096, K = 128;
    const a = fp8.quantizeSync(bf16([G * M, K]));
    const b = fp8.packWeightsSync(fp8.quantizeSync(bf16([G, N, K]), { tile: [128, 128] }));
    const m = new Int32Array(G * M).map((_, i) => Math.floor(i / M));
    return [G * M * N * 2, () => fp8.groupedGemmContiguousSync(a, b, m)];
  },
  groupedGemmMaskedSync: () => {
    const G = 4, M = 128, N = 4096, K = 128;
    const a = fp8.quantizeSync(bf16([G, M, K]));
    const b = fp8.packWeightsSync(fp8.quantizeSync(bf16([G, N, K]), { tile: [128, 128] }));
    const masked = new Int32Array([128, 100, 3, 64]);
    return [G * M * N * 2, () => fp8.groupedGemmMaskedSync(a, b, masked)];
  },
  // A 2 x 2 cluster: every token reaches all four ranks (experts 4 apart); combine of fixed expert outputs.
  dispatchCombinePromise: () => {
    const R = 4, T = 64, H = 7168, E = 16, k = 4;
    const cluster = new fp8.Cluster({ nodes: 2, gpusPerNode: 2 }, { numExperts: E });
    const inputs = Array.from({ length: R }, (_, s) => {
      const idx = new Int32Array(T * k).map((_, i) => (Math.floor(i / k) * 3 + (i % k) * 4 + s) % E);
      return { x: fp8.quantizeSync(bf16([T, H])), topkIdx: fp8.tensor('i32', [T, k], idx), topkWeights: fp8.tensor('f32', [T, k], new Float32Array(T * k).fill(0.25)) };
    });
    const y = Array.from({ length: R }, () => bf16([R * T, H]));
    const perCall = R * R * T * (H + 4 * 56) + R * T * 2 * H;
    return [perCall, async () => cluster.combine(y, await cluster.dispatch(inputs))];
  },
  // Device tensors live behind Externals whose finalizers Node also defers to the event loop.
  uploadSync: () => { const x = f32([1024 * 1024]); return [4 * 1024 * 1024, () => fp8.uploadSync(x, { backend: 'cuda-emu' })]; },
};

const rss = (field) => 1024 * Number(fs.readFileSync('/proc/self/status', 'utf8').match(new RegExp(`${field}:\\s+(\\d+)`))[1]);

// What is held beyond the set-up's tensors: fp8kit's outputs and device tensors not yet collected, the
// pool's freed buffers, and ArrayBuffers in V8's own memory.
const holding = () => {
  const m = fp8.memoryStats();
  return { outputs: m.outputs.count + m.device.count, bytes: m.outputs.bytes + m.device.bytes + m.pool.bytes + process.memoryUsage().arrayBuffers };
};
const held = (base) => {
  const h = holding();
  return { outputs: h.outputs - base.outputs, bytes: h.bytes - base.bytes };
};

(async () => {
  const [perCall, step] = cases[name]();
  let base;
  // The most outputs (and bytes) alive at once between calls: V8 collects on its own schedule, which
  // differs between machines, so the test bounds resident memory by what was measured here.
  let maxOutputs = 0, maxBytes = 0;
  const sample = () => {
    const h = held(base);
    maxOutputs = Math.max(maxOutputs, h.outputs);
    maxBytes = Math.max(maxBytes, h.bytes);
  };
  // Promise forms run 8 at a time, as a server with concurrent requests would; sync forms never yield.
  const run = async (k) => {
    for (let i = 0; i < k; i++) {
      const r = step();
      if (r instanceof Promise) {
        const batch = [r];
        for (let j = 1; j < 8 && i + 1 < k; j++, i++) batch.push(step());
        await Promise.all(batch);
      }
      sample();
    }
  };
  // Warm-up first: what the first calls keep for good (a cluster's buffers) belongs to the base.
  base = holding();
  await run(Math.min(50, count));
  global.gc();
  base = holding();
  const warm = rss('VmRSS');
  maxOutputs = maxBytes = 0;
  fs.writeFileSync('/proc/self/clear_refs', '5'); // resets VmHWM to the current RSS
  await run(count);
  const peak = rss('VmHWM');
  // After a full collection every dropped output is taken back: only the set-up's tensors stay.
  global.gc();
  await new Promise((r) => setImmediate(r));
  const afterGc = held(base).outputs;
  process.stdout.write(JSON.stringify({ warm, peak, perCall, maxOutputs, maxBytes, afterGc, stats: fp8.memoryStats() }) + '\n');
})();
