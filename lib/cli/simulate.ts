/**
 * `fp8kit simulate`: one Cluster.dispatch + combine (sim transport) on DeepSeek-V3-style routing, its
 * per-link traffic drawn as an SVG heat map (rows: sending rank, columns: receiving rank) next to the
 * totals, the flat baseline and the cost model's time.
 */
import { writeFileSync } from 'node:fs';

import { combineInputs, MOE_OPTIONS_USAGE, MoeShape, operationStats, OperationStats, parseMoeArgs, prepareInputs, RoutingSummary, summarizeRouting, DISPATCH_DEFAULTS } from '../bench/dispatch.js';
import type { TrafficStats } from '../moe/traffic.js';

export const SIMULATE_USAGE = `  simulate             one dispatch + combine (sim transport); per-link traffic as an SVG heat map, totals and the cost model
${MOE_OPTIONS_USAGE.replace('--tokens T       tokens per rank', '--tokens T       tokens per rank (default 512)')}      --svg FILE       where the heat map goes (default traffic.svg)
`;

export interface SimulateResult {
  options: MoeShape;
  ranks: number;
  routing: RoutingSummary;
  /** Cluster.stats() after each operation (resetStats() before it), links included. */
  dispatch: TrafficStats;
  combine: TrafficStats;
  /** The same, summed up: totals, IB over flat, busiest ports, the model's implied GB/s. */
  summary: { dispatch: OperationStats; combine: OperationStats };
  svg: string;
}

export async function simulate(o: MoeShape, svgPath?: string): Promise<SimulateResult> {
  const R = o.nodes * o.gpus;
  const { cluster, inputs, routing } = prepareInputs(o);
  const r = summarizeRouting(o, routing);
  cluster.resetStats();
  const received = await cluster.dispatch(inputs, { payload: o.payload });
  const dispatch = cluster.stats();
  const y = await combineInputs(received, o.backend);
  cluster.resetStats();
  await cluster.combine(y, received, {});
  const combine = cluster.stats();
  const summary = {
    dispatch: operationStats(dispatch, R, r.deepepRdmaRowsBusiestRank * r.dispatchRowBytes),
    combine: operationStats(combine, R, r.deepepRdmaRowsBusiestRank * r.combineRowBytes),
  };
  const result: SimulateResult = { options: o, ranks: R, routing: r, dispatch, combine, summary, svg: svgPath ?? '' };
  if (svgPath !== undefined) writeFileSync(svgPath, trafficSvg(result));
  return result;
}

const bytes = (b: number) => (b >= 1e9 ? `${(b / 1e9).toFixed(2)} GB` : b >= 1e6 ? `${(b / 1e6).toFixed(2)} MB` : b >= 1e3 ? `${(b / 1e3).toFixed(1)} kB` : `${b} B`);
const us = (s: number) => `${(1e6 * s).toFixed(1)} µs`;

/** The table printed and drawn beside the heat maps. */
export function simulateTable(r: SimulateResult): string[] {
  const o = r.options;
  const row = (name: string, d: OperationStats) =>
    `${name.padEnd(9)} ${bytes(d.ibBytes).padStart(10)} ${bytes(d.nvlBytes).padStart(10)} ${bytes(d.flatIbBytes).padStart(10)} ${bytes(d.flatNvlBytes).padStart(10)} ${d.ibOverFlat.toFixed(3).padStart(7)} ${us(d.modelSeconds).padStart(10)} ${us(d.flatModelSeconds).padStart(10)} ${d.modelBound.padStart(5)}`;
  return [
    `${o.nodes} x ${o.gpus} ranks, ${o.tokens} tokens/rank, hidden ${o.hidden}, top-${o.topk} of ${o.experts}, ${o.groups} groups / ${o.topkGroups} kept, ${o.payload} dispatch, bf16 combine`,
    `per token: ${r.routing.nodesPerToken.toFixed(3)} nodes (${r.routing.remoteNodesPerToken.toFixed(3)} remote), ${r.routing.ranksPerToken.toFixed(3)} ranks, ${r.routing.expertsPerNode.toFixed(3)} experts per reached node`,
    `${'operation'.padEnd(9)} ${'IB'.padStart(10)} ${'NVLink'.padStart(10)} ${'flat IB'.padStart(10)} ${'flat NVL'.padStart(10)} ${'IB/flat'.padStart(7)} ${'model'.padStart(10)} ${'flat model'.padStart(10)} ${'bound'.padStart(5)}`,
    row('dispatch', r.summary.dispatch),
    row('combine', r.summary.combine),
    `model (not a measurement): 50 GB/s per IB NIC, 160 GB/s NVLink per GPU; implied IB GB/s of the busiest NIC: dispatch ${r.summary.dispatch.modelIbGbps.toFixed(1)}, combine ${r.summary.combine.modelIbGbps.toFixed(1)}`,
    `counted as DeepEP's tests count RDMA bytes (own node included): dispatch ${r.summary.dispatch.modelDeepepRdmaGbps.toFixed(1)}, combine ${r.summary.combine.modelDeepepRdmaGbps.toFixed(1)} GB/s (DeepEP published: 43-58 GB/s)`,
  ];
}

function escape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Light to dark of one hue, for t in [0, 1]. */
function shade(t: number, hue: 'ib' | 'nvl'): string {
  const [r0, g0, b0] = [255, 255, 255];
  const [r1, g1, b1] = hue === 'ib' ? [204, 76, 2] : [8, 69, 148];
  const k = 0.12 + 0.88 * Math.min(1, Math.max(0, t));
  const mix = (a: number, b: number) => Math.round(a + (b - a) * k);
  return `rgb(${mix(r0, r1)},${mix(g0, g1)},${mix(b0, b1)})`;
}

/** Two R × R heat maps (dispatch, combine), IB links in orange, NVLink in blue, node blocks outlined, with legends and the table. */
export function trafficSvg(r: SimulateResult): string {
  const R = r.ranks, G = r.options.gpus;
  const cell = Math.max(6, Math.min(28, Math.floor(360 / R)));
  const size = cell * R, pad = 56, gap = 70;
  const tableLines = simulateTable(r);
  const width = pad + 2 * (size + gap) + 40, height = pad + size + 150 + 16 * tableLines.length;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${pad}" y="20" font-size="14">fp8kit simulate: payload bytes per link (rows: sending rank, columns: receiving rank)</text>`,
  ];
  const ops: ['dispatch' | 'combine', TrafficStats][] = [['dispatch', r.dispatch], ['combine', r.combine]];
  ops.forEach(([name, stats], p) => {
    const x0 = pad + p * (size + gap), y0 = pad;
    const max = { ib: 0, nvl: 0 };
    for (const l of stats.links) max[l.kind] = Math.max(max[l.kind], l.bytes);
    const at = new Map(stats.links.map((l) => [l.from * R + l.to, l]));
    parts.push(`<g class="matrix" data-op="${name}">`, `<text x="${x0}" y="${y0 - 22}" font-size="13">${name}</text>`);
    for (let s = 0; s < R; s++)
      for (let t = 0; t < R; t++) {
        const l = at.get(s * R + t);
        const fill = l ? shade(l.bytes / max[l.kind], l.kind) : s === t ? '#e0e0e0' : '#f7f7f7';
        parts.push(
          `<rect class="cell" data-from="${s}" data-to="${t}" data-kind="${l ? l.kind : 'none'}" data-bytes="${l ? l.bytes : 0}" x="${x0 + t * cell}" y="${y0 + s * cell}" width="${cell}" height="${cell}" fill="${fill}" stroke="white" stroke-width="0.5"><title>${name} ${s} → ${t}: ${l ? `${l.kind === 'ib' ? 'IB' : 'NVLink'} ${bytes(l.bytes)}` : 'nothing'}</title></rect>`,
        );
      }
    for (let a = 0; a * G < R; a++)
      for (let b = 0; b * G < R; b++)
        parts.push(`<rect x="${x0 + b * G * cell}" y="${y0 + a * G * cell}" width="${G * cell}" height="${G * cell}" fill="none" stroke="#333" stroke-width="${a === b ? 2 : 1}"/>`);
    const step = Math.max(1, Math.ceil(R / 16));
    for (let i = 0; i < R; i += step) {
      parts.push(`<text x="${x0 + (i + 0.5) * cell}" y="${y0 - 6}" text-anchor="middle" font-size="9">${i}</text>`);
      parts.push(`<text x="${x0 - 4}" y="${y0 + (i + 0.5) * cell + 3}" text-anchor="end" font-size="9">${i}</text>`);
    }
    parts.push(`<text x="${x0 + size / 2}" y="${y0 + size + 16}" text-anchor="middle" font-size="10">receiving rank</text>`);
    parts.push(`<text transform="translate(${x0 - 30},${y0 + size / 2}) rotate(-90)" text-anchor="middle" font-size="10">sending rank</text>`);
    // Legends: one byte scale per link kind.
    (['ib', 'nvl'] as const).forEach((kind, j) => {
      const ly = y0 + size + 34 + 34 * j, lw = Math.min(size, 200), steps = 20;
      parts.push(`<text x="${x0}" y="${ly - 4}" font-size="10">${kind === 'ib' ? 'IB (rail, other node)' : 'NVLink (same node)'}: 0 – ${bytes(max[kind])}</text>`);
      for (let i = 0; i < steps; i++) parts.push(`<rect x="${x0 + (i * lw) / steps}" y="${ly}" width="${lw / steps + 0.5}" height="10" fill="${shade((i + 0.5) / steps, kind)}"/>`);
      parts.push(`<text x="${x0}" y="${ly + 22}" font-size="9">0</text>`, `<text x="${x0 + lw}" y="${ly + 22}" text-anchor="end" font-size="9">${bytes(max[kind])}</text>`);
    });
    parts.push('</g>');
  });
  const ty = pad + size + 116;
  parts.push(`<g class="table" font-family="monospace" font-size="11">`);
  tableLines.forEach((line, i) => parts.push(`<text x="${pad}" y="${ty + 16 * i}" xml:space="preserve">${escape(line)}</text>`));
  parts.push('</g>', '</svg>');
  return parts.join('\n') + '\n';
}

export async function runSimulate(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`usage: fp8kit simulate [options]\n\n${SIMULATE_USAGE}`);
    return 0;
  }
  let svg = 'traffic.svg';
  const { reps: _reps, ...defaults } = { ...DISPATCH_DEFAULTS, tokens: 512 };
  const o = parseMoeArgs(args, 'simulate', defaults as MoeShape, { '--svg': (v) => (svg = v) });
  const r = await simulate(o, svg);
  if (args.includes('--json')) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
  else process.stdout.write(`${simulateTable(r).join('\n')}\nheat map: ${svg}\n`);
  return 0;
}
