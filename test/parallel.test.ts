/**
 * native/cpu/parallel.cc: the cpu backend's threads, kept between calls in one team that a single call
 * uses at a time; calls that find it busy start their own. Many calls in flight at once (the Promise
 * forms run on libuv's pool, four threads) and calls back to back must give the Sync results.
 */
import { expect, test } from 'vitest';

import { castInputs, firstMismatch, fp8, rng, seed, uniform } from './helpers.js';

test('casts and routes in flight at once, and back to back, give the Sync results', async () => {
  const s = seed('parallel team');
  const x = { dtype: 'f32' as const, shape: [1 << 20], data: castInputs(1 << 20, s) };
  const u = uniform(rng(s + 1));
  const logits = { dtype: 'f32' as const, shape: [4096, 256], data: Float32Array.from({ length: 4096 * 256 }, () => (u() - 0.5) * 8) };
  const gate = { topk: 8, groups: 8, topkGroups: 4, routeScale: 2.5 };
  const cast = fp8.castToFp8Sync(x);
  const routed = fp8.routeSync(logits, gate);
  for (let round = 0; round < 3; round++) {
    const casts = Array.from({ length: 8 }, () => fp8.castToFp8(x));
    const routes = Array.from({ length: 4 }, () => fp8.route(logits, gate));
    for (const c of await Promise.all(casts)) expect(firstMismatch(c.data, cast.data)).toBe(-1);
    for (const r of await Promise.all(routes)) {
      expect(firstMismatch(r.topkIdx.data, routed.topkIdx.data)).toBe(-1);
      expect(firstMismatch(r.topkWeights.data, routed.topkWeights.data)).toBe(-1);
    }
  }
  for (let i = 0; i < 50; i++) expect(firstMismatch(fp8.routeSync(logits, gate).topkIdx.data, routed.topkIdx.data)).toBe(-1);
}, 120_000);
