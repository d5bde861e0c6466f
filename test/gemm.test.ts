/**
 * SPEC §4: the FP8 GEMM. `promoted` against `exact` on the same FP8 inputs, the whole pipeline against
 * an f64 GEMM of the unquantized inputs, `limited` against a restatement of SPEC's model written here,
 * layouts against 'nt', threads against threads, and bad input.
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';

import { decode } from './fp8-model.js';
import { expectFp8kitError, firstMismatch, fp8, rng, seed, uniform, variants } from './helpers.js';

type Q = ReturnType<typeof fp8.quantizeSync>;
const backends = fp8.backends().filter((b) => b.available && b.name !== 'cuda-emu' && b.name !== 'cuda').map((b) => b.name);

/** Normal values (Box–Muller) with a spread of magnitudes per row, as activations have. */
function normal(n: number, s: number): Float32Array {
  const u = uniform(rng(s));
  return Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(u() + 1e-12)) * Math.cos(2 * Math.PI * u()));
}

function operands(m: number, n: number, k: number, s: number, bTile: [number, number] = [128, 128]) {
  const a = fp8.tensor('f32', [m, k], normal(m * k, s));
  const b = fp8.tensor('f32', [n, k], normal(n * k, s + 1));
  return { a, b, qa: fp8.quantizeSync(a, { backend: 'ref' }), qb: fp8.quantizeSync(b, { tile: bTile, backend: 'ref' }) };
}

const f32 = (t: unknown) => t as fp8.Tensor<'f32'>;
const SHAPES: [number, number, number][] = [[1, 7, 130], [17, 129, 256], [64, 200, 384], [3, 5, 1], [130, 64, 300]];

/** Every way to run a backend: each SIMD level of cpu. */
const runs = (backend: string) => variants(backend).map(([label, within]) => [backend === 'cpu' ? `cpu, ${label}` : backend, within] as const);
const levelOf = (label: string) => Number(/SIMD level (\d)/.exec(label)?.[1] ?? -1);

describe('promoted against exact on the same FP8 inputs (f32 out): calcDiff < 1e-10', () => {
  for (const backend of backends)
    for (const [label, within] of runs(backend))
      test(`${label}, B 128×128 and 1×128, with and without C`, () => {
        const s = seed(`gemm promoted ${label}`);
        for (const bTile of [[128, 128], [1, 128]] as [number, number][])
          for (const [m, n, k] of SHAPES) {
            const { qa, qb } = operands(m, n, k, s + m + n + k, bTile);
            const c = fp8.tensor('f32', [m, n], normal(m * n, s));
            for (const withC of [undefined, c]) {
              const got = within(() => fp8.gemmSync(qa, qb, { out: 'f32', c: withC, backend }));
              const want = fp8.gemmSync(qa, qb, { out: 'f32', c: withC, accumulate: 'exact', backend: 'ref' });
              expect(fp8.calcDiff(f32(got), f32(want)), `[${m}, ${n}, ${k}] ${bTile}`).toBeLessThan(1e-10);
            }
          }
      });
});

/**
 * 'promoted' with each k pair summed as vdpbf16ps sums it. Intel's pseudocode, which AMD Zen 4 follows
 * (checked on 3.2 M random lanes): p ← f32(f32(p + a₂ᵢ₊₁·b₂ᵢ₊₁) + a₂ᵢ·b₂ᵢ), a zero past K. `fused`: the
 * pair's two products added exactly and rounded once, p ← f32(p + a₂ᵢ₊₁·b₂ᵢ₊₁ + a₂ᵢ·b₂ᵢ), the other
 * way a CPU could implement it. Then acc ← f32(acc + f32(p · f32(sA·sB))).
 */
function pairModel(qa: Q, qb: Q, m: number, n: number, k: number, bBlocks: boolean, c: Float32Array, fused = false): Float32Array {
  const A = (qa.data as fp8.Tensor).data;
  const B = (qb.data as fp8.Tensor).data;
  const SA = (qa.scales as fp8.Tensor<'f32'>).data;
  const SB = (qb.scales as fp8.Tensor<'f32'>).data;
  const ks = Math.ceil(k / 128);
  const f = Math.fround;
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let kb = 0; kb < ks; kb++) {
        let p = 0;
        for (let t = kb * 128; t < Math.min(k, kb * 128 + 128); t += 2) {
          const even = decode(A[i * k + t], 'e4m3') * decode(B[j * k + t], 'e4m3');
          const odd = t + 1 < k ? decode(A[i * k + t + 1], 'e4m3') * decode(B[j * k + t + 1], 'e4m3') : 0;
          p = fused ? f(p + odd + even) : f(f(p + odd) + even);
        }
        const sc = f(SA[i * ks + kb] * SB[bBlocks ? Math.floor(j / 128) * ks + kb : j * ks + kb]);
        acc = f(acc + f(p * sc));
      }
      out[i * n + j] = f(acc + c[i * n + j]);
    }
  return out;
}

describe("cpu 'promoted' bit for bit: ref's bits below avx512bf16 (lanes across columns, k in order), SPEC's pair sums at avx512bf16", () => {
  for (const [label, within] of variants('cpu'))
    test(label, () => {
      const level = levelOf(label);
      const s = seed(`gemm cpu ${label}`);
      let model: 'pseudocode' | 'fused' | undefined;
      for (const [m, n, k] of [...SHAPES, [7, 33, 129], [13, 70, 1], [40, 300, 700]] as [number, number, number][])
        for (const bTile of [[128, 128], [1, 128]] as [number, number][]) {
          const { qa, qb } = operands(m, n, k, s + m * n + k, bTile);
          const c = fp8.tensor('f32', [m, n], normal(m * n, s));
          const bits32 = (t: Float32Array) => new Uint32Array(t.buffer, t.byteOffset, t.length);
          const got = f32(within(() => fp8.gemmSync(qa, qb, { out: 'f32', c, backend: 'cpu' })));
          if (level >= 5) {
            // amx: TDPBF16PS's rounding inside a tile is not documented to the bit; calcDiff and repeatability instead.
            const want = f32(fp8.gemmSync(qa, qb, { out: 'f32', c, accumulate: 'exact', backend: 'ref' }));
            expect(fp8.calcDiff(got, want), `[${m}, ${n}, ${k}]`).toBeLessThan(1e-10);
            expect(firstMismatch(bits32(f32(within(() => fp8.gemmSync(qa, qb, { out: 'f32', c, backend: 'cpu' }))).data), bits32(got.data))).toBe(-1);
            continue;
          }
          // avx512bf16: the pseudocode's model where the CPU follows it; the first case that tells the two
          // models apart decides, and every later case must then match the same one.
          let want = f32(fp8.gemmSync(qa, qb, { out: 'f32', c, backend: 'ref' })).data;
          if (level === 4) {
            const models = { pseudocode: pairModel(qa, qb, m, n, k, bTile[0] === 128, c.data), fused: pairModel(qa, qb, m, n, k, bTile[0] === 128, c.data, true) };
            if (!model && firstMismatch(models.pseudocode, models.fused) >= 0) {
              model = firstMismatch(bits32(got.data), bits32(models.pseudocode)) < 0 ? 'pseudocode' : 'fused';
              console.log(`[gemm cpu ${label}] vdpbf16ps sums as the ${model} model`);
            }
            want = models[model ?? 'pseudocode'];
          }
          expect(firstMismatch(bits32(got.data), bits32(want)), `[${m}, ${n}, ${k}] ${bTile} f32`).toBe(-1);
          // bf16 out: the same f32 sums rounded to nearest even.
          const bf = within(() => fp8.gemmSync(qa, qb, { out: 'bf16', c, backend: 'cpu' })) as fp8.Tensor<'bf16'>;
          expect(firstMismatch(bf.data, (fp8.castToBf16Sync(fp8.tensor('f32', [m, n], want)) as fp8.Tensor<'bf16'>).data), `[${m}, ${n}, ${k}] ${bTile} bf16`).toBe(-1);
        }
    });
});

test('the whole pipeline against an f64 GEMM of the unquantized inputs: calcDiff < 1e-3', () => {
  const s = seed('gemm pipeline');
  const [m, n, k] = [64, 96, 520];
  const a = fp8.castToBf16Sync(fp8.tensor('f32', [m, k], normal(m * k, s)));
  const b = fp8.castToBf16Sync(fp8.tensor('f32', [n, k], normal(n * k, s + 1)));
  const af = fp8.castToF32Sync(a).data;
  const bf = fp8.castToF32Sync(b).data;
  const want = new Float32Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let t = 0; t < k; t++) sum += af[i * k + t] * bf[j * k + t];
      want[i * n + j] = sum;
    }
  for (const backend of backends) {
    const d = fp8.gemmSync(fp8.quantizeSync(a, { backend }), fp8.quantizeSync(b, { tile: [128, 128], backend }), { backend });
    expect(d.dtype).toBe('bf16');
    expect(fp8.calcDiff(d as fp8.Tensor<'bf16'>, fp8.tensor('f32', [m, n], want))).toBeLessThan(1e-3);
  }
});

/** SPEC §4 'limited', restated: steps of 32, truncation to 2^(E − bits + 1), exact sum rounded to f32. */
function limitedModel(qa: Q, qb: Q, m: number, n: number, k: number, bits: number, interval: number, bBlocks: boolean): Float32Array {
  const A = qa.data as fp8.Tensor;
  const B = qb.data as fp8.Tensor;
  const SA = (qa.scales as fp8.Tensor<'f32'>).data;
  const SB = (qb.scales as fp8.Tensor<'f32'>).data;
  const ks = Math.ceil(k / 128);
  const view = new DataView(new ArrayBuffer(8));
  const exponent = (x: number) => {
    view.setFloat64(0, x);
    return ((view.getUint32(0) >>> 20) & 0x7ff) - 1023;
  };
  const step = (acc: number, terms: number[]) => {
    const nz = terms.filter((t) => t !== 0);
    if (!nz.length) return acc;
    let e = Math.max(...nz.map(exponent));
    if (acc !== 0) e = Math.max(e, exponent(acc));
    const unit = 2 ** (e - bits + 1);
    return Math.fround([acc, ...terms].reduce((sum, t) => sum + Math.trunc(t / unit) * unit, 0));
  };
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let acc = 0;
      let part = 0;
      for (let k0 = 0; k0 < k; k0 += 32) {
        const kb = Math.floor(k0 / 128);
        const s = Math.fround(SA[i * ks + kb] * SB[bBlocks ? Math.floor(j / 128) * ks + kb : j * ks + kb]);
        const terms: number[] = [];
        for (let t = k0; t < Math.min(k0 + 32, k); t++) terms.push(decode(A.data[i * k + t], 'e4m3') * decode(B.data[j * k + t], 'e4m3') * (interval ? 1 : s));
        if (!interval) {
          acc = step(acc, terms);
          continue;
        }
        part = step(part, terms);
        const end = Math.min(k0 + 32, k);
        if (end % interval === 0 || end === k) {
          acc = Math.fround(acc + Math.fround(part * s));
          part = 0;
        }
      }
      out[i * n + j] = acc;
    }
  return out;
}

describe("'limited' is SPEC's model, bit for bit, on every backend", () => {
  for (const [bits, interval] of [[14, 0], [14, 128], [10, 32], [20, 64]] as [number, 0 | 32 | 64 | 128][])
    test(`accumulatorBits ${bits}, promotionInterval ${interval || 'none'}`, () => {
      const s = seed(`gemm limited ${bits} ${interval}`);
      for (const [m, n, k] of [[3, 5, 300], [2, 130, 129], [1, 1, 1]] as [number, number, number][])
        for (const bBlocks of [true, false]) {
          const { qa, qb } = operands(m, n, k, s + k, bBlocks ? [128, 128] : [1, 128]);
          const want = limitedModel(qa, qb, m, n, k, bits, interval, bBlocks);
          for (const backend of backends) {
            const got = fp8.gemmSync(qa, qb, { out: 'f32', accumulate: 'limited', accumulatorBits: bits, promotionInterval: interval || undefined, backend });
            expect(firstMismatch(new Uint32Array(f32(got).data.buffer), new Uint32Array(want.buffer)), `${backend} [${m}, ${n}, ${k}]`).toBe(-1);
          }
        }
    });

  test('at K = 4096 on all-positive inputs, no promotion errs at least 5× more than promotion every 128', () => {
    const s = seed('gemm limited study');
    const [m, n, k] = [8, 8, 4096];
    const u = uniform(rng(s));
    const qa = fp8.quantizeSync(fp8.tensor('f32', [m, k], Float32Array.from({ length: m * k }, () => u())), { backend: 'ref' });
    const qb = fp8.quantizeSync(fp8.tensor('f32', [n, k], Float32Array.from({ length: n * k }, () => u())), { tile: [128, 128], backend: 'ref' });
    const exact = f32(fp8.gemmSync(qa, qb, { out: 'f32', accumulate: 'exact', backend: 'ref' })).data;
    const err = (d: Float32Array) => Math.max(...d.map((v, i) => Math.abs(v - exact[i]))) / Math.max(...exact.map(Math.abs));
    const none = err(f32(fp8.gemmSync(qa, qb, { out: 'f32', accumulate: 'limited', backend: 'ref' })).data);
    const every128 = err(f32(fp8.gemmSync(qa, qb, { out: 'f32', accumulate: 'limited', promotionInterval: 128, backend: 'ref' })).data);
    console.log(`[gemm limited study] K = 4096, all-positive: ${(100 * none).toFixed(3)}% without promotion, ${(100 * every128).toFixed(4)}% with N_C = 128`);
    expect(none).toBeGreaterThan(5 * every128);
  });
});

/** The FP8 bytes and scales of a quantized [R, C] matrix as the [C, R] matrix stored the other way. */
function transposed(q: Q, rows: number, cols: number, tile: [number, number]): Q {
  const d = (q.data as fp8.Tensor).data as Uint8Array;
  const s = (q.scales as fp8.Tensor<'f32'>).data;
  const [sr, sc] = q.scales.shape;
  const td = new Uint8Array(d.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) td[c * rows + r] = d[r * cols + c];
  const ts = new Float32Array(s.length);
  for (let r = 0; r < sr; r++) for (let c = 0; c < sc; c++) ts[c * sr + r] = s[r * sc + c];
  return { ...q, tile, data: fp8.tensor('e4m3', [cols, rows], td), scales: fp8.tensor('f32', [sc, sr], ts) };
}

describe('layouts and threads', () => {
  // cuda-emu: the CUDA kernel's transposes in shared memory (M, N multiples of 16: cp.async; else bytewise copies)
  for (const backend of [...backends, 'cuda-emu'])
    for (const [label, within] of runs(backend))
    test(`${label}: 'nn', 'tn', 'tt' equal 'nt' of the explicitly transposed operands, bit for bit`, () => within(() => {
      const s = seed(`gemm layouts ${label}`);
      for (const [m, n, k] of [[33, 140, 260], [64, 144, 384]])
      for (const bTile of [[128, 128], [1, 128]] as [number, number][]) {
        const { qa, qb } = operands(m, n, k, s, bTile);
        const want = f32(fp8.gemmSync(qa, qb, { out: 'f32', backend })).data;
        const at = transposed(qa, m, k, [128, 1]);
        const bt = transposed(qb, n, k, bTile[0] === 1 ? [128, 1] : [128, 128]);
        for (const [layout, A, B] of [['nn', qa, bt], ['tn', at, bt], ['tt', at, qb]] as const) {
          const got = f32(fp8.gemmSync(A, B, { out: 'f32', layout, backend })).data;
          expect(firstMismatch(new Uint32Array(got.buffer), new Uint32Array(want.buffer)), `${layout} B ${bTile}`).toBe(-1);
        }
      }
    }));

  test.each(variants('cpu').map(([label]) => levelOf(label)))('cpu at SIMD level %i: 1 and 2 threads give the same bits', (level) => {
    const s = seed(`gemm threads ${level}`);
    // The child draws the same operands from the seed, so nothing large crosses the process boundary.
    const script = `
      const fp8 = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'index.js'))});
      require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'native.js'))}).native().cpuSimd(${level});
      let x = Number(process.argv[1]) >>> 0 || 1;
      const next = () => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return (x >>> 0) / 4294967296 - 0.5; };
      const t = (r, c) => fp8.tensor('f32', [r, c], Float32Array.from({ length: r * c }, next));
      const qa = fp8.quantizeSync(t(40, 700)), qb = fp8.quantizeSync(t(300, 700), { tile: [128, 128] });
      for (const accumulate of ['promoted', 'limited'])
        process.stdout.write(Buffer.from(fp8.gemmSync(qa, qb, { out: 'f32', accumulate, backend: 'cpu' }).data.buffer).toString('hex'));`;
    const run = (threads: string) => execFileSync(process.execPath, ['-e', script, String(s)], { env: { ...process.env, FP8KIT_THREADS: threads }, encoding: 'utf8', maxBuffer: 1 << 26 });
    const one = run('1');
    expect(one.length).toBe(2 * 40 * 300 * 8);
    expect(run('2')).toBe(one);
  });
});

describe('bad input is an Fp8kitError naming the argument', () => {
  const { qa, qb } = operands(4, 8, 256, 7);

  test('K mismatch, scale shapes, tiles, layouts', () => {
    const other = operands(8, 8, 384, 8).qb;
    expectFp8kitError(() => fp8.gemmSync(qa, other), 'ERR_SHAPE', /K differs: a\.data \[4, 256\] has K = 256 and b\.data \[8, 384\] has K = 384/);
    expectFp8kitError(() => fp8.gemmSync(qa, { ...qb, scales: fp8.tensor('f32', [1, 3], new Float32Array(3)) }), 'ERR_SHAPE', /b\.scales has shape \[1, 3\]; b\.data \[8, 256\] with 128×128 tiles needs \[1, 2\]/);
    expectFp8kitError(() => fp8.gemmSync(fp8.quantizeSync(fp8.tensor('f32', [4, 256], new Float32Array(1024).fill(1)), { tile: [1, 64] }), qb), 'ERR_ARGUMENT', /its tiles must be 1×128; got 1×64/);
    const kMajor = fp8.quantizeSync(fp8.tensor('f32', [256, 4], new Float32Array(1024).fill(1)));
    expectFp8kitError(() => fp8.gemmSync(kMajor, qb, { layout: 'tt' }), 'ERR_ARGUMENT', /a is stored \[K, M\] for layout 'tt', so its tiles must be 128×1; got 1×128/);
    expectFp8kitError(() => fp8.gemmSync(qa, qb, { layout: 'xx' as never }), 'ERR_ARGUMENT', /options\.layout must be one of 'nt', 'nn', 'tn', 'tt'/);
  });

  test('dtypes, options, C', () => {
    expectFp8kitError(() => fp8.gemmSync(fp8.tensor('f32', [4, 256]) as never, qb), 'ERR_ARGUMENT', /a must be a quantized tensor/);
    expectFp8kitError(() => fp8.gemmSync(qa, { ...qb, data: fp8.tensor('u8', [8, 256]) } as never), 'ERR_DTYPE', /b\.data\.dtype must be e4m3 or e5m2/);
    expectFp8kitError(() => fp8.gemmSync(qa, qb, { out: 'f16' as never }), 'ERR_ARGUMENT', /options\.out must be one of 'bf16', 'f32'/);
    expectFp8kitError(() => fp8.gemmSync(qa, qb, { accumulate: 'limited', accumulatorBits: 0 }), 'ERR_ARGUMENT', /accumulatorBits must be an integer from 1 to 30/);
    expectFp8kitError(() => fp8.gemmSync(qa, qb, { accumulate: 'limited', promotionInterval: 100 as never }), 'ERR_ARGUMENT', /promotionInterval must be 32, 64 or 128/);
    expectFp8kitError(() => fp8.gemmSync(qa, qb, { promotionInterval: 128 }), 'ERR_ARGUMENT', /belong to accumulate: 'limited'/);
    expectFp8kitError(() => fp8.gemmSync(qa, qb, { c: fp8.tensor('f32', [4, 7]) }), 'ERR_SHAPE', /options\.c has shape \[4, 7\]; the result has shape \[4, 8\]/);
  });

  test('the Promise form and into', async () => {
    const into = fp8.tensor('bf16', [4, 8]);
    const d = await fp8.gemm(qa, qb, { into });
    expect(d).toBe(into);
    expect(firstMismatch(into.data, (fp8.gemmSync(qa, qb, { backend: 'ref' }) as fp8.Tensor<'bf16'>).data)).toBe(-1);
    await expect(fp8.gemm(qa, other8())).rejects.toMatchObject({ code: 'ERR_SHAPE' });
  });
  const other8 = () => operands(8, 8, 128, 9).qb;
});

test('calcDiff is DeepGEMM\'s: 1 − 2Σxy / Σ(x² + y²), 0 for two zero tensors', () => {
  const x = fp8.tensor('f32', [3], Float32Array.of(1, 2, 3));
  const y = fp8.tensor('f32', [3], Float32Array.of(1, 2, 4));
  expect(fp8.calcDiff(x, y)).toBeCloseTo(1 - (2 * 17) / (14 + 21), 15);
  expect(fp8.calcDiff(x, x)).toBe(0);
  expect(fp8.calcDiff(fp8.tensor('f32', [2]), fp8.tensor('f32', [2]))).toBe(0);
  expect(fp8.calcDiff(fp8.castToBf16Sync(x), x)).toBe(0);
  expect(() => fp8.calcDiff(x, fp8.tensor('f32', [2]))).toThrow(/x has shape \[3\] and y \[2\]/);
});
