// Workers stopped while Promise calls are in flight: `node terminate.cjs terminate|exit ROUNDS`.
// Each round starts a worker that queues 8 calls (on ref, cpu and cuda-emu in turn) and then either
// waits to be terminated or calls process.exit(3) itself. Prints "survived ROUNDS" if the parent lives.
const { Worker } = require('node:worker_threads');
const path = require('node:path');

const [mode, rounds] = [process.argv[2], Number(process.argv[3])];
const entry = path.join(__dirname, '..', '..', 'dist', 'index.js');
const source = `
const { parentPort, workerData } = require('node:worker_threads');
const fp8 = require(workerData.entry);
const x = fp8.tensor('f32', [256, 7168], new Float32Array(256 * 7168).fill(1.5));
const y = fp8.castToBf16Sync(x);
for (let i = 0; i < 8; i++) {
  const call = [() => fp8.quantize(x, { backend: workerData.backend }), () => fp8.castTranspose(y, { backend: workerData.backend }),
                () => fp8.castToFp8(x, { backend: workerData.backend })][i % 3];
  call().catch(() => {});
}
if (workerData.exit) process.exit(3);
parentPort.postMessage('queued');`;

(async () => {
  const backends = ['ref', 'cpu', 'cuda-emu'];
  for (let i = 0; i < rounds; i++) {
    const w = new Worker(source, { eval: true, workerData: { entry, backend: backends[i % 3], exit: mode === 'exit' } });
    const code = await new Promise((resolve, reject) => {
      w.once('error', reject);
      w.once('exit', resolve);
      w.once('message', () => void w.terminate());
    });
    if (mode === 'exit' && code !== 3) throw new Error(`round ${i}: the worker exited with ${code}, not 3`);
  }
  console.log(`survived ${rounds}`);
})();
