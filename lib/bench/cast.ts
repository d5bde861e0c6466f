/** `fp8kit bench cast`: every cast of SPEC.md §1 over n elements, next to a copy of the same bytes. */
import type { BackendName } from '../backends.js';
import { castFromFp8Sync, castToBf16Sync, castToF32Sync, castToFp8Sync } from '../cast.js';
import { bytesPerElement, DType, Tensor, tensor } from '../tensor.js';
import { BenchRow, measurePair, uniforms } from './harness.js';
import { benchCastPeers } from './peers/onnxruntime.js';

export interface BenchOptions {
  n: number;
  reps: number;
  backend: BackendName;
  /** `--shape`'s two-dimensional entries: [M, K] for quant and cast-transpose, [tokens, experts] for route. */
  shapes?: [number, number][];
}

/** Normal random values (Box–Muller from a fixed-seed xorshift): the data the casts see in practice. */
function randomF32(n: number, seed: number): Float32Array {
  const x = new Float32Array(n);
  const next = uniforms(seed);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(next())) * 64;
    const a = 2 * Math.PI * next();
    x[i] = r * Math.cos(a);
    if (i + 1 < n) x[i + 1] = r * Math.sin(a);
  }
  return x;
}

export function benchCast(o: BenchOptions): BenchRow[] {
  const { n, reps, backend } = o;
  const f32 = tensor('f32', [n], randomF32(n, 0x5eed));
  const bf16 = castToBf16Sync(f32, { backend });
  const e4m3 = castToFp8Sync(f32, { backend });
  const e5m2 = castToFp8Sync(f32, { format: 'e5m2', backend });
  const moved = (a: DType, b: DType) => n * (bytesPerElement(a) + bytesPerElement(b));
  // Each case twice, timed in turn: into outputs made once, as a serving loop would reuse them, and with
  // a new output per call (allocation, and first-touch page faults where the pool has nothing to give).
  const e4m3Out = castToFp8Sync(f32, { backend });
  const e5m2Out = castToFp8Sync(f32, { format: 'e5m2', backend });
  const f32Out = castFromFp8Sync(e4m3, { backend });
  const bf16Out = castToBf16Sync(f32, { backend });
  const cases: [string, DType, DType, (into?: Tensor) => Tensor, Tensor][] = [
    ['f32 -> e4m3', 'f32', 'e4m3', (into) => castToFp8Sync(f32, { backend, into }), e4m3Out],
    ['f32 -> e5m2', 'f32', 'e5m2', (into) => castToFp8Sync(f32, { format: 'e5m2', backend, into }), e5m2Out],
    ['f32 -> e4m3 (no saturate)', 'f32', 'e4m3', (into) => castToFp8Sync(f32, { saturate: false, backend, into }), e4m3Out],
    ['bf16 -> e4m3', 'bf16', 'e4m3', (into) => castToFp8Sync(bf16, { backend, into }), e4m3Out],
    ['e4m3 -> f32', 'e4m3', 'f32', (into) => castFromFp8Sync(e4m3, { backend, into }), f32Out],
    ['e5m2 -> f32', 'e5m2', 'f32', (into) => castFromFp8Sync(e5m2, { backend, into }), f32Out],
    ['e4m3 -> bf16', 'e4m3', 'bf16', (into) => castFromFp8Sync(e4m3, { out: 'bf16', backend, into }), bf16Out],
    ['f32 -> bf16', 'f32', 'bf16', (into) => castToBf16Sync(f32, { backend, into }), bf16Out],
    ['bf16 -> f32', 'bf16', 'f32', (into) => castToF32Sync(bf16, { backend, into }), f32Out],
  ];
  const rows = cases.flatMap(([name, a, b, fn, out]) => measurePair(name, moved(a, b), reps, () => fn(out), () => fn()));
  // the onnxruntime peer's Cast of the same input, against the rows above
  const peers = benchCastPeers(o, f32.data, (name, format, saturate) => ({
    ms: rows.find((r) => r.name === name)!.medianMs,
    decoded: (castFromFp8Sync(castToFp8Sync(f32, { format, saturate, backend: 'ref' })) as Tensor<'f32'>).data,
  }));
  rows.push(...peers.rows);
  if (peers.notes.length) rows[rows.length - 1] = { ...rows[rows.length - 1], notes: [...(rows[rows.length - 1].notes ?? []), ...peers.notes] };
  return rows;
}
