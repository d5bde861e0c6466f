import { expect, test } from 'vitest';
import { Worker } from 'node:worker_threads';
import * as path from 'node:path';

import { castInputs, firstMismatch, fp8, seed } from './helpers.js';

test('the addon loads and casts inside worker_threads, two at once', async () => {
  const s = seed('worker');
  const x = castInputs(100_000, s);
  const want = fp8.castToFp8Sync({ dtype: 'f32', shape: [x.length], data: x });
  const entry = path.join(__dirname, '..', 'dist', 'index.js');
  const source = `
    const { parentPort, workerData } = require('node:worker_threads');
    const fp8 = require(workerData.entry);
    const x = { dtype: 'f32', shape: [workerData.x.length], data: workerData.x };
    fp8.castToFp8(x).then((q) => parentPort.postMessage({ sync: fp8.castToFp8Sync(x).data, async: q.data }));`;
  const run = () =>
    new Promise<{ sync: Uint8Array; async: Uint8Array }>((resolve, reject) => {
      const w = new Worker(source, { eval: true, workerData: { entry, x } });
      w.once('message', (m) => {
        resolve(m);
        void w.terminate();
      });
      w.once('error', reject);
    });
  const results = await Promise.all([run(), run()]);
  for (const r of results) {
    expect(firstMismatch(r.sync, want.data)).toBe(-1);
    expect(firstMismatch(r.async, want.data)).toBe(-1);
  }
});
