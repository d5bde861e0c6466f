// Buffers detached or transferred while a Promise call runs, each followed by a collection:
// `node --expose-gc detach.cjs BACKEND ROUNDS`. Prints one JSON line of outcomes per kind of move.
const { Worker } = require('node:worker_threads');
const path = require('node:path');
const fp8 = require('../../dist/index.js');

const [backend, rounds] = [process.argv[2], Number(process.argv[3])];
const seed = Number(process.argv[4]) >>> 0 || 1;
const shape = [256, 4096]; // 1 MiB of e4m3: an output fp8kit allocates natively
const n = shape[0] * shape[1];

function values(s) {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    x[i] = ((s >>> 0) / 4294967296 - 0.5) * 2 ** ((s >>> 27) - 8);
  }
  return x;
}
const same = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);

const outcome = { input: { equal: 0, other: [] }, worker: { equal: 0, other: [] }, into: { rejected: 0, other: [] }, owned: { equal: 0, other: [] } };
const note = (kind, e) => outcome[kind].other.push(e instanceof Error ? `${e.code}: ${e.message}` : String(e));

(async () => {
  for (let r = 0; r < rounds; r++) {
    const data = values(seed + r);
    const want = fp8.quantizeSync(fp8.tensor('f32', shape, data.slice()), { backend: 'ref' });

    // The input's buffer moves to a clone that is dropped and collected at once.
    let g = data.slice();
    let p = fp8.quantize({ dtype: 'f32', shape, data: g }, { backend });
    structuredClone(g.buffer, { transfer: [g.buffer] });
    global.gc();
    try {
      const q = await p;
      if (same(q.data.data, want.data.data) && same(q.scales.data, want.scales.data)) outcome.input.equal++;
      else note('input', 'different result');
    } catch (e) { note('input', e); }

    // The input's buffer is transferred to a worker that is then terminated.
    if (r % 5 === 0) {
      g = data.slice();
      p = fp8.quantize({ dtype: 'f32', shape, data: g }, { backend });
      const w = new Worker('require("node:worker_threads").parentPort.on("message", () => {})', { eval: true });
      w.postMessage(g.buffer, [g.buffer]);
      await w.terminate();
      global.gc();
      try {
        const q = await p;
        if (same(q.data.data, want.data.data)) outcome.worker.equal++;
        else note('worker', 'different result');
      } catch (e) { note('worker', e); }
    }

    // The caller's own `into` buffer is detached while the call writes it.
    const into = { data: fp8.tensor('e4m3', shape, new Uint8Array(n)), scales: fp8.tensor('f32', want.scales.shape, new Float32Array(want.scales.data.length)) };
    p = fp8.quantize(fp8.tensor('f32', shape, data.slice()), { backend, into });
    structuredClone(into.data.data.buffer, { transfer: [into.data.data.buffer] });
    global.gc();
    try { await p; note('into', 'resolved'); } catch (e) {
      if (e.code === 'ERR_ARGUMENT' && /detached while the call ran/.test(e.message)) outcome.into.rejected++;
      else note('into', e);
    }

    // An output fp8kit allocated is used in place; Node copies it instead of transferring it.
    const owned = fp8.quantizeSync(fp8.tensor('f32', shape, new Float32Array(n)), { backend });
    p = fp8.quantize(fp8.tensor('f32', shape, data.slice()), { backend, into: owned });
    structuredClone(owned.data.data.buffer, { transfer: [owned.data.data.buffer] });
    global.gc();
    try {
      const q = await p;
      if (q.data.data === owned.data.data && owned.data.data.length === n && same(owned.data.data, want.data.data)) outcome.owned.equal++;
      else note('owned', 'different result');
    } catch (e) { note('owned', e); }
  }
  console.log(JSON.stringify(outcome));
})();
