import { describe, expect, it } from 'vitest';

import { availableBackends, expectFp8kitError, fp8, rng, seed, variants } from './helpers';

const backends = availableBackends().filter((b) => b !== 'cuda');

/** SPEC §7 restated. */
function counts(idx: Int32Array, T: number, k: number, E: number, nodes: number, gpus: number) {
  const R = nodes * gpus, per = E / R;
  const rank = new Array(R).fill(0), node = new Array(nodes).fill(0), expert = new Array(E).fill(0), inRank = new Array(T * R).fill(0);
  for (let t = 0; t < T; t++) {
    const ids = Array.from(idx.subarray(t * k, (t + 1) * k)).filter((e) => e >= 0);
    for (const e of ids) expert[e]++;
    const ranks = new Set(ids.map((e) => Math.floor(e / per)));
    for (const r of ranks) rank[r]++, (inRank[t * R + r] = 1);
    for (const n of new Set([...ranks].map((r) => Math.floor(r / gpus)))) node[n]++;
  }
  return { rank, node, expert, inRank };
}

describe('dispatchLayout (SPEC §7)', () => {
  for (const backend of backends)
    for (const [vname, within] of variants(backend))
      it(`${backend} (${vname}) counts per rank, node and expert as SPEC says, -1 skipped, up to 64 ranks and past`, () => {
        const next = rng(seed(`layout ${backend} ${vname}`));
        for (const [T, k, nodes, gpus, E] of [[300, 8, 2, 4, 256], [77, 3, 3, 3, 18], [1, 1, 1, 1, 1], [513, 8, 8, 8, 256], [0, 4, 2, 2, 8], [90, 6, 5, 16, 160]]) {
          const idx = new Int32Array(T * k);
          for (let t = 0; t < T; t++) {
            const used = new Set<number>();
            for (let j = 0; j < k; j++) {
              let e = next() % 5 === 0 ? -1 : next() % E;
              if (used.has(e)) e = -1;
              used.add(e);
              idx[t * k + j] = e;
            }
          }
          const got = within(() => fp8.dispatchLayoutSync({ dtype: 'i32', shape: [T, k], data: idx }, E, { nodes, gpusPerNode: gpus }, { backend: backend as fp8.BackendName }));
          const want = counts(idx, T, k, E, nodes, gpus);
          expect([...got.tokensPerRank.data]).toEqual(want.rank);
          expect([...got.tokensPerNode.data]).toEqual(want.node);
          expect([...got.tokensPerExpert.data]).toEqual(want.expert);
          expect([...got.isTokenInRank.data]).toEqual(want.inRank);
        }
      });

  it('refuses ids out of range (naming the entry) and experts not divisible by ranks', () => {
    for (const backend of backends) {
      const idx = { dtype: 'i32' as const, shape: [2, 2], data: Int32Array.from([0, 1, 3, 8]) };
      expectFp8kitError(() => fp8.dispatchLayoutSync(idx, 8, { nodes: 2, gpusPerNode: 2 }, { backend: backend as fp8.BackendName }), 'ERR_ARGUMENT', /topkIdx\[1\]\[1\] = 8/);
      expectFp8kitError(() => fp8.dispatchLayoutSync({ ...idx, data: Int32Array.from([0, -2, 1, 1]) }, 8, { nodes: 2, gpusPerNode: 2 }, { backend: backend as fp8.BackendName }), 'ERR_ARGUMENT', /= -2/);
    }
    const idx = { dtype: 'i32' as const, shape: [1, 1], data: Int32Array.from([0]) };
    expectFp8kitError(() => fp8.dispatchLayoutSync(idx, 10, { nodes: 2, gpusPerNode: 2 }), 'ERR_ARGUMENT', /multiple of the 4 ranks/);
    expectFp8kitError(() => fp8.dispatchLayoutSync(idx, 8, { nodes: 0, gpusPerNode: 2 }), 'ERR_ARGUMENT', /nodes/);
  });

  it('writes into an earlier result when given one (options.into), on every backend, and checks it', () => {
    const next = rng(seed('layout into'));
    const T = 129, k = 8, E = 256, topo = { nodes: 2, gpusPerNode: 8 };
    const idx = { dtype: 'i32' as const, shape: [T, k], data: Int32Array.from({ length: T * k }, (_, i) => (i % k === 0 ? -1 : next() % E)) };
    const want = counts(idx.data, T, k, E, 2, 8);
    for (const backend of backends) {
      // stale contents: the counts must start from zero, every isTokenInRank byte be written
      const into = fp8.dispatchLayoutSync(idx, E, topo, { backend: 'ref' });
      for (const t of [into.tokensPerRank, into.tokensPerNode, into.tokensPerExpert, into.isTokenInRank]) t.data.fill(3);
      const got = fp8.dispatchLayoutSync(idx, E, topo, { into, backend: backend as fp8.BackendName });
      expect(got.isTokenInRank).toBe(into.isTokenInRank);
      expect([...got.tokensPerRank.data]).toEqual(want.rank);
      expect([...got.tokensPerNode.data]).toEqual(want.node);
      expect([...got.tokensPerExpert.data]).toEqual(want.expert);
      expect([...got.isTokenInRank.data]).toEqual(want.inRank);
    }
    const good = fp8.dispatchLayoutSync(idx, E, topo);
    expectFp8kitError(() => fp8.dispatchLayoutSync(idx, E, { nodes: 4, gpusPerNode: 4 }, { into: good }), 'ERR_SHAPE', /options\.into\.tokensPerNode has shape \[2\]; the result has shape \[4\]/);
    expectFp8kitError(() => fp8.dispatchLayoutSync(idx, E, topo, { into: { ...good, tokensPerExpert: good.tokensPerRank } }), 'ERR_SHAPE', /tokensPerExpert/);
    expectFp8kitError(() => fp8.dispatchLayoutSync(idx, E, topo, { into: { ...good, tokensPerNode: { dtype: 'i32', shape: [2], data: new Int32Array(good.tokensPerRank.data.buffer, 0, 2) } } }), 'ERR_ARGUMENT', /tokensPerNode overlaps tokensPerRank in memory/);
    expectFp8kitError(() => fp8.dispatchLayoutSync(idx, E, topo, { into: { tokensPerRank: good.tokensPerRank } as never }), 'ERR_ARGUMENT', /must be an earlier result of the same call/);
    // views of one arena side by side are fine
    const arena = new ArrayBuffer(4 * (16 + 2 + E) + T * 16);
    const views = {
      tokensPerRank: { dtype: 'i32' as const, shape: [16], data: new Int32Array(arena, 0, 16) },
      tokensPerNode: { dtype: 'i32' as const, shape: [2], data: new Int32Array(arena, 64, 2) },
      tokensPerExpert: { dtype: 'i32' as const, shape: [E], data: new Int32Array(arena, 72, E) },
      isTokenInRank: { dtype: 'u8' as const, shape: [T, 16], data: new Uint8Array(arena, 72 + 4 * E, T * 16) },
    };
    expect([...fp8.dispatchLayoutSync(idx, E, topo, { into: views }).tokensPerExpert.data]).toEqual(want.expert);
  });

  it('the Promise form gives the same counts', async () => {
    const idx = { dtype: 'i32' as const, shape: [3, 2], data: Int32Array.from([0, 5, 7, -1, 2, 3]) };
    const a = await fp8.dispatchLayout(idx, 8, { nodes: 2, gpusPerNode: 2 });
    expect([...a.tokensPerRank.data]).toEqual([1, 1, 1, 1]);  // experts 0 5 | 7 | 2 3 on ranks 0 2 | 3 | 1 1
    expect([...a.tokensPerNode.data]).toEqual([2, 2]);
  });
});
