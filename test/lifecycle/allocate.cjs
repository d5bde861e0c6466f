// Workers that allocate outputs and device tensors, keep some, and exit: `node allocate.cjs ROUNDS`.
// Prints {first, last}: the parent's resident bytes after the first few workers and after all of them.
const { Worker } = require('node:worker_threads');
const fs = require('node:fs');
const path = require('node:path');

const rounds = Number(process.argv[2]);
const entry = path.join(__dirname, '..', '..', 'dist', 'index.js');
const source = `
const { workerData } = require('node:worker_threads');
const fp8 = require(workerData.entry);
const x = fp8.castToBf16Sync(fp8.tensor('f32', [1024, 7168], new Float32Array(1024 * 7168).fill(0.75)));
globalThis.kept = [];
for (let i = 0; i < 6; i++) globalThis.kept.push(fp8.quantizeSync(x), fp8.castTransposeSync(x));
globalThis.kept.push(fp8.uploadSync(x, { backend: 'cuda-emu' }));
fp8.quantize(x).then((q) => { globalThis.kept.push(q); process.exit(0); });`;
const rss = () => 1024 * Number(fs.readFileSync('/proc/self/status', 'utf8').match(/VmRSS:\s+(\d+)/)[1]);

(async () => {
  let first = 0;
  for (let i = 0; i < rounds; i++) {
    const w = new Worker(source, { eval: true, workerData: { entry } });
    await new Promise((resolve, reject) => { w.once('error', reject); w.once('exit', resolve); });
    if (i === 3) first = rss();
  }
  console.log(JSON.stringify({ first, last: rss() }));
})();
