#!/usr/bin/env node
// The cuda-emu profile counters (FP8KIT_EMU_PROFILE) over the CUDA kernels on small DeepSeek-like
// shapes: prints the per-launch tables that bench/cuda-emu-profile.md records. Needs `npm run build`.
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const script = `
  const fp8 = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'index.js'))});
  let s = 1; const u = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5);
  const t = (r, c) => fp8.tensor('f32', [r, c], Float32Array.from({ length: r * c }, u));
  const B = 'cuda-emu', x = t(512, 1024);
  for (const v of [x, fp8.castToBf16Sync(x)]) {
    console.error('## ' + v.dtype + ' [512, 1024]: quantize 1x128, quantize 128x128, castTranspose 1x128');
    fp8.quantizeSync(v, { tile: [1, 128], backend: B });
    fp8.quantizeSync(v, { tile: [128, 128], backend: B });
    fp8.castTransposeSync(v, { tile: [1, 128], backend: B });
  }
  const xc = t(512, 2048);
  for (const v of [xc, fp8.castToBf16Sync(xc)]) {
    console.error('## ' + v.dtype + ' [512, 2048]: quantize 128x1 (column tiles)');
    fp8.quantizeSync(v, { tile: [128, 1], backend: B });
  }
  const qa = fp8.quantizeSync(t(256, 512), { backend: 'ref' }), qb = fp8.quantizeSync(t(256, 512), { tile: [128, 128], backend: 'ref' });
  console.error("## gemm 'nt' 256 x 256 x 512, bf16 out");
  fp8.gemmSync(qa, qb, { backend: B });
  const qd = fp8.quantizeSync(t(4, 512), { backend: 'ref' });
  console.error("## gemm 'nt' 4 x 256 x 512 (the small-M kernel), bf16 out");
  fp8.gemmSync(qd, qb, { backend: B });
  const at = fp8.quantizeSync(t(512, 256), { tile: [128, 1], backend: 'ref' }), bt = fp8.quantizeSync(t(512, 256), { tile: [128, 128], backend: 'ref' });
  console.error("## gemm 'tn' 256 x 256 x 512 (both operands transposed in shared memory), bf16 out");
  fp8.gemmSync(at, bt, { layout: 'tn', backend: B });`;
const r = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, FP8KIT_EMU_PROFILE: '1' }, encoding: 'utf8' });
process.stdout.write(r.stderr);
process.exit(r.status ?? 1);
