import { describe, expect, it } from 'vitest';

import { availableBackends, expectFp8kitError, fp8, rng, seed, uniform } from './helpers';
import { bf16, fromBf16 } from './moe-model';

const f = Math.fround;
type Backend = fp8.BackendName;
const emu = availableBackends().includes('cuda-emu');

interface Rank {
  T: number;
  ids: Int32Array;
  w: Float32Array;
  bytes: Uint8Array;   // the payload as bytes: fp8 codes, or bf16 words
  scales?: Float32Array;
}

/** Inputs whose every row says where it comes from: (s, t) in its first elements (and in its first scale). */
function makeRanks(R: number, E: number, k: number, H: number, payload: 'fp8' | 'bf16', next: () => number): Rank[] {
  const u = uniform(next);
  return Array.from({ length: R }, (_, s) => {
    const T = 5 + ((s * 7) % 9);
    const ids = new Int32Array(T * k), w = new Float32Array(T * k);
    for (let t = 0; t < T; t++) {
      const used = new Set<number>();
      for (let j = 0; j < k; j++) {
        let e = next() % 6 === 0 ? -1 : next() % E;
        if (e >= 0 && used.has(e)) e = -1;
        used.add(e);
        ids[t * k + j] = e;
        w[t * k + j] = f(u() + 0.1);
      }
    }
    if (payload === 'bf16') {
      const x = Uint16Array.from({ length: T * H }, () => bf16((u() - 0.5) * 4));
      for (let t = 0; t < T; t++) x[t * H] = bf16(s), x[t * H + 1] = bf16(t);
      return { T, ids, w, bytes: new Uint8Array(x.buffer) };
    }
    const x = Uint8Array.from({ length: T * H }, () => next() & 0xff);
    const cols = Math.ceil(H / 128);
    const scales = Float32Array.from({ length: T * cols }, () => f(u() + 0.5));
    for (let t = 0; t < T; t++) (x[t * H] = s), (x[t * H + 1] = t), (scales[t * cols] = s * 4096 + t);
    return { T, ids, w, bytes: x, scales };
  });
}

function inputsOf(ranks: Rank[], k: number, H: number): fp8.DispatchInput[] {
  return ranks.map((r) => ({
    x: r.scales
      ? { data: { dtype: 'e4m3', shape: [r.T, H], data: r.bytes }, scales: { dtype: 'f32', shape: [r.T, Math.ceil(H / 128)], data: r.scales }, tile: [1, 128], format: 'e4m3', scaleFormat: 'f32', scaleLayout: 'row' }
      : { dtype: 'bf16', shape: [r.T, H], data: new Uint16Array(r.bytes.buffer) },
    topkIdx: { dtype: 'i32', shape: [r.T, k], data: r.ids },
    topkWeights: { dtype: 'f32', shape: [r.T, k], data: r.w },
  } as fp8.DispatchInput));
}

const bytesOf = (t: fp8.Tensor) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);

/** Checks every rank's receipt against SPEC §8 restated here; returns the (token, remote node) count. */
function checkReceived(rec: fp8.Received[], ranks: Rank[], nodes: number, G: number, E: number, k: number, H: number, alignment: number, payload: 'fp8' | 'bf16') {
  const R = nodes * G, per = E / R, rowB = payload === 'fp8' ? H : 2 * H, cols = Math.ceil(H / 128);
  let remote = 0;
  ranks.forEach((src, s) => {
    for (let t = 0; t < src.T; t++) {
      const reached = new Set<number>();
      for (let j = 0; j < k; j++) if (src.ids[t * k + j] >= 0) reached.add(Math.floor(Math.floor(src.ids[t * k + j] / per) / G));
      reached.delete(Math.floor(s / G));
      remote += reached.size;
    }
  });
  for (let r = 0; r < R; r++) {
    const want: [number, number][] = [];
    ranks.forEach((src, s) => {
      for (let t = 0; t < src.T; t++)
        if (Array.from(src.ids.subarray(t * k, (t + 1) * k)).some((e) => e >= 0 && Math.floor(e / per) === r)) want.push([s, t]);
    });
    const got = rec[r];
    expect(got.recvX.shape).toEqual([want.length, H]);
    expect(Array.from(got.recvSource.data)).toEqual(want.flat());
    const x = bytesOf(got.recvX);
    const perExpert = new Array(per).fill(0);
    want.forEach(([s, t], i) => {
      const src = ranks[s];
      // the row itself, byte for byte, and its scales
      const row = x.subarray(i * rowB, (i + 1) * rowB);
      if (Buffer.compare(Buffer.from(row), Buffer.from(src.bytes.subarray(t * rowB, (t + 1) * rowB))) !== 0) throw new Error(`rank ${r} row ${i}: not row ${t} of rank ${s}`);
      if (payload === 'fp8') expect(Array.from(got.recvScales!.data.subarray(i * cols, (i + 1) * cols))).toEqual(Array.from(src.scales!.subarray(t * cols, (t + 1) * cols)));
      for (let j = 0; j < k; j++) {
        const e = src.ids[t * k + j], mine = e >= 0 && Math.floor(e / per) === r;
        expect(got.recvTopkIdx.data[i * k + j]).toBe(mine ? e - r * per : -1);
        expect(got.recvTopkWeights.data[i * k + j]).toBe(mine ? src.w[t * k + j] : 0);
        if (mine) perExpert[e - r * per]++;
      }
    });
    expect(Array.from(got.tokensPerLocalExpert)).toEqual(perExpert);
    // The expanded layout: expert-major, each expert from a multiple of the alignment, zero padding.
    const ex = got.expanded!;
    let start = 0;
    for (let e = 0; e < per; e++) {
      expect(start % alignment).toBe(0);
      expect(ex.counts[e]).toBe(Math.ceil(perExpert[e] / alignment) * alignment);
      const rows = want.map((_, i) => i).filter((i) => Array.from(got.recvTopkIdx.data.subarray(i * k, (i + 1) * k)).includes(e));
      const ey = bytesOf(ex.x);
      for (let j = 0; j < ex.counts[e]; j++) {
        const row = ey.subarray((start + j) * rowB, (start + j + 1) * rowB);
        expect(ex.mIndices[start + j]).toBe(j < rows.length ? e : -1);
        const expected = j < rows.length ? x.subarray(rows[j] * rowB, (rows[j] + 1) * rowB) : new Uint8Array(rowB);
        if (Buffer.compare(Buffer.from(row), Buffer.from(expected)) !== 0) throw new Error(`rank ${r} expert ${e} expanded row ${j} is wrong`);
      }
      start += ex.counts[e];
    }
    expect(ex.mIndices.length).toBe(start);
  }
  return remote;
}

/** SPEC §8's combine restated: per (token, node) an f32 sum rounded to bf16, then the nodes in order, rounded once. */
function combineModel(rec: fp8.Received[], y: Uint16Array[], ranks: Rank[], nodes: number, G: number, E: number, k: number, H: number, expanded: boolean): Uint16Array[] {
  const R = nodes * G, per = E / R;
  const position = rec.map((r) => {
    const m = new Map<string, number>();
    for (let i = 0; i < r.recvSource.shape[0]; i++) m.set(`${r.recvSource.data[2 * i]},${r.recvSource.data[2 * i + 1]}`, i);
    return m;
  });
  return ranks.map((src, s) => {
    const out = new Uint16Array(src.T * H);
    for (let t = 0; t < src.T; t++) {
      const acc = new Float32Array(H);
      for (let b = 0; b < nodes; b++) {
        const part = new Float32Array(H);
        let any = false;
        for (let r = b * G; r < (b + 1) * G; r++) {
          const i = position[r].get(`${s},${t}`);
          if (i === undefined) continue;
          any = true;
          if (!expanded) {
            for (let c = 0; c < H; c++) part[c] = f(part[c] + fromBf16(y[r][i * H + c]));
            continue;
          }
          const local = Array.from(src.ids.subarray(t * k, (t + 1) * k)).map((e, j) => [e, j]).filter(([e]) => e >= 0 && Math.floor(e / per) === r).sort((p, q) => p[0] - q[0]);
          const ex = rec[r].expanded!;
          for (const [e, j] of local) {
            const le = e - r * per;
            let row = 0;
            for (let q = 0; q < le; q++) row += ex.counts[q];
            for (let i2 = 0; i2 < i; i2++) if (Array.from(rec[r].recvTopkIdx.data.subarray(i2 * k, (i2 + 1) * k)).includes(le)) row++;
            for (let c = 0; c < H; c++) part[c] = f(part[c] + f(src.w[t * k + j] * fromBf16(y[r][row * H + c])));
          }
        }
        if (any) for (let c = 0; c < H; c++) acc[c] = f(acc[c] + fromBf16(bf16(part[c])));
      }
      for (let c = 0; c < H; c++) out[t * H + c] = bf16(acc[c]);
    }
    return out;
  });
}

/** bf16 values mostly over 8 binades, some over 40: f32 sums of three or more of them round, and differently in another order. */
const wide = (u: () => number) => bf16((u() < 0.5 ? -1 : 1) * (1 + u()) * 2 ** (u() < 0.7 ? Math.floor(u() * 8) - 4 : Math.floor(u() * 40) - 20));

const topologies: [number, number][] = [[1, 1], [1, 8], [2, 4], [4, 2], [3, 3], [8, 8]];

describe('Cluster, sim transport (SPEC §8)', () => {
  const runs: [Backend, string | undefined][] = [['cpu', undefined], ['ref', undefined], ...(emu ? ([['cuda-emu', 'forward'], ['cuda-emu', 'reverse']] as [Backend, string][]) : [])];
  for (const [backend, order] of runs)
    for (const payload of ['fp8', 'bf16'] as const)
      it(`${backend}${order ? ` (${order} thread order)` : ''}, ${payload}: every row reaches the right ranks in (source, token) order; IB once per (token, remote node); combine in SPEC's order`, async () => {
        if (order) process.env.FP8KIT_EMU_ORDER = order;
        try {
          await oneBackend(backend, payload);
        } finally {
          delete process.env.FP8KIT_EMU_ORDER;
        }
      }, 120_000);

  async function oneBackend(backend: Backend, payload: 'fp8' | 'bf16') {
    const next = rng(seed(`cluster ${backend} ${payload}`));
    const u = uniform(next);
    for (const [nodes, G] of backend === 'cpu' ? topologies : topologies.filter(([n, g]) => n * g <= 9)) {
      const R = nodes * G, E = 3 * R, k = Math.min(6, E), H = payload === 'fp8' ? 320 : 136, align = 4;
      const ranks = makeRanks(R, E, k, H, payload, next);
      const cluster = new fp8.Cluster({ nodes, gpusPerNode: G }, { numExperts: E, backend });
      const rec = await cluster.dispatch(inputsOf(ranks, k, H), { payload, expertAlignment: align });
      const remote = checkReceived(rec, ranks, nodes, G, E, k, H, align, payload);
      const rowB = payload === 'fp8' ? H + 4 * Math.ceil(H / 128) : 2 * H;
      let st = cluster.stats();
      expect(st.ibBytes).toBe(remote * rowB);
      for (const l of st.links) {
        if (l.kind === 'ib') expect(l.from % G).toBe(l.to % G);  // rails: the same local index
        else expect(Math.floor(l.from / G)).toBe(Math.floor(l.to / G));
      }
      // counts agree with dispatchLayout
      const perRank = new Array(R).fill(0);
      for (const src of ranks) {
        const l = fp8.dispatchLayoutSync({ dtype: 'i32', shape: [src.T, k], data: src.ids }, E, { nodes, gpusPerNode: G });
        l.tokensPerRank.data.forEach((n, r) => (perRank[r] += n));
      }
      expect(rec.map((r) => r.recvX.shape[0])).toEqual(perRank);

      // combine: [Nr, H] rows, then the expanded layout with weights
      cluster.resetStats();
      const y = rec.map((r) => Uint16Array.from({ length: r.recvX.shape[0] * H }, () => wide(u)));
      const out = await cluster.combine(y.map((d, r) => ({ dtype: 'bf16', shape: [rec[r].recvX.shape[0], H], data: d })), rec);
      const want = combineModel(rec, y, ranks, nodes, G, E, k, H, false);
      out.forEach((o, s) => expect(Buffer.compare(Buffer.from(o.data.buffer, o.data.byteOffset, o.data.byteLength), Buffer.from(want[s].buffer))).toBe(0));
      st = cluster.stats();
      expect(st.ibBytes).toBe(remote * 2 * H);
      const ye = rec.map((r) => Uint16Array.from({ length: r.expanded!.mIndices.length * H }, () => wide(u)));
      const oute = await cluster.combine(ye.map((d, r) => ({ dtype: 'bf16', shape: [rec[r].expanded!.mIndices.length, H], data: d })), rec, { weights: true });
      const wante = combineModel(rec, ye, ranks, nodes, G, E, k, H, true);
      oute.forEach((o, s) => {
        const i = Array.from(o.data).findIndex((v, c) => v !== wante[s][c]);
        if (i >= 0) throw new Error(`${nodes}x${G}: source ${s} element ${i}: ${o.data[i]} vs SPEC ${wante[s][i]}`);
      });
    }
  }

  it('node-limited routing: no token reaches more than topkGroups nodes; IB sends far fewer bytes than flat', async () => {
    const next = rng(seed('cluster routing'));
    const u = uniform(next);
    const nodes = 4, G = 2, E = 32, T = 64, H = 128;
    const cluster = new fp8.Cluster({ nodes, gpusPerNode: G }, { numExperts: E });
    const inputs = Array.from({ length: nodes * G }, () => {
      const logits = { dtype: 'f32' as const, shape: [T, E], data: Float32Array.from({ length: T * E }, () => (u() - 0.5) * 6) };
      const r = fp8.routeSync(logits, { topk: 6, groups: nodes, topkGroups: 2, routeScale: 2.5 });
      return { x: { dtype: 'f32' as const, shape: [T, H], data: Float32Array.from({ length: T * H }, () => u() - 0.5) }, topkIdx: r.topkIdx, topkWeights: r.topkWeights };
    });
    const rec = await cluster.dispatch(inputs);
    const nodesOf = new Map<string, Set<number>>();
    rec.forEach((r, rank) => {
      for (let i = 0; i < r.recvSource.shape[0]; i++) {
        const key = `${r.recvSource.data[2 * i]},${r.recvSource.data[2 * i + 1]}`;
        nodesOf.set(key, (nodesOf.get(key) ?? new Set()).add(Math.floor(rank / G)));
      }
    });
    for (const s of nodesOf.values()) expect(s.size).toBeLessThanOrEqual(2);
    const st = cluster.stats();
    expect(st.ibBytes).toBeLessThan(st.flatIbBytes);
    expect(st.modelSeconds).toBeGreaterThan(0);
  });

  it('an EPLB placement: logical ids go to a replica, and the replica maps back to the expert', async () => {
    const next = rng(seed('cluster placement'));
    const load = [Array.from({ length: 8 }, () => 1 + (next() % 50))];
    const placement = fp8.eplbRebalance(load, { replicas: 12, groups: 2, nodes: 2, gpus: 4 });
    const cluster = new fp8.Cluster({ nodes: 2, gpusPerNode: 2 }, { numExperts: 8, placement });
    const ranks = makeRanks(4, 8, 3, 128, 'bf16', next);
    const rec = await cluster.dispatch(inputsOf(ranks, 3, 128), { payload: 'bf16' });
    rec.forEach((r, rank) => {
      for (let i = 0; i < r.recvSource.shape[0]; i++) {
        const [s, t] = [r.recvSource.data[2 * i], r.recvSource.data[2 * i + 1]];
        for (let j = 0; j < 3; j++) {
          const local = r.recvTopkIdx.data[i * 3 + j];
          if (local >= 0) expect(placement.phy2log.data[rank * 3 + local]).toBe(ranks[s].ids[t * 3 + j]);
        }
      }
    });
  });

  it('into: a dispatch and a combine reuse the memory of earlier results and give the same bytes as new outputs', async () => {
    const next = rng(seed('cluster into'));
    const u = uniform(next);
    const cluster = new fp8.Cluster({ nodes: 2, gpusPerNode: 2 }, { numExperts: 8 });
    const H = 256;
    const inputs = inputsOf(makeRanks(4, 8, 3, H, 'fp8', next), 3, H);
    const first = await cluster.dispatch(inputs);
    const fresh = await cluster.dispatch(inputs);
    const reused = await cluster.dispatch(inputs, { into: first });
    expect(reused[0].recvX.data.buffer).toBe(first[0].recvX.data.buffer);
    reused.forEach((r, i) => {
      expect(Buffer.compare(Buffer.from(bytesOf(r.recvX)), Buffer.from(bytesOf(fresh[i].recvX)))).toBe(0);
      expect(Array.from(r.recvScales!.data)).toEqual(Array.from(fresh[i].recvScales!.data));
    });
    const y = reused.map((r) => ({ dtype: 'bf16' as const, shape: [r.recvX.shape[0], H], data: Uint16Array.from({ length: r.recvX.shape[0] * H }, () => wide(u)) }));
    const a = await cluster.combine(y, reused);
    const b = await cluster.combine(y, reused);
    const c = await cluster.combine(y, reused, { into: a });
    expect(c[0].data.buffer).toBe(a[0].data.buffer);
    c.forEach((t, i) => expect(Array.from(t.data)).toEqual(Array.from(b[i].data)));
    // an input's memory is never written over: y given as into is not reused
    const d = await cluster.combine(y, reused, { into: y });
    expect(d[0].data.buffer).not.toBe(y[0].data.buffer);
  });

  it('refuses bad topologies, ids, shapes and dtypes before anything moves', async () => {
    expectFp8kitError(() => new fp8.Cluster({ nodes: 2, gpusPerNode: 3 }, { numExperts: 8 }), 'ERR_ARGUMENT', /multiple of the 6 ranks/);
    expectFp8kitError(() => new fp8.Cluster({ nodes: 2, gpusPerNode: 0 }, { numExperts: 8 }), 'ERR_ARGUMENT', /gpusPerNode/);
    const cluster = new fp8.Cluster({ nodes: 2, gpusPerNode: 2 }, { numExperts: 8 });
    const next = rng(seed('cluster errors'));
    const good = () => inputsOf(makeRanks(4, 8, 2, 128, 'bf16', next), 2, 128);
    const fails = async (inputs: fp8.DispatchInput[], code: string, text: RegExp) => {
      const before = cluster.stats().operations;
      await expect(cluster.dispatch(inputs, { payload: 'bf16' })).rejects.toMatchObject({ code, message: expect.stringMatching(text) });
      expect(cluster.stats().operations).toBe(before);
      expect(cluster.stats().ibBytes + cluster.stats().nvlBytes).toBe(0);
    };
    let inputs = good();
    inputs[2].topkIdx.data[1] = 8;
    await fails(inputs, 'ERR_ARGUMENT', /inputs\[2\]\.topkIdx\[0\]\[1\] = 8/);
    inputs = good();
    inputs[1].topkIdx.data[0] = 3, inputs[1].topkIdx.data[1] = 3;
    await fails(inputs, 'ERR_ARGUMENT', /inputs\[1\]\.topkIdx\[0\] names expert 3 twice/);
    inputs = good();
    inputs[3] = { ...inputs[3], x: { dtype: 'bf16', shape: [inputs[3].topkIdx.shape[0], 64], data: new Uint16Array(inputs[3].topkIdx.shape[0] * 64) } };
    await fails(inputs, 'ERR_SHAPE', /inputs\[3\]\.x has 64 columns/);
    inputs = good();
    inputs[0] = { ...inputs[0], x: { dtype: 'i32', shape: [1, 1], data: new Int32Array(1) } as never };
    await fails(inputs, 'ERR_DTYPE', /inputs\[0\]\.x/);
    await expect(cluster.dispatch(good().slice(1))).rejects.toMatchObject({ code: 'ERR_ARGUMENT' });
    // an e5m2 rank among ranks dispatch would quantize to e4m3: one format per dispatch
    inputs = inputsOf(makeRanks(4, 8, 2, 128, 'fp8', next), 2, 128);
    const q0 = inputs[0].x as fp8.QuantizedTensor<'host'>;
    inputs[0] = { ...inputs[0], x: { ...q0, format: 'e5m2', data: { ...q0.data, dtype: 'e5m2' } } as fp8.QuantizedTensor<'host'> };
    inputs[1] = { ...inputs[1], x: fp8.dequantizeSync(inputs[1].x as fp8.QuantizedTensor<'host'>) };
    const before = cluster.stats().operations;
    await expect(cluster.dispatch(inputs)).rejects.toMatchObject({ code: 'ERR_DTYPE', message: expect.stringMatching(/inputs\[1\]\.x would be sent as e4m3, inputs\[0\]\.x as e5m2/) });
    expect(cluster.stats().operations).toBe(before);
    const rec = await cluster.dispatch(good(), { payload: 'bf16' });
    await expect(cluster.combine(rec.map((r) => ({ dtype: 'bf16' as const, shape: [r.recvX.shape[0] + 1, 128], data: new Uint16Array((r.recvX.shape[0] + 1) * 128) })), rec)).rejects.toMatchObject({ code: 'ERR_SHAPE' });
  });
});
