import { describe, expect, it } from 'vitest';

import { fp8, rng, seed, uniform } from './helpers';
import { fromBf16 } from './moe-model';

/**
 * One MoE layer end to end on a simulated 2 x 4 cluster — route, quantize, dispatch (FP8), the experts'
 * grouped GEMM (promoted), combine with the top-k weights — against the same layer in one process with
 * the reference operations.
 */
describe('an MoE layer on a 2 x 4 cluster', () => {
  // Node-limited to one node per token (groups = nodes, topkGroups 1), the layer is within 1e-6 of the
  // one-process sum. Spread over both nodes, SPEC's bf16 node partials (DeepEP's choice) round once more
  // per node: measured 3.5e-6 to 3.9e-6 here, so that case is held to 1e-5.
  for (const [topkGroups, bar] of [[1, 1e-6], [2, 1e-5]] as const)
  it(`topkGroups ${topkGroups}: equals the one-process reference (calcDiff < ${bar}) and gives the same bits twice`, async () => {
    const u = uniform(rng(seed('moe layer')));
    const nodes = 2, G = 4, R = nodes * G, E = 16, per = E / R, H = 256, N = 256, T = 48, k = 4;
    // Expert weights [E, N, H], 128 x 128 blocks; each rank packs its own experts.
    const w = Float32Array.from({ length: E * N * H }, () => (u() - 0.5) / 8);
    const wq = fp8.quantizeSync({ dtype: 'f32', shape: [E, N, H], data: w }, { tile: [128, 128] });
    const slice = (e0: number, n: number) => ({
      ...wq,
      data: { dtype: 'e4m3' as const, shape: [n, N, H], data: wq.data.data.subarray(e0 * N * H, (e0 + n) * N * H) },
      scales: { dtype: 'f32' as const, shape: [n, N / 128, H / 128], data: wq.scales.data.subarray(e0 * (N / 128) * (H / 128), (e0 + n) * (N / 128) * (H / 128)) },
    });
    const packed = Array.from({ length: R }, (_, r) => fp8.packWeightsSync(slice(r * per, per)));
    const bias = { dtype: 'f32' as const, shape: [E], data: Float32Array.from({ length: E }, () => (u() - 0.5) / 10) };
    const xs = Array.from({ length: R }, () => ({ dtype: 'f32' as const, shape: [T, H], data: Float32Array.from({ length: T * H }, () => u() - 0.5) }));
    const logits = Array.from({ length: R }, () => ({ dtype: 'f32' as const, shape: [T, E], data: Float32Array.from({ length: T * E }, () => (u() - 0.5) * 4) }));
    const gate = { topk: k, groups: nodes, topkGroups, bias, routeScale: 2.5 };

    const layer = async () => {
      const cluster = new fp8.Cluster({ nodes, gpusPerNode: G }, { numExperts: E });
      const routes = logits.map((l) => fp8.routeSync(l, gate));
      const inputs = xs.map((x, r) => ({ x: fp8.quantizeSync(x, { tile: [1, 128] }), topkIdx: routes[r].topkIdx, topkWeights: routes[r].topkWeights }));
      const rec = await cluster.dispatch(inputs, { expertAlignment: 128 });
      const y = await Promise.all(rec.map((r, rank) => fp8.groupedGemmContiguous(r.expanded!.a!, packed[rank], r.expanded!.mIndices, { out: 'bf16' })));
      return { out: await cluster.combine(y, rec, { weights: true }), routes };
    };
    const { out, routes } = await layer();

    // The same layer in one process, with ref: every expert over every token, summed by the top-k weights.
    for (let s = 0; s < R; s++) {
      const q = fp8.quantizeSync(xs[s], { tile: [1, 128], backend: 'ref' });
      const perExpert = Array.from({ length: E }, (_, e) => fp8.gemmSync(q, { ...wq, data: { dtype: 'e4m3', shape: [N, H], data: wq.data.data.subarray(e * N * H, (e + 1) * N * H) }, scales: { dtype: 'f32', shape: [N / 128, H / 128], data: wq.scales.data.subarray(e * 4, (e + 1) * 4) } }, { out: 'f32', backend: 'ref' }));
      const want = new Float32Array(T * N);
      for (let t = 0; t < T; t++)
        for (let j = 0; j < k; j++) {
          const e = routes[s].topkIdx.data[t * k + j], wt = routes[s].topkWeights.data[t * k + j];
          for (let c = 0; c < N; c++) want[t * N + c] += wt * fromBf16(bf16Of(perExpert[e].data[t * N + c]));
        }
      // the layer's output is bf16: so is the reference's
      const diff = fp8.calcDiff({ dtype: 'bf16', shape: [T, N], data: Uint16Array.from(want, bf16Of) }, out[s]);
      expect(diff).toBeLessThan(bar);
    }
    const again = (await layer()).out;
    for (let s = 0; s < R; s++) expect(Buffer.compare(Buffer.from(again[s].data.buffer), Buffer.from(out[s].data.buffer))).toBe(0);
  }, 60_000);
});

/** The expert output as the GEMM stores it (bf16), for the reference's sum. */
function bf16Of(x: number): number {
  const b = new Uint32Array(new Float32Array([x]).buffer)[0];
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}
