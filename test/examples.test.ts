/**
 * examples/: each compiles against the shipped declarations and runs. The server is started on loopback
 * and sent requests: a quantization equal to fp8kit's own, a GEMM against its weights equal to the same
 * GEMM here, and the refusals (bad shape 400, body over the limit 413, unknown route 404, GET 405).
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { compileExamples, firstMismatch, fp8, rng, seed, uniform } from './helpers.js';

let out = '';

beforeAll(() => {
  out = compileExamples();
}, 120_000);
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('examples/server.ts', () => {
  let server: ChildProcess;
  let base = '';
  beforeAll(async () => {
    server = spawn(process.execPath, [path.join(out, 'server.js')], { env: { ...process.env, PORT: '0', MAX_BODY_MB: '1' } });
    base = await new Promise<string>((resolve, reject) => {
      server.stdout!.on('data', (d: Buffer) => {
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(String(d));
        if (m) resolve(m[1]);
      });
      server.on('exit', (code) => reject(new Error(`server exited ${code}`)));
    });
  }, 60_000);
  afterAll(() => server?.kill());

  test('quantize and gemm over HTTP equal the same calls here; bad requests are refused with their code', async () => {
    const s = seed('example server');
    const u = uniform(rng(s));
    const x = Float32Array.from({ length: 8 * 1024 }, () => (u() - 0.5) * 8);
    let r = await fetch(`${base}/quantize?dtype=f32&shape=8,1024`, { method: 'POST', body: Buffer.from(x.buffer) });
    expect(r.status).toBe(200);
    const q = fp8.decodeQuantized(new Uint8Array(await r.arrayBuffer()));
    const want = fp8.quantizeSync(fp8.tensor('f32', [8, 1024], x));
    expect(firstMismatch(q.data.data, want.data.data as Uint8Array)).toBe(-1);
    expect(firstMismatch(new Uint32Array(q.scales.data.buffer, q.scales.data.byteOffset, q.scales.data.length), new Uint32Array((want.scales.data as Float32Array).buffer))).toBe(-1);

    // The server's weights, restated: its LCG from 12345, [512, 1024], 128x128 blocks.
    let z = 12345;
    const w = fp8.tensor('f32', [512, 1024], Float32Array.from({ length: 512 * 1024 }, () => ((z = (Math.imul(z, 1103515245) + 12345) >>> 0) / 2 ** 32 - 0.5) * 0.2));
    r = await fetch(`${base}/gemm`, { method: 'POST', body: fp8.encodeQuantized(q) });
    expect(r.status).toBe(200);
    expect(r.headers.get('x-shape')).toBe('8,512');
    const d = new Uint16Array(await r.arrayBuffer());
    expect(firstMismatch(d, fp8.gemmSync(q, fp8.quantizeSync(w, { tile: [128, 128] })).data as Uint16Array)).toBe(-1);

    r = await fetch(`${base}/quantize?dtype=f32&shape=8,1000`, { method: 'POST', body: Buffer.from(x.buffer) });
    expect(r.status).toBe(400);
    expect(await r.json()).toEqual({ code: 'ERR_SHAPE', message: 'tensorFromBytes: 32768 bytes; f32 [8, 1000] needs 32000' });
    r = await fetch(`${base}/gemm`, { method: 'POST', body: new Uint8Array(40) });
    expect(r.status).toBe(400);
    expect((await r.json()).message).toMatch(/not a quantized tensor/);
    r = await fetch(`${base}/quantize?dtype=f32&shape=512,1024`, { method: 'POST', body: new Uint8Array(2 * 2 ** 20) }).catch((e) => e as Error);
    if (r instanceof Response) expect(r.status).toBe(413);  // or the server closed the connection mid-upload
    expect((await fetch(`${base}/nosuch`, { method: 'POST', body: '' })).status).toBe(404);
    expect((await fetch(`${base}/gemm`)).status).toBe(405);
  }, 60_000);
});

test('examples/moe-sim.ts runs one MoE layer on a 2 x 4 simulated cluster', () => {
  const r = spawnSync(process.execPath, [path.join(out, 'moe-sim.js'), '2', '4'], { encoding: 'utf8', timeout: 120_000 });
  expect(r.status, r.stderr).toBe(0);
  const ranks = [...r.stdout.matchAll(/^rank (\d): received (\d+) tokens \((\d+) expert rows\), output \[128, 512\]$/gm)];
  expect(ranks.map((m) => Number(m[1]))).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  expect(r.stdout).toMatch(/^cluster: IB [\d.]+ MB \(flat all-to-all [\d.]+ MB\), NVLink [\d.]+ MB, model [\d.]+ µs$/m);
}, 120_000);
