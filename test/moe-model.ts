/** Restatements of SPEC §5 (the gate) and §8 (combine's reduction) for the MoE tests, written from SPEC, not from fp8kit. */
const f = Math.fround;
const buf = new DataView(new ArrayBuffer(4));

export function f32Bits(x: number): number {
  buf.setFloat32(0, x);
  return buf.getUint32(0);
}
export function bitsF32(b: number): number {
  buf.setUint32(0, b >>> 0);
  return buf.getFloat32(0);
}
/** f32 → bf16 bits, round to nearest even (finite inputs). */
export function bf16(x: number): number {
  const b = f32Bits(x);
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}
export function fromBf16(h: number): number {
  return bitsF32(h << 16);
}

/** fp8kit's exp as README's "MoE" section states it: Cephes' range reduction and polynomial, each operation rounded to f32. */
export function expf(x: number): number {
  if (x > 88.7228394) return Infinity;
  if (x < -103.972084) return 0;
  const n = Math.floor(f(f(x * f(1.44269504)) + 0.5));
  const r = f(f(x + f(n * f(-0.693359375))) + f(n * f(2.12194440e-4)));
  let q = f(1.9875691500e-4);
  for (const c of [1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1]) q = f(f(q * r) + f(c));
  const p = f(f(f(q * f(r * r)) + r) + 1);
  const a = n > 127 ? 1 : n < -126 ? -64 : 0;
  return f(f(p * 2 ** (n - a)) * 2 ** a);
}

export interface Gate {
  topk: number;
  groups: number;
  topkGroups: number;
  scoreFunc: 'sigmoid' | 'softmax';
  bias?: Float32Array;
  routeScale: number;
}

/** SPEC §5 for one token's logits (already f32 values). */
export function gate(logits: ArrayLike<number>, g: Gate): { idx: number[]; weights: number[] } {
  const E = logits.length, per = E / g.groups;
  let s: number[];
  if (g.scoreFunc === 'sigmoid') s = Array.from(logits, (x) => f(1 / f(1 + expf(-x))));
  else {
    const m = Math.max(...Array.from(logits));
    const e = Array.from(logits, (x) => expf(f(x - m)));
    let sum = 0;
    for (const v of e) sum = f(sum + v);
    s = e.map((v) => f(v / sum));
  }
  const sel = g.bias ? s.map((v, i) => f(v + g.bias![i])) : s;
  // Best first, ties to the lower index.
  const order = (vals: number[], ids: number[]) => [...ids].sort((a, b) => (vals[b] - vals[a]) || a - b);
  const groupScore = Array.from({ length: g.groups }, (_, gi) => {
    const members = sel.slice(gi * per, (gi + 1) * per).sort((a, b) => b - a);
    return g.bias && per > 1 ? f(members[0] + members[1]) : members[0];
  });
  const kept = order(groupScore, [...Array(g.groups).keys()]).slice(0, g.topkGroups);
  const candidates = kept.flatMap((gi) => Array.from({ length: per }, (_, j) => gi * per + j));
  const idx = order(sel, candidates).slice(0, g.topk);
  let sum = 0;
  for (const e of idx) sum = f(sum + s[e]);
  const weights = idx.map((e) => f((g.scoreFunc === 'sigmoid' ? f(s[e] / sum) : s[e]) * f(g.routeScale)));
  return { idx, weights };
}
