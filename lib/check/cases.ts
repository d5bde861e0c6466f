/**
 * `fp8kit check`: every operation of one backend against `ref` on seeded random inputs — bit for bit
 * where SPEC says the results are exact (casts, quantization, cast-transpose, `limited` GEMMs, packed
 * weights, route, layout, dispatch and combine), by `calcDiff` against SPEC §4's bars where it lets
 * backends differ (`promoted` and `exact` GEMMs). What a user runs to trust a backend on their machine.
 */
import { backends } from '../backends.js';
import { castFromFp8Sync, castToBf16Sync, castToFp8Sync } from '../cast.js';
import { isDeviceBackend } from '../device.js';
import { Fp8kitError } from '../errors.js';
import { calcDiff, GemmLayout, gemmSync } from '../gemm.js';
import { groupedGemmContiguousSync, groupedGemmMaskedSync } from '../grouped.js';
import { Cluster } from '../moe/cluster.js';
import { dispatchLayoutSync } from '../moe/layout.js';
import { routeSync } from '../moe/route.js';
import { packWeightsSync } from '../pack.js';
import { castTransposeSync, dequantizeSync, QuantizedTensor, quantizeSync, Tile } from '../quant.js';
import { Fp8Format, Tensor, tensor } from '../tensor.js';
import { uniforms } from '../bench/harness.js';

export interface CheckRow {
  op: string;
  case: string;
  /** 'pass', 'fail', or 'n/a' where the backend does not offer the case (named in detail). */
  result: 'pass' | 'fail' | 'n/a';
  /** What was compared: 'bits' or 'calcDiff < bar'. */
  bar: string;
  /** What was found: 'equal', the first mismatch, the calcDiff, or why n/a. */
  detail: string;
  ms: number;
}

export interface CheckOptions {
  backend: string;
  seed: number;
  quick: boolean;
}

/** Normal values times 2^e for e in [-spread, spread]: a range the scales must follow. */
function values(n: number, seed: number, spread = 4): Float32Array {
  const u = uniforms(seed);
  return Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(u() + 1e-12)) * Math.cos(2 * Math.PI * u()) * 2 ** Math.floor(u() * (2 * spread + 1) - spread));
}

function bytesOf(x: unknown): Uint8Array {
  const t = x as Tensor | ArrayBufferView;
  const d = (ArrayBuffer.isView(t) ? t : (t as Tensor).data) as ArrayBufferView;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/** '' when every pair holds the same bytes, else where the first difference is. */
function sameBits(parts: [string, unknown, unknown][]): string {
  for (const [name, got, want] of parts) {
    const g = bytesOf(got), w = bytesOf(want);
    if (g.length !== w.length) return `${name}: ${g.length} bytes, ref ${w.length}`;
    for (let i = 0; i < g.length; i++) if (g[i] !== w[i]) return `${name}: byte ${i} is ${g[i]}, ref ${w[i]}`;
  }
  return '';
}

/** A calcDiff row's outcome. */
function below(d: number, bar: number): { ok: boolean; detail: string } {
  return { ok: d < bar, detail: `calcDiff ${d === 0 ? '0' : d.toExponential(2)}` };
}

/** A backend that can be checked here: known and available, else the error saying which and why. */
export function checkableBackend(name: string): void {
  const info = backends().find((b) => b.name === name);
  if (!info) throw new Fp8kitError('ERR_ARGUMENT', `check: no backend '${name}' (have: ${backends().map((b) => b.name).join(', ')})`);
  if (!info.available) throw new Fp8kitError('ERR_BACKEND_UNAVAILABLE', `check: backend '${name}' is unavailable here: ${info.reason}`);
}

/** The checks of one backend, in order; each row catches its own errors (an exception is a failure). */
export function runChecks(o: CheckOptions, progress?: (row: CheckRow) => void): CheckRow[] {
  checkableBackend(o.backend);
  const backend = o.backend as 'cpu';
  const onGpu = backend === ('cuda' as string);
  const cudaLike = isDeviceBackend(backend);  // the CUDA kernels: promoted GEMMs only, no column-tile dequantize
  const rows: CheckRow[] = [];
  let n = 0;
  // fn: '' (bits equal) or where they differ; a measure against the bar; or why the backend does not offer the case.
  const row = (op: string, name: string, bar: string, fn: () => string | { ok: boolean; detail: string } | { na: string }) => {
    const t0 = Date.now();
    let r: CheckRow;
    try {
      const d = fn();
      r = typeof d === 'string' ? { op, case: name, result: d ? 'fail' : 'pass', bar, detail: d || 'equal', ms: 0 }
        : 'na' in d ? { op, case: name, result: 'n/a', bar, detail: d.na, ms: 0 } : { op, case: name, result: d.ok ? 'pass' : 'fail', bar, detail: d.detail, ms: 0 };
    } catch (e) {
      const err = e as Error & { code?: string };
      r = { op, case: name, result: 'fail', bar, detail: `${err.code ?? 'error'}: ${err.message}`, ms: 0 };
    }
    r.ms = Date.now() - t0;
    rows.push(r);
    progress?.(r);
  };
  const seed = () => (o.seed + 7919 * ++n) >>> 0;
  const [R, C] = o.quick ? [67, 300] : [300, 1100];  // matrix shapes: partial tiles both ways

  // SPEC §1 casts: all 256 codes back, and random f32 / bf16 values (specials included) forward.
  const specials = [0, -0, Infinity, -Infinity, NaN, 448, 449, 464, 57344, 61440, 1e-9, -(2 ** -10), 2 ** -9];
  const x32 = tensor('f32', [R * C], Float32Array.from([...specials, ...values(R * C - specials.length, seed(), 18)]));
  const x16 = castToBf16Sync(x32, { backend: 'ref' });
  for (const format of ['e4m3', 'e5m2'] as const)
    for (const saturate of [true, false])
      for (const x of [x32, x16])
        row('castToFp8', `${x.dtype} -> ${format}${saturate ? ', saturate' : ''}`, 'bits', () =>
          sameBits([['q', castToFp8Sync(x, { format, saturate, backend }), castToFp8Sync(x, { format, saturate, backend: 'ref' })]]));
  const codes = tensor('u8', [256], Uint8Array.from({ length: 256 }, (_, i) => i));
  for (const format of ['e4m3', 'e5m2'] as const)
    for (const out of ['f32', 'bf16'] as const)
      row('castFromFp8', `${format} -> ${out}, all 256 codes`, 'bits', () => {
        const q = tensor(format, [256], codes.data);
        return sameBits([['y', castFromFp8Sync(q, { out, backend }), castFromFp8Sync(q, { out, backend: 'ref' })]]);
      });

  // SPEC §2 and §3: every tiling, both formats, both scale formats, both inputs; dequantize; castTranspose.
  const m32 = tensor('f32', [R, C], values(R * C, seed()));
  const m16 = castToBf16Sync(m32, { backend: 'ref' });
  const tiles: Tile[] = [[1, 128], [128, 1], [128, 128]];
  for (const tile of tiles)
    for (const format of ['e4m3', 'e5m2'] as const)
      for (const x of [m32, m16])
        for (const scaleFormat of ['f32', 'ue8m0'] as const) {
          const label = `${tile.join('x')} ${x.dtype} -> ${format}, ${scaleFormat} scales`;
          let q: QuantizedTensor | undefined;
          row('quantize', label, 'bits', () => {
            q = quantizeSync(x, { tile, format, scaleFormat, backend });
            const want = quantizeSync(x, { tile, format, scaleFormat, backend: 'ref' });
            return sameBits([['data', q.data, want.data], ['scales', q.scales, want.scales]]);
          });
          if (tile[0] === 1 && scaleFormat === 'f32' && format === 'e4m3')
            row('quantize', `${label}, mn-major scales`, 'bits', () => {
              const got = quantizeSync(x, { tile, format, scaleLayout: 'mn-major', backend });
              const want = quantizeSync(x, { tile, format, scaleLayout: 'mn-major', backend: 'ref' });
              return sameBits([['data', got.data, want.data], ['scales', got.scales, want.scales]]);
            });
          if (scaleFormat === 'f32')
            row('dequantize', `${label} -> f32`, 'bits', () => {
              if (cudaLike && tile[1] === 1) return { na: `the ${backend} dequantize takes 1xG and GxG tiles` };
              if (!q) return 'quantize failed';
              return sameBits([['y', dequantizeSync(q, { out: 'f32', backend }), dequantizeSync(q, { out: 'f32', backend: 'ref' })]]);
            });
        }
  for (const tile of [[1, 128], [128, 128]] as Tile[])
    for (const x of [m32, m16])
      row('castTranspose', `${tile.join('x')} ${x.dtype} -> e4m3`, 'bits', () => {
        const got = castTransposeSync(x, { tile, backend }), want = castTransposeSync(x, { tile, backend: 'ref' });
        return sameBits([['rowwise data', got.rowwise.data, want.rowwise.data], ['rowwise scales', got.rowwise.scales, want.rowwise.scales],
          ['columnwise data', got.columnwise.data, want.columnwise.data], ['columnwise scales', got.columnwise.scales, want.columnwise.scales]]);
      });

  // SPEC §4: every layout, both B scalings, both formats; promoted and exact by calcDiff, limited by bits.
  const promotedBar = onGpu ? 1e-6 : 1e-10;
  const shapes: [number, number, number][] = o.quick ? [[1, 7, 130], [33, 64, 256], [70, 136, 300]] : [[1, 7, 130], [4, 512, 1024], [33, 64, 256], [129, 257, 77], [200, 136, 512], [256, 1024, 2048]];
  const transposed = (x: Float32Array, rows: number, cols: number) => Float32Array.from({ length: rows * cols }, (_, j) => x[(j % rows) * cols + Math.floor(j / rows)]);
  for (const [i, [m, nn, k]] of shapes.entries())
    for (const layout of ['nt', 'nn', 'tn', 'tt'] as GemmLayout[]) {
      const aT = layout === 'tn' || layout === 'tt', bT = layout === 'nn' || layout === 'tn';
      const lines = (i + layout.length + (aT ? 1 : 0)) % 2 === 1;
      const formats: [Fp8Format, Fp8Format] = i % 2 ? ['e4m3', 'e5m2'] : ['e4m3', 'e4m3'];
      const av = values(m * k, seed(), 2), bv = values(nn * k, seed(), 2);
      const qa = quantizeSync(tensor('f32', aT ? [k, m] : [m, k], aT ? transposed(av, m, k) : av), { tile: aT ? [128, 1] : [1, 128], format: formats[0], backend: 'ref' });
      const bTile: Tile = lines ? (bT ? [128, 1] : [1, 128]) : [128, 128];
      const qb = quantizeSync(tensor('f32', bT ? [k, nn] : [nn, k], bT ? transposed(bv, nn, k) : bv), { tile: bTile, format: formats[1], backend: 'ref' });
      const label = `${m}x${nn}x${k} '${layout}' ${lines ? '1D1D' : '1D2D'} ${formats.join('x')}`;
      const exact = gemmSync(qa, qb, { out: 'f32', layout, accumulate: 'exact', backend: 'ref' });
      row('gemm', `${label} promoted`, `calcDiff < ${promotedBar}`, () => {
        return below(calcDiff(gemmSync(qa, qb, { out: 'f32', layout, backend }) as Tensor<'f32'>, exact), promotedBar);
      });
      if (i === 0 || layout === 'nt') {
        const packed = (() => {
          try {
            return packWeightsSync(qb, { layout, backend });
          } catch (e) {
            return e as Error;
          }
        })();
        row('packWeights', `${label}`, 'bits (against the unpacked B)', () => {
          if (packed instanceof Error) throw packed;
          return sameBits([['d', gemmSync(qa, packed, { out: 'f32', layout }), gemmSync(qa, qb, { out: 'f32', layout, backend })]]);
        });
      }
      if (layout === 'nt')
        for (const accumulate of ['exact', 'limited'] as const)
          row('gemm', `${label} ${accumulate}`, accumulate === 'exact' ? 'calcDiff < 1e-14' : 'bits', () => {
            if (cudaLike) return { na: `the ${backend} GEMM accumulates as tensor cores do (promoted only)` };
            const got = gemmSync(qa, qb, { out: 'f32', layout, accumulate, backend });
            if (accumulate === 'exact') {
              return below(calcDiff(got as Tensor<'f32'>, exact), 1e-14);
            }
            return sameBits([['d', got, gemmSync(qa, qb, { out: 'f32', layout, accumulate, backend: 'ref' })]]);
          });
    }

  // Grouped GEMMs: contiguous (with padding rows) and masked, against ref's promoted.
  {
    const [G, N, K] = o.quick ? [3, 64, 256] : [4, 256, 512];
    const qb = quantizeSync(tensor('f32', [G, N, K], values(G * N * K, seed(), 2)), { tile: [128, 128], backend: 'ref' });
    const M = 4 * 128;
    const idx = new Int32Array(M).fill(-1);
    idx.fill(2, 0, 100), idx.fill(0, 128, 131), idx.fill(1, 256, 384);
    const qa = quantizeSync(tensor('f32', [M, K], values(M * K, seed(), 2)), { backend: 'ref' });
    row('groupedGemmContiguous', `${M}x${N}x${K}, ${G} groups, padding rows`, `calcDiff < ${promotedBar}, padding rows zero`, () => {
      const got = groupedGemmContiguousSync(qa, qb, idx, { out: 'f32', backend }), want = groupedGemmContiguousSync(qa, qb, idx, { out: 'f32', backend: 'ref' });
      for (let r = 0; r < M; r++) if (idx[r] < 0 && got.data.subarray(r * N, (r + 1) * N).some((v) => v !== 0)) return `padding row ${r} is not zero`;
      return below(calcDiff(got as Tensor<'f32'>, want as Tensor<'f32'>), promotedBar);
    });
    const q3 = quantizeSync(tensor('f32', [G, 128, K], values(G * 128 * K, seed(), 2)), { backend: 'ref' });
    const masked = Int32Array.from({ length: G }, (_, g) => [128, 0, 17, 100][g % 4]);
    row('groupedGemmMasked', `${G}x128x${N}x${K}, maskedM ${Array.from(masked).join(',')}`, `calcDiff < ${promotedBar}`, () => {
      return below(calcDiff(groupedGemmMaskedSync(q3, qb, masked, { out: 'f32', backend }) as Tensor<'f32'>, groupedGemmMaskedSync(q3, qb, masked, { out: 'f32', backend: 'ref' }) as Tensor<'f32'>), promotedBar);
    });
  }

  // SPEC §5 and §7: the DeepSeek-V3 gate (sigmoid with bias; softmax), f32 and bf16 logits; the layout.
  const T = o.quick ? 256 : 4096, E = 256;
  const logits = tensor('f32', [T, E], values(T * E, seed(), 1));
  const bias = tensor('f32', [E], values(E, seed(), 0).map((v) => 0.05 * v));
  let picked: Tensor<'i32'> | undefined;
  for (const [name, opts] of [['sigmoid, bias, 8 groups / 4, top-8', { topk: 8, groups: 8, topkGroups: 4, routeScale: 2.5, bias }], ['softmax, top-6', { topk: 6, scoreFunc: 'softmax' as const }]] as const)
    for (const l of [logits, castToBf16Sync(logits, { backend: 'ref' })])
      row('route', `${T}x${E} ${l.dtype}, ${name}`, 'bits', () => {
        const got = routeSync(l, { ...opts, backend }), want = routeSync(l, { ...opts, backend: 'ref' });
        if (!picked) picked = want.topkIdx;
        return sameBits([['topkIdx', got.topkIdx, want.topkIdx], ['topkWeights', got.topkWeights, want.topkWeights]]);
      });
  row('dispatchLayout', `${T}x8 on 2x8 ranks`, 'bits', () => {
    if (!picked) return 'route failed';
    const topo = { nodes: 2, gpusPerNode: 8 };
    const got = dispatchLayoutSync(picked, E, topo, { backend }), want = dispatchLayoutSync(picked, E, topo, { backend: 'ref' });
    return sameBits((['tokensPerRank', 'tokensPerNode', 'tokensPerExpert', 'isTokenInRank'] as const).map((f) => [f, got[f], want[f]] as [string, unknown, unknown]));
  });
  return rows;
}

/** SPEC §8 on a small simulated cluster (2 × 2): this backend's copies and sums against ref's, bit for bit. */
export async function runClusterChecks(o: CheckOptions, progress?: (row: CheckRow) => void): Promise<CheckRow[]> {
  const rows: CheckRow[] = [];
  if (o.backend === 'cuda') {
    const r: CheckRow = { op: 'dispatch/combine', case: 'sim 2x2', result: 'n/a', bar: 'bits', detail: "the sim cluster moves host rows: 'cuda' runs its kernels on device memory (checked through cuda-emu)", ms: 0 };
    progress?.(r);
    return [r];
  }
  const topo = { nodes: 2, gpusPerNode: 2 }, R = 4, E = 16, H = 384, k = 4;
  for (const payload of ['fp8', 'bf16'] as const) {
    const t0 = Date.now();
    let detail = '';
    try {
      const inputs = Array.from({ length: R }, (_, s) => {
        const T = 20 + 7 * s, u = uniforms(o.seed + 31 * s + (payload === 'bf16' ? 1 : 0));
        const idx = new Int32Array(T * k);
        for (let t = 0; t < T; t++) {
          const first = Math.floor(u() * E);
          for (let j = 0; j < k; j++) idx[t * k + j] = u() < 0.1 ? -1 : (first + 3 * j + 1) % E;
        }
        return { x: tensor('f32', [T, H], values(T * H, o.seed + s, 3)), topkIdx: tensor('i32', [T, k], idx), topkWeights: tensor('f32', [T, k], Float32Array.from({ length: T * k }, () => u())) };
      });
      const results = [];
      for (const b of [o.backend, 'ref'] as const) {
        const cluster = new Cluster(topo, { numExperts: E, backend: b as 'cpu' });
        const rec = await cluster.dispatch(inputs, { payload, expertAlignment: 8 });
        const y = rec.map((r) => castToBf16Sync(tensor('f32', [r.expanded!.x.shape[0], H], values(r.expanded!.x.shape[0] * H, o.seed + 5, 1)), { backend: 'ref' }));
        const out = await cluster.combine(y, rec, { weights: true });
        results.push({ rec, out });
      }
      const [got, want] = results;
      for (let r = 0; r < R && !detail; r++)
        detail = sameBits([[`rank ${r} recvX`, got.rec[r].recvX, want.rec[r].recvX], [`rank ${r} expanded x`, got.rec[r].expanded!.x, want.rec[r].expanded!.x],
          ...(payload === 'fp8' ? ([[`rank ${r} recvScales`, got.rec[r].recvScales, want.rec[r].recvScales]] as [string, unknown, unknown][]) : []),
          [`rank ${r} combine`, got.out[r], want.out[r]]]);
    } catch (e) {
      const err = e as Error & { code?: string };
      detail = `${err.code ?? 'error'}: ${err.message}`;
    }
    const r: CheckRow = { op: 'dispatch/combine', case: `sim 2x2, ${payload} payload, expanded + weighted combine`, result: detail ? 'fail' : 'pass', bar: 'bits', detail: detail || 'equal', ms: Date.now() - t0 };
    rows.push(r);
    progress?.(r);
  }
  return rows;
}

