/** Timing for the microbenchmarks: medians, and a memory copy of the same bytes measured alongside. */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import { native } from '../native.js';
import { allocateOutput } from '../tensor.js';

export interface BenchRow {
  name: string;
  /** Bytes the operation reads plus bytes it writes. */
  bytes: number;
  medianMs: number;
  /** The fastest and slowest of the timed calls. */
  minMs?: number;
  maxMs?: number;
  gbps: number;
  /** Copy bandwidth (read + write bytes counted) measured interleaved with this case, between typed arrays (MEASURING.md's baseline). */
  copyGbps: number;
  /** gbps / copyGbps. */
  ofCopy: number;
  /** The same copy between buffers allocated like the outputs (huge pages where the OS allows), and gbps over it. */
  hugeCopyGbps?: number;
  ofHugeCopy?: number;
  /** For a "(new output)" row: its median time over the same call's with `into`, timed in turn with it. */
  overInto?: number;
  /** Lines printed under the table (peer comparisons, why a peer is missing). */
  notes?: string[];
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function timeMs(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** Seconds an asynchronous call takes to settle. */
export async function timeAsync(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/**
 * A full collection before each case: the garbage of the one before (a peer's hundreds of MB) is
 * otherwise swept by V8's background threads during the next measurement, on the same cores.
 */
let gc: (() => void) | undefined;
export function collectGarbage(): void {
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
}

/**
 * A copy of bytes/2 bytes (bytes/2 read, bytes/2 written, `copyBytes` in all): between typed arrays
 * (MEASURING.md's baseline), or, with `huge`, between buffers allocated as the operations' outputs
 * are (allocateOutput: on huge pages where the OS allows), which copies faster.
 */
export function copyOf(bytes: number, huge = false): { copy: () => void; copyBytes: number } {
  const half = Math.max(1, Math.round(bytes / 2));
  const src = (huge ? allocateOutput('u8', half) : new Uint8Array(half)).fill(1);
  const dst = (huge ? allocateOutput('u8', half) : new Uint8Array(half)).fill(0);
  return { copy: () => native().benchCopy(dst, src), copyBytes: 2 * half };
}

/**
 * Times each of `fns` (moving `bytes` bytes) and the two copies of the same bytes (copyOf), in turn
 * `reps` times after one warm-up each, so that all of them see the same machine load.
 */
function timeInTurn(bytes: number, reps: number, fns: (() => void)[], warmups = 1): { plain: number; huge: number; copyBytes: number; hugeBytes: number; t: number[][] } {
  collectGarbage();
  const plain = copyOf(bytes);
  const huge = copyOf(bytes, true);
  plain.copy();
  huge.copy();
  for (let w = 0; w < warmups; w++) for (const fn of fns) fn();
  const c: number[] = [];
  const h: number[] = [];
  const t: number[][] = fns.map(() => []);
  for (let r = 0; r < reps; r++) {
    c.push(timeMs(plain.copy));
    h.push(timeMs(huge.copy));
    fns.forEach((fn, i) => t[i].push(timeMs(fn)));
  }
  return { plain: median(c), huge: median(h), copyBytes: plain.copyBytes, hugeBytes: huge.copyBytes, t };
}

function row(name: string, bytes: number, times: number[], m: ReturnType<typeof timeInTurn>): BenchRow {
  const medianMs = median(times);
  const gbps = bytes / medianMs / 1e6;
  const copyGbps = m.copyBytes / m.plain / 1e6;
  const hugeCopyGbps = m.hugeBytes / m.huge / 1e6;
  return { name, bytes, medianMs, minMs: Math.min(...times), maxMs: Math.max(...times), gbps, copyGbps, ofCopy: gbps / copyGbps, hugeCopyGbps, ofHugeCopy: gbps / hugeCopyGbps };
}

/** One case: `fn` next to a memory copy of the same bytes. */
export function measure(name: string, bytes: number, reps: number, fn: () => void): BenchRow {
  const m = timeInTurn(bytes, reps, [fn]);
  return row(name, bytes, m.t[0], m);
}

/**
 * One case both ways: `into` writes into outputs made once, `fresh` gets new outputs on every call (from
 * fp8kit's pool once the collector has returned earlier ones); `asUser`, where given, as a user calls it,
 * on an input made in JavaScript with a new output. Timed in turn, so the ratios are fair.
 */
export function measurePair(name: string, bytes: number, reps: number, into: () => void, fresh: () => void, asUser?: () => void): BenchRow[] {
  // Steady state: a few calls first, so the pool holds what the collector has taken back.
  const m = timeInTurn(bytes, reps, asUser ? [into, fresh, asUser] : [into, fresh], 8);
  const i = row(name, bytes, m.t[0], m);
  const others = [`${name} (new output)`, `${name} (JS input, new output)`].slice(0, m.t.length - 1);
  return [i, ...others.map((n, j) => { const r = row(n, bytes, m.t[j + 1], m); return { ...r, overInto: r.medianMs / i.medianMs }; })];
}

export function formatTable(title: string, rows: BenchRow[]): string {
  const w = Math.max(28, ...rows.map((r) => r.name.length));
  const huge = rows.some((r) => r.hugeCopyGbps !== undefined);
  const pairs = rows.some((r) => r.overInto !== undefined);
  const head =
    `${'case'.padEnd(w)} ${'MB moved'.padStart(9)} ${'median ms'.padStart(10)} ${'min-max ms'.padStart(13)} ${'GB/s'.padStart(7)} ${'copy GB/s'.padStart(10)} ${'of copy'.padStart(8)}` +
    (huge ? ` ${'huge-page copy'.padStart(15)} ${'of it'.padStart(6)}` : '') +
    (pairs ? ` ${'new/into'.padStart(9)}` : '');
  const body = rows.map(
    (r) =>
      `${r.name.padEnd(w)} ${(r.bytes / 1e6).toFixed(0).padStart(9)} ${r.medianMs.toFixed(2).padStart(10)} ${(r.minMs === undefined ? '' : `${r.minMs.toFixed(2)}-${r.maxMs!.toFixed(2)}`).padStart(13)} ${r.gbps.toFixed(1).padStart(7)} ${r.copyGbps.toFixed(1).padStart(10)} ${(100 * r.ofCopy).toFixed(0).padStart(7)}%` +
      (r.hugeCopyGbps === undefined ? '' : ` ${r.hugeCopyGbps.toFixed(1).padStart(15)} ${(100 * (r.ofHugeCopy ?? 0)).toFixed(0).padStart(5)}%`) +
      (pairs ? ` ${r.overInto === undefined ? '' : r.overInto.toFixed(2).padStart(9)}` : ''),
  );
  return [title, head, ...body, ...rows.flatMap((r) => r.notes ?? [])].join('\n') + '\n';
}

/** A fixed-seed xorshift32 stream of uniform numbers in (0, 1): benchmark data that is the same every run. */
export function uniforms(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) + 0.5) / 4294967296;
  };
}

/** Progress of a multi-part run on stderr: a bar redrawn in place on a terminal, one plain line per step otherwise. */
export function progress(step: number, steps: number, label: string): void {
  const err = process.stderr;
  if (err.isTTY) {
    const width = 24, done = Math.round((width * step) / steps);
    err.write(`\r[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${step}/${steps} ${label}`.padEnd(80) + (step === steps ? '\n' : ''));
  } else {
    err.write(`fp8kit bench: ${step}/${steps} ${label}\n`);
  }
}
