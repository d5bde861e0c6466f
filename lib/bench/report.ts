/**
 * `fp8kit bench … --report FILE.html`: one self-contained page (inline SVG and CSS; no script, no
 * network) with each benchmark's table and chart — achieved bandwidth against the memory copy measured in
 * the same run for the bandwidth-bound operations, the GEMM against its instruction peak and its peers,
 * the accumulation study — and the dispatch traffic heat map of a small simulated cluster, under the
 * machine, CPU, SIMD path and date.
 */
import * as os from 'node:os';

import { native } from '../native.js';
import { version } from '../version.js';
import { studySvg, StudyRow } from './accumulation.js';
import type { GemmBenchRow } from './gemm.js';
import type { GroupedBenchRow } from './grouped.js';
import type { BenchRow } from './harness.js';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const pct = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '-' : `${(100 * x).toFixed(0)}%`);

/** Horizontal bars of `value` (a fraction of a ceiling; 100% marked), one per labelled row. */
function bars(rows: { label: string; value: number; note?: string }[], title: string): string {
  const w = 760, left = 300, bar = 18, gap = 6, top = 28;
  const max = Math.max(1.2, ...rows.map((r) => (Number.isFinite(r.value) ? r.value : 0)));
  const x = (v: number) => left + ((w - left - 130) * v) / max;  // room for the value beside the longest bar
  const h = top + rows.length * (bar + gap) + 24;
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif" font-size="12">`, `<text x="0" y="16" font-weight="bold">${esc(title)}</text>`];
  rows.forEach((r, i) => {
    const y = top + i * (bar + gap), v = Number.isFinite(r.value) ? r.value : 0;
    parts.push(`<text x="${left - 8}" y="${y + 13}" text-anchor="end">${esc(r.label)}</text>`,
      `<rect x="${left}" y="${y}" width="${Math.max(1, x(v) - left)}" height="${bar}" fill="${v >= 1 ? '#2a9d8f' : v >= 0.6 ? '#8ab17d' : '#e9c46a'}"/>`,
      `<text x="${x(v) + 4}" y="${y + 13}">${esc(`${pct(r.value)}${r.note ? ` ${r.note}` : ''}`)}</text>`);
  });
  parts.push(`<line x1="${x(1)}" y1="${top - 4}" x2="${x(1)}" y2="${h - 20}" stroke="#264653" stroke-dasharray="4 3"/>`, `<text x="${x(1)}" y="${h - 6}" text-anchor="middle">ceiling (100%)</text>`, '</svg>');
  return parts.join('');
}

function table(head: string[], rows: (string | number)[][]): string {
  return `<table><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>${rows.map((r) => `<tr>${r.map((c) => `<td>${esc(String(c))}</td>`).join('')}</tr>`).join('')}</table>`;
}

export interface ReportInput {
  backend: string;
  results: Record<string, unknown>;
  /** The traffic heat map of a small simulated dispatch + combine (lib/cli/simulate.ts's SVG). */
  trafficSvg?: string;
  trafficTitle?: string;
}

export function reportHtml(r: ReportInput): string {
  const simd = native().cpuSimd();
  const when = new Date().toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
  const sections: string[] = [];
  for (const [name, value] of Object.entries(r.results)) {
    if (name === 'gemm') {
      const rows = value as GemmBenchRow[];
      sections.push(`<h2>gemm</h2>`, table(['M x N x K', 'packed ms', 'GFLOP/s', 'of peak', 'peers (ms, fp8kit x)'],
        rows.map((x) => [x.shape.join(' x '), x.packedMs.toFixed(2), x.gflops.toFixed(0), pct(x.ofPeak), x.peers.map((p) => `${p.name} ${p.ms.toFixed(2)} (${p.fp8kitSpeedup.toFixed(2)}x)`).join(', ') || '-'])),
      bars(rows.map((x) => ({ label: x.shape.join(' x '), value: x.ofPeak, note: `${x.gflops.toFixed(0)} GFLOP/s` })), `GEMM against the ${rows[0]?.path ?? ''} instruction peak`));
      const peers = rows.flatMap((x) => x.peers.map((p) => ({ label: `${x.shape.join(' x ')} vs ${p.name}`, value: p.fp8kitSpeedup / 2, note: `fp8kit ${p.fp8kitSpeedup.toFixed(2)}x as fast` })));
      if (peers.length) sections.push(bars(peers, 'fp8kit against its peers (the 100% line is twice as fast as the peer)'));
    } else if (name === 'grouped-gemm') {
      const rows = value as GroupedBenchRow[];
      sections.push(`<h2>grouped-gemm</h2>`, table(['experts x rows x N x K', 'contiguous ms', 'GFLOP/s', 'of peak', 'new output ms', 'masked ms', 'dense ms', 'peers, dense (ms, fp8kit x)'],
        rows.map((x) => [x.shape.join(' x '), x.contiguousMs.toFixed(2), x.contiguousGflops.toFixed(0), pct(x.ofPeak), x.newOutputMs.toFixed(2), x.maskedMs.toFixed(2), x.denseMs.toFixed(2), (x.peers ?? []).map((p) => `${p.name} ${p.ms.toFixed(2)} (${p.fp8kitSpeedup.toFixed(2)}x)`).join(', ') || '-'])),
      bars(rows.map((x) => ({ label: x.shape.join(' x '), value: x.ofPeak, note: `${x.contiguousGflops.toFixed(0)} GFLOP/s` })), 'grouped GEMM against the instruction peak'));
    } else if (name === 'accumulation') {
      sections.push(`<h2>accumulation</h2>`, studySvg(value as StudyRow[]));
    } else {
      const rows = value as BenchRow[];
      sections.push(`<h2>${esc(name)}</h2>`, table(['case', 'MB moved', 'median ms', 'GB/s', 'copy GB/s', 'of copy'],
        rows.map((x) => [x.name, (x.bytes / 1e6).toFixed(0), x.medianMs.toFixed(2), x.gbps.toFixed(1), x.copyGbps.toFixed(1), pct(x.ofCopy)])),
      bars(rows.map((x) => ({ label: x.name.slice(0, 44), value: x.ofCopy, note: `${x.gbps.toFixed(1)} GB/s` })), `${name}: achieved bandwidth against a two-thread memory copy of the same bytes`));
    }
  }
  if (r.trafficSvg) sections.push(`<h2>dispatch traffic</h2><p>${esc(r.trafficTitle ?? '')}</p>`, r.trafficSvg.replace(/^<\?xml[^>]*>\s*/, ''));
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>fp8kit bench report</title>
<style>body{font-family:sans-serif;margin:24px;color:#1d3557;max-width:1100px}table{border-collapse:collapse;margin:8px 0 12px}td,th{border:1px solid #ccd;padding:3px 8px;font-size:12px;text-align:right}th{background:#eef}td:first-child{text-align:left}h2{margin-top:28px}svg{display:block;margin:6px 0}</style>
</head><body>
<h1>fp8kit bench report</h1>
<p>fp8kit ${esc(version)}, Node ${esc(process.versions.node)}; machine ${esc(os.hostname())}, ${esc(os.cpus()[0]?.model ?? 'unknown CPU')}, ${os.cpus().length} cores; backend ${esc(r.backend)}; SIMD path ${esc(simd.name)}, GEMM ${esc(simd.gemm)}; ${esc(when)}</p>
${sections.join('\n')}
</body></html>
`;
}
