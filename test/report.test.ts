/**
 * `fp8kit bench --report FILE.html`: one self-contained page (no script, nothing fetched) with the tables,
 * charts and a traffic heat map; rendered by headless Chromium (Debian's chromium, which .ci/run installs)
 * into a screenshot that is not blank — the PNG decoded here and its non-white pixels counted.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { inflateSync } from 'node:zlib';
import { expect, test } from 'vitest';

const cli = path.join(__dirname, '..', 'dist', 'cli', 'main.js');
const chromium = ['chromium', 'chromium-browser', 'google-chrome'].find((c) => spawnSync(c, ['--version'], { stdio: 'ignore' }).status === 0);
if (!chromium) console.log('chromium not found (Debian: apt-get install chromium): the report is checked as HTML only, not rendered');

/** A PNG's pixels as RGBA rows (8-bit RGB or RGBA, non-interlaced: what Chromium writes). */
function decodePng(png: Buffer): { width: number; height: number; rgba: Uint8Array } {
  expect(png.subarray(0, 8).toString('latin1')).toBe('\x89PNG\r\n\x1a\n');
  let at = 8, width = 0, height = 0, type = 0;
  const idat: Buffer[] = [];
  while (at < png.length) {
    const len = png.readUInt32BE(at), kind = png.subarray(at + 4, at + 8).toString('latin1'), data = png.subarray(at + 8, at + 8 + len);
    if (kind === 'IHDR') {
      width = data.readUInt32BE(0), height = data.readUInt32BE(4), type = data[9];
      expect([data[8], data[12]], 'bit depth 8, not interlaced').toEqual([8, 0]);
    } else if (kind === 'IDAT') idat.push(data);
    at += 12 + len;
  }
  const bpp = type === 6 ? 4 : type === 2 ? 3 : 0;
  expect(bpp, `colour type ${type}`).toBeGreaterThan(0);
  const raw = inflateSync(Buffer.concat(idat)), stride = width * bpp;
  const out = new Uint8Array(width * height * 4), prev = new Uint8Array(stride), cur = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)], line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? cur[i - bpp] : 0, b = prev[i], c = i >= bpp ? prev[i - bpp] : 0;
      const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
      const pred = f === 0 ? 0 : f === 1 ? a : f === 2 ? b : f === 3 ? (a + b) >> 1 : pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      cur[i] = (line[i] + pred) & 255;
    }
    for (let x = 0; x < width; x++) for (let ch = 0; ch < 4; ch++) out[(y * width + x) * 4 + ch] = ch < bpp ? cur[x * bpp + ch] : 255;
    prev.set(cur);
  }
  return { width, height, rgba: out };
}

test('bench --report: a self-contained page with tables, charts and the traffic heat map; Chromium renders it', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'fp8kit-report-'));
  try {
    const file = path.join(dir, 'report.html');
    const r = spawnSync(process.execPath, [cli, 'bench', 'cast', 'route', '--n', '1048576', '--reps', '1', '--report', file], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const html = readFileSync(file, 'utf8');
    expect(html).toMatch(/^<!DOCTYPE html>/);
    expect(html).toMatch(/fp8kit bench report/);
    for (const h of ['<h2>cast</h2>', '<h2>route</h2>', '<h2>dispatch traffic</h2>']) expect(html).toContain(h);
    expect((html.match(/<svg/g) ?? []).length).toBe(3);  // cast, route, the heat map
    expect(html).toMatch(/SIMD path \w+/);
    // self-contained: no script, nothing to fetch (the SVG namespace is a name, not a request)
    expect(html).not.toMatch(/<script|<link|<img|@import|url\(/i);
    expect(html.replace(/xmlns="http:\/\/www\.w3\.org\/2000\/svg"/g, '')).not.toMatch(/https?:/);
    if (!chromium) return;
    const png = path.join(dir, 'shot.png');
    const shot = spawnSync(chromium, ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', `--screenshot=${png}`, '--window-size=1100,1400', `file://${file}`], { encoding: 'utf8', timeout: 120_000 });
    expect(existsSync(png), shot.stderr).toBe(true);
    const { width, height, rgba } = decodePng(readFileSync(png));
    expect([width, height]).toEqual([1100, 1400]);
    let ink = 0;
    for (let i = 0; i < width * height; i++) if (rgba[4 * i] < 200 || rgba[4 * i + 1] < 200 || rgba[4 * i + 2] < 200) ink++;
    console.log(`[report] screenshot ${width}x${height}: ${(100 * ink / (width * height)).toFixed(1)}% of pixels not white`);
    expect(ink / (width * height)).toBeGreaterThan(0.02);  // text, table rules and bars, not a blank page
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 300_000);
