/**
 * `fp8kit bench accumulation`: the study behind DeepSeek-V3's promotion every 128 of K (report §3.3).
 * For K from 512 to 16384, inputs quantized per SPEC §2, the error against 'exact' of the limited
 * (14-bit, Hopper-like) accumulator without promotion, with promotion every 128, and of 'promoted'.
 */
import type { BackendName } from '../backends.js';
import { gemmSync, GemmOptions } from '../gemm.js';
import { quantizeSync } from '../quant.js';
import { Tensor, tensor } from '../tensor.js';
import { uniforms } from './harness.js';

export interface StudyRow {
  k: number;
  inputs: 'normal' | 'positive';
  mode: 'limited, no promotion' | 'limited, N_C = 128' | 'promoted';
  /** max|D − exact| / max|exact| over the output (SPEC §4's measure). */
  maxRel: number;
  /** ‖D − exact‖₂ / ‖exact‖₂. */
  normwise: number;
}

export const STUDY_KS = [512, 1024, 2048, 4096, 8192, 16384];
const MODES: [StudyRow['mode'], GemmOptions][] = [
  ['limited, no promotion', { accumulate: 'limited' }],
  ['limited, N_C = 128', { accumulate: 'limited', promotionInterval: 128 }],
  ['promoted', {}],
];

function draw(n: number, positive: boolean, seed: number): Float32Array {
  const next = uniforms(seed);
  return Float32Array.from({ length: n }, () => {
    if (positive) return next();
    return Math.sqrt(-2 * Math.log(next())) * Math.cos(2 * Math.PI * next());
  });
}

/** 16 × 16 outputs per K (SPEC's figures), one seed per input kind. */
export function accumulationStudy(backend: BackendName, ks = STUDY_KS, size = 16): StudyRow[] {
  const rows: StudyRow[] = [];
  for (const inputs of ['normal', 'positive'] as const)
    for (const k of ks) {
      const a = quantizeSync(tensor('f32', [size, k], draw(size * k, inputs === 'positive', 0xacc + k)), { backend });
      const b = quantizeSync(tensor('f32', [size, k], draw(size * k, inputs === 'positive', 0xb0b + k)), { tile: [128, 128], backend });
      const exact = (gemmSync(a, b, { out: 'f32', accumulate: 'exact', backend }) as Tensor<'f32'>).data;
      const peak = Math.max(...exact.map(Math.abs));
      const norm = Math.hypot(...exact);
      for (const [mode, o] of MODES) {
        const d = (gemmSync(a, b, { ...o, out: 'f32', backend }) as Tensor<'f32'>).data;
        const diff = d.map((v, i) => v - exact[i]);
        rows.push({ k, inputs, mode, maxRel: Math.max(...diff.map(Math.abs)) / peak, normwise: Math.hypot(...diff) / norm });
      }
    }
  return rows;
}

export function formatStudy(rows: StudyRow[]): string {
  const pct = (x: number) => `${(100 * x).toPrecision(3)}%`;
  const lines = ['accumulation: error against exact, 16 × 16 outputs, e4m3, A 1×128 and B 128×128 tiles', `${'inputs'.padEnd(9)} ${'K'.padStart(6)}  ${MODES.map(([m]) => m.padStart(26)).join(' ')}`];
  for (const inputs of ['normal', 'positive'] as const)
    for (const k of [...new Set(rows.map((r) => r.k))]) {
      const cells = MODES.map(([m]) => {
        const r = rows.find((x) => x.k === k && x.inputs === inputs && x.mode === m)!;
        return `${pct(r.maxRel)} (${pct(r.normwise)})`.padStart(26);
      });
      lines.push(`${inputs.padEnd(9)} ${String(k).padStart(6)}  ${cells.join(' ')}`);
    }
  lines.push('cells: max|D − exact| / max|exact| (normwise ‖D − exact‖ / ‖exact‖)');
  return lines.join('\n') + '\n';
}

/** A log-log chart of the max-relative error against K, one line per mode and input kind. */
export function studySvg(rows: StudyRow[]): string {
  const [w, h, pad] = [720, 420, 60];
  const ks = [...new Set(rows.map((r) => r.k))];
  const errs = rows.map((r) => Math.max(r.maxRel, 1e-12));
  const [lo, hi] = [Math.floor(Math.log10(Math.min(...errs))), Math.ceil(Math.log10(Math.max(...errs)))];
  const x = (k: number) => pad + ((Math.log2(k) - Math.log2(ks[0])) / Math.max(1, Math.log2(ks[ks.length - 1]) - Math.log2(ks[0]))) * (w - 2 * pad);
  const y = (e: number) => h - pad - ((Math.log10(Math.max(e, 1e-12)) - lo) / Math.max(1, hi - lo)) * (h - 2 * pad);
  const colors: Record<StudyRow['mode'], string> = { 'limited, no promotion': '#d62728', 'limited, N_C = 128': '#1f77b4', promoted: '#2ca02c' };
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif" font-size="12">`, `<rect width="${w}" height="${h}" fill="white"/>`];
  for (let d = lo; d <= hi; d++)
    parts.push(`<line x1="${pad}" x2="${w - pad}" y1="${y(10 ** d)}" y2="${y(10 ** d)}" stroke="#ddd"/>`, `<text x="${pad - 8}" y="${y(10 ** d) + 4}" text-anchor="end">1e${d}</text>`);
  for (const k of ks) parts.push(`<text x="${x(k)}" y="${h - pad + 18}" text-anchor="middle">${k}</text>`);
  parts.push(`<text x="${w / 2}" y="${h - 12}" text-anchor="middle">K</text>`, `<text x="${pad}" y="24">max|D − exact| / max|exact| (solid: normal inputs, dashed: all-positive)</text>`);
  let legend = 0;
  for (const [mode] of MODES)
    for (const inputs of ['normal', 'positive'] as const) {
      const pts = rows.filter((r) => r.mode === mode && r.inputs === inputs).map((r) => `${x(r.k).toFixed(1)},${y(r.maxRel).toFixed(1)}`);
      parts.push(`<polyline fill="none" stroke="${colors[mode]}" stroke-width="2"${inputs === 'positive' ? ' stroke-dasharray="6 4"' : ''} points="${pts.join(' ')}"/>`);
      if (inputs === 'normal') parts.push(`<text x="${w - pad - 180}" y="${50 + 16 * legend++}" fill="${colors[mode]}">${mode}</text>`);
    }
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
