import { describe, expect, it } from 'vitest';

import { availableBackends, expectFp8kitError, fp8, rng, seed, uniform, variants } from './helpers';
import { bf16, expf, fromBf16, gate, Gate } from './moe-model';

const backends = availableBackends().filter((b) => b !== 'cuda');

type Spread = 'plain' | 'ties' | 'wide';
const spreads: Spread[] = ['plain', 'ties', 'wide'];

function logits(T: number, E: number, s: number, spread: Spread): Float32Array {
  const u = uniform(rng(s));
  // ties: few distinct values, so equal scores (and equal group sums) are common; wide: exp overflows,
  // underflows and gives subnormals (|x| up to 110), often right at its limits 88.72 and -103.97
  const edge = [88.7228394, -103.972084, 87.3365479, -87.3365479, 88.3762589, -102.9];
  return Float32Array.from({ length: T * E }, () => {
    if (spread === 'ties') return Math.floor(u() * 4) / 2 - 1;
    if (spread === 'plain') return (u() - 0.5) * 8;
    return u() < 0.3 ? edge[Math.floor(u() * edge.length)] * (1 + (u() - 0.5) * 1e-6) : (u() - 0.5) * 220;
  });
}

const shapes: [number, number, number, number][] = [  // E, groups, topkGroups, topk
  [256, 8, 4, 8], [24, 3, 2, 5], [7, 1, 1, 3], [64, 16, 3, 6], [160, 32, 32, 8], [96, 2, 1, 4], [128, 8, 2, 4],
];

describe('route (SPEC §5)', () => {
  it("fp8kit's exp is within 1 ulp of exp over the range the gate uses", () => {
    const u = uniform(rng(seed('route exp')));
    let worst = 0;
    for (let i = 0; i < 20000; i++) {
      const x = Math.fround((u() - 0.5) * 170);
      const e = Math.exp(x), got = expf(x);
      const ulp = Math.abs(Math.fround(e * (1 + 2 ** -23)) - Math.fround(e)) || 2 ** -149;
      worst = Math.max(worst, Math.abs(got - e) / ulp);
    }
    expect(worst).toBeLessThan(1.01);
  });

  for (const backend of backends)
    for (const [vname, within] of variants(backend))
      it(`${backend} (${vname}) equals SPEC's steps bit for bit: sigmoid/softmax, bias or none, f32/bf16 logits, ties, exp at its limits`, () => {
        const s0 = seed(`route ${backend} ${vname}`);
        let cases = 0;
        for (const [E, groups, topkGroups, topk] of shapes)
          for (const scoreFunc of ['sigmoid', 'softmax'] as const)
            for (const withBias of [false, true])
              for (const dtype of ['f32', 'bf16'] as const)
                for (const spread of spreads) {
                  if (withBias && groups > 1 && E / groups < 2) continue;
                  const T = 37;
                  const s = s0 + cases++;
                  let x = logits(T, E, s, spread);
                  const data = dtype === 'f32' ? x : Uint16Array.from(x, bf16);
                  if (dtype === 'bf16') x = Float32Array.from(data as Uint16Array, fromBf16);
                  const bias = withBias ? Float32Array.from(logits(1, E, s + 7, spread === 'wide' ? 'plain' : spread), (v) => v / 8) : undefined;
                  const g: Gate = { topk, groups, topkGroups, scoreFunc, bias, routeScale: 2.5 };
                  const r = within(() => fp8.routeSync({ dtype, shape: [T, E], data } as fp8.Tensor<'f32'>, {
                    topk, groups, topkGroups, scoreFunc, routeScale: 2.5, backend: backend as fp8.BackendName,
                    ...(bias ? { bias: { dtype: 'f32', shape: [E], data: bias } } : {}),
                  }));
                  for (let t = 0; t < T; t++) {
                    const want = gate(x.subarray(t * E, (t + 1) * E), g);
                    const got = Array.from(r.topkIdx.data.subarray(t * topk, (t + 1) * topk));
                    const gotW = Array.from(r.topkWeights.data.subarray(t * topk, (t + 1) * topk));
                    if (got.join() !== want.idx.join() || gotW.join() !== want.weights.join())
                      throw new Error(`case ${cases} (E ${E}, ${scoreFunc}, bias ${withBias}, ${dtype}, ${spread}) token ${t}: got ${got} / ${gotW}, SPEC gives ${want.idx} / ${want.weights}`);
                    // node-limited: the picks lie in at most topkGroups groups
                    expect(new Set(got.map((e) => Math.floor(e / (E / groups)))).size).toBeLessThanOrEqual(topkGroups);
                  }
                }
        expect(cases).toBeGreaterThan(60);
      });

  it('exact ties go to the lower id, for groups and experts alike', () => {
    for (const backend of backends) {
      const r = fp8.routeSync({ dtype: 'f32', shape: [1, 16], data: new Float32Array(16) }, { topk: 3, groups: 4, topkGroups: 2, backend: backend as fp8.BackendName });
      expect([...r.topkIdx.data]).toEqual([0, 1, 2]);  // groups 0 and 1 kept, experts 0..2 of them
      expect([...r.topkWeights.data]).toEqual([1 / 3, 1 / 3, 1 / 3].map(Math.fround));
    }
  });

  it('refuses bad arguments with a clear error', () => {
    const x = { dtype: 'f32' as const, shape: [2, 8], data: new Float32Array(16) };
    expectFp8kitError(() => fp8.routeSync(x, { topk: 2, groups: 3 }), 'ERR_ARGUMENT', /groups \(3\) must divide the 8 experts/);
    expectFp8kitError(() => fp8.routeSync(x, { topk: 9 }), 'ERR_ARGUMENT', /topk \(9\)/);
    expectFp8kitError(() => fp8.routeSync(x, { topk: 2, groups: 2, topkGroups: 3 }), 'ERR_ARGUMENT', /topkGroups/);
    expectFp8kitError(() => fp8.routeSync(x, { topk: 2, bias: { dtype: 'f32', shape: [7], data: new Float32Array(7) } }), 'ERR_SHAPE', /bias must be \[8\]/);
    expectFp8kitError(() => fp8.routeSync({ dtype: 'i32', shape: [2, 8], data: new Int32Array(16) } as never, { topk: 2 }), 'ERR_DTYPE', /logits/);
    for (const backend of backends) {
      const bad = new Float32Array(16);
      bad[11] = NaN;
      expectFp8kitError(() => fp8.routeSync({ ...x, data: bad }, { topk: 2, backend: backend as fp8.BackendName }), 'ERR_NON_FINITE', /logits\[1\]\[3\]/);
    }
  });

  it('writes into an earlier result when given one (options.into), on every backend, and checks it', () => {
    const T = 37, E = 256;
    const x = { dtype: 'f32' as const, shape: [T, E], data: logits(T, E, seed('route into'), 'plain') };
    const gateOpts = { topk: 8, groups: 8, topkGroups: 4, routeScale: 2.5 };
    for (const backend of backends) {
      const want = fp8.routeSync(x, { ...gateOpts, backend: 'ref' });
      // stale contents that a partial write would leave behind
      const into = { topkIdx: { dtype: 'i32' as const, shape: [T, 8], data: new Int32Array(T * 8).fill(-7) }, topkWeights: { dtype: 'f32' as const, shape: [T, 8], data: new Float32Array(T * 8).fill(NaN) } };
      const r = fp8.routeSync(x, { ...gateOpts, into, backend: backend as fp8.BackendName });
      expect(r.topkIdx).toBe(into.topkIdx);
      expect(r.topkWeights).toBe(into.topkWeights);
      expect([...into.topkIdx.data]).toEqual([...want.topkIdx.data]);
      expect([...into.topkWeights.data]).toEqual([...want.topkWeights.data]);
    }
    const idx = (shape: number[]) => ({ dtype: 'i32' as const, shape, data: new Int32Array(shape[0] * shape[1]) });
    const w = { dtype: 'f32' as const, shape: [T, 8], data: new Float32Array(T * 8) };
    expectFp8kitError(() => fp8.routeSync(x, { ...gateOpts, into: { topkIdx: idx([T, 7]), topkWeights: w } }), 'ERR_SHAPE', /options\.into\.topkIdx has shape \[37, 7\]/);
    expectFp8kitError(() => fp8.routeSync(x, { ...gateOpts, into: { topkIdx: w, topkWeights: w } as never }), 'ERR_DTYPE', /topkIdx/);
    const shared = new ArrayBuffer(T * 8 * 4);
    expectFp8kitError(() => fp8.routeSync(x, { ...gateOpts, into: { topkIdx: { dtype: 'i32', shape: [T, 8], data: new Int32Array(shared) }, topkWeights: { dtype: 'f32', shape: [T, 8], data: new Float32Array(shared) } } }), 'ERR_ARGUMENT', /route: options\.into\.topkWeights overlaps topkIdx in memory/);
    expectFp8kitError(() => fp8.routeSync(x, { ...gateOpts, into: { topkIdx: idx([T, 8]), topkWeights: { dtype: 'f32', shape: [T, 8], data: new Float32Array(x.data.buffer, 0, T * 8) } } }), 'ERR_ARGUMENT', /shares its buffer with an input/);
    expectFp8kitError(() => fp8.routeSync(x, { ...gateOpts, into: w as never }), 'ERR_ARGUMENT', /options\.into must be an earlier result of the same call, \{topkIdx, topkWeights\}/);
  });

  it('the Promise form gives the same result', async () => {
    const x = { dtype: 'f32' as const, shape: [64, 256], data: logits(64, 256, seed('route async'), false) };
    const a = await fp8.route(x, { topk: 8, groups: 8, topkGroups: 4, routeScale: 2.5 });
    const b = fp8.routeSync(x, { topk: 8, groups: 8, topkGroups: 4, routeScale: 2.5, backend: 'ref' });
    expect([...a.topkIdx.data]).toEqual([...b.topkIdx.data]);
    expect([...a.topkWeights.data]).toEqual([...b.topkWeights.data]);
  });
});
