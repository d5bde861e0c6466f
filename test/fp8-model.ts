/**
 * SPEC.md §1 restated in plain JavaScript, straight from the format table: decode by the formula,
 * encode by searching for the nearest representable value. Independent of native/common/fp8.h, so the
 * tests can check the reference itself, not only that backends agree with it.
 */
export type Format = 'e4m3' | 'e5m2';

const SPEC = {
  e4m3: { mant: 3, bias: 7, maxCode: 0x7e, overflowCode: 0x7f, overflowValue: 480 },
  e5m2: { mant: 2, bias: 15, maxCode: 0x7b, overflowCode: 0x7c, overflowValue: 65536 },
};

export function decode(code: number, f: Format): number {
  const { mant, bias } = SPEC[f];
  const sign = code & 0x80 ? -1 : 1;
  const e = (code & 0x7f) >> mant;
  const m = code & ((1 << mant) - 1);
  const emax = (1 << (7 - mant)) - 1;
  if (f === 'e4m3' && e === emax && m === 7) return NaN;
  if (f === 'e5m2' && e === emax) return m === 0 ? sign * Infinity : NaN;
  if (e === 0) return sign * m * 2 ** (1 - bias - mant);
  return sign * (1 + m / (1 << mant)) * 2 ** (e - bias);
}

/** The non-negative finite codes in increasing value, plus the first value past the largest. */
function ladder(f: Format): { code: number; value: number }[] {
  const out = [];
  for (let c = 0; c <= SPEC[f].maxCode; c++) out.push({ code: c, value: decode(c, f) });
  out.push({ code: SPEC[f].overflowCode, value: SPEC[f].overflowValue });
  return out;
}
const LADDERS = { e4m3: ladder('e4m3'), e5m2: ladder('e5m2') };

export function encode(x: number, f: Format, saturate: boolean): number {
  if (Number.isNaN(x)) return 0x7f;
  const sign = x < 0 || Object.is(x, -0) ? 0x80 : 0;
  const a = Math.abs(x);
  const l = LADDERS[f];
  let code: number;
  if (a >= l[l.length - 1].value) {
    code = SPEC[f].overflowCode;
  } else {
    let i = 0;
    while (l[i + 1].value <= a) i++;
    const lo = l[i];
    const hi = l[i + 1];
    const dl = a - lo.value;
    const dh = hi.value - a;
    code = dl < dh ? lo.code : dh < dl ? hi.code : lo.code % 2 === 0 ? lo.code : hi.code;
  }
  if (code === SPEC[f].overflowCode) return sign | (saturate ? SPEC[f].maxCode : SPEC[f].overflowCode);
  return sign | code;
}
