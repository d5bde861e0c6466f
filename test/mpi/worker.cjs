// One rank of an mpi-transport test (test/mpi.test.ts), run as `mpirun -np R node worker.cjs CASE NODES GPUS SEED`.
// Every rank builds every rank's inputs from the seed, runs the sim transport on all of them in this
// process, runs the mpi transport on its own, and prints one JSON line: what differed (nothing, when
// the transports agree bit for bit), or the error a fault case ended in, and how long it took.
const fp8 = require('../../dist/index.js');

const [kase, nodes, gpus, seed] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5]) >>> 0 || 1];
const R = nodes * gpus;
const world = Number(process.env.OMPI_COMM_WORLD_RANK);

function rng(s) {
  return () => {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

// Rank s's tokens: random hidden rows, top-k distinct experts (some slots -1), random weights.
function inputsFor(s, H, k, E, T) {
  const u = rng((seed * 7919 + s * 104729 + H) >>> 0 || 1);
  const x = fp8.tensor('f32', [T, H], Float32Array.from({ length: T * H }, () => (u() - 0.5) * 2 ** Math.floor(u() * 8 - 4)));
  const idx = new Int32Array(T * k), w = new Float32Array(T * k);
  for (let t = 0; t < T; t++) {
    const picked = new Set();
    for (let j = 0; j < k; j++) {
      let e = Math.floor(u() * E);
      while (picked.has(e)) e = (e + 1) % E;
      picked.add(e);
      idx[t * k + j] = u() < 0.1 ? -1 : e;
      w[t * k + j] = u();
    }
  }
  return { x, topkIdx: fp8.tensor('i32', [T, k], idx), topkWeights: fp8.tensor('f32', [T, k], w) };
}

function bits(t) {
  if (!t) return t;
  const d = t.data ?? t;
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
}

async function match(rank, cluster, sim, label, payload, H, k, E) {
  const diffs = [];
  const T = (s) => 5 + ((s * 7 + seed) % 11);
  const all = Array.from({ length: R }, (_, s) => inputsFor(s, H, k, E, T(s)));
  const opts = { payload, expertAlignment: 4 };
  const want = await sim.dispatch(all, opts);
  const [got] = await cluster.dispatch([all[rank]], opts);
  const w = want[rank];
  const same = (what, a, b) => {
    if (!a !== !b || (a && !bits(a).equals(bits(b)))) diffs.push(`${label}: ${what}`);
  };
  for (const f of ['recvX', 'recvScales', 'recvSource', 'recvTopkIdx', 'recvTopkWeights', 'tokensPerLocalExpert']) same(f, got[f], w[f]);
  for (const f of ['x', 'scales', 'mIndices', 'counts']) same(`expanded.${f}`, got.expanded?.[f], w.expanded?.[f]);
  // combine of the received rows (tokens layout), and of the expanded rows with weights
  const yTok = (rec, r) => fp8.castToBf16Sync(fp8.tensor('f32', [rec.recvX.shape[0], H], Float32Array.from({ length: rec.recvX.shape[0] * H }, (_, i) => Math.sin(i * 0.37 + r))));
  const yExp = (rec, r) => fp8.castToBf16Sync(fp8.tensor('f32', [rec.expanded.x.shape[0], H], Float32Array.from({ length: rec.expanded.x.shape[0] * H }, (_, i) => Math.cos(i * 0.11 + r * 3))));
  const simTok = await sim.combine(want.map(yTok), want);
  const [mpiTok] = await cluster.combine([yTok(got, rank)], [got]);
  same('combine tokens', mpiTok, simTok[rank]);
  const simExp = await sim.combine(want.map(yExp), want, { weights: true });
  const [mpiExp] = await cluster.combine([yExp(got, rank)], [got], { weights: true });
  same('combine expanded weighted', mpiExp, simExp[rank]);
  return diffs;
}

(async () => {
  const t0 = Date.now();
  const out = { world, case: kase };
  try {
    const E = 4 * R, H = 256 + 64, k = Math.min(4, E);
    const timeoutMs = Number(process.env.WORKER_TIMEOUT_MS) || 20000;
    const cluster = await new fp8.Cluster({ nodes, gpusPerNode: gpus }, { transport: 'mpi', numExperts: E, nodeOf: 'block', timeoutMs }).connect();
    const rank = cluster.rank;
    out.rank = rank;
    if (kase === 'match') {
      const sim = new fp8.Cluster({ nodes, gpusPerNode: gpus }, { numExperts: E });
      const diffs = [...(await match(rank, cluster, sim, 'fp8', 'fp8', H, k, E)), ...(await match(rank, cluster, sim, 'bf16', 'bf16', H, k, E))];
      out.diffs = diffs;
      out.statsEqual = JSON.stringify(cluster.stats()) === JSON.stringify(sim.stats());
      out.stats = { ib: cluster.stats().ibBytes, nvl: cluster.stats().nvlBytes, model: cluster.stats().modelSeconds };
    } else if (kase === 'shape') {
      // Rank 1 passes another hidden size: every rank must fail alike, before any payload moves.
      const mine = inputsFor(rank, rank === 1 ? 2 * H : H, k, E, 6);
      await cluster.dispatch([mine]);
      out.error = null;
    } else if (kase === 'kill' || kase === 'silent') {
      // The last rank dies after the header exchange (mid-dispatch), or never calls dispatch.
      const mine = inputsFor(rank, H, k, E, 6);
      if (rank === R - 1 && kase === 'silent') {
        await new Promise((r) => setTimeout(r, timeoutMs + 5000));
        out.error = 'silent rank';
      } else {
        if (rank === R - 1) {
          // Dies at hop 1 (the IB rows), after the header and the routing went out: mid-dispatch.
          const link = cluster.connected;
          const exchange = link.exchange.bind(link);
          link.exchange = (which, sends, recvs, seq, step) => (step === 2 ? process.kill(process.pid, 'SIGKILL') : exchange(which, sends, recvs, seq, step));
        }
        await cluster.dispatch([mine]);
        out.error = null;
      }
    }
  } catch (e) {
    out.error = { code: e.code, message: e.message };
  }
  out.ms = Date.now() - t0;
  process.stdout.write(JSON.stringify(out) + '\n');
})();
