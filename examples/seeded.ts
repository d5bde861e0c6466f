/** The examples' data: seeded uniform values in [-scale/2, scale/2), the same on every run (xorshift32). */
export function values(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length: n }, () => {
    s ^= s << 13, s ^= s >>> 17, s ^= s << 5;
    return ((s >>> 0) / 2 ** 32 - 0.5) * scale;
  });
}
