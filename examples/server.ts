/**
 * A node:http server that quantizes and multiplies tensors sent as request bodies (fp8kit in a server:
 * weights packed once, every request off the event loop, bodies read without a copy where aligned).
 *
 *   npx tsc -p examples && node examples/dist/server.js            # PORT=8080 by default, loopback only
 *
 *   POST /quantize?dtype=f32|bf16&shape=M,K[&tile=1,128|128,128]   body: the raw tensor (little-endian)
 *        -> the quantized tensor in fp8kit's wire format (decodeQuantized)
 *   POST /gemm                                                      body: A in the wire format, [M, K] 1x128
 *        -> D = A · Wᵀ as bf16 [M, N] (header x-shape), W the server's weights [N, K]
 *
 * Limits: bodies up to MAX_BODY_MB (default 64) MiB (413 past that), tensors up to 2^26 elements and
 * GEMMs up to 4096 rows; a bad request is 400 with {code, message} — the Fp8kitError that refused it.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

import * as fp8 from 'fp8kit';

const MAX_BODY = Number(process.env.MAX_BODY_MB ?? 64) * 2 ** 20;
const MAX_ELEMENTS = 2 ** 26, MAX_ROWS = 4096;
const [N, K] = [Number(process.env.WEIGHT_N ?? 512), Number(process.env.WEIGHT_K ?? 1024)];

class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

/** The whole body, refused past the limit (without buffering the rest). */
function body(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new HttpError(413, 'ERR_BODY_TOO_LARGE', `the body exceeds ${MAX_BODY} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function shapeParam(v: string | null): number[] {
  const shape = (v ?? '').split(',').map(Number);
  if (shape.length < 1 || shape.length > 4 || !shape.every((d) => Number.isSafeInteger(d) && d >= 1)) throw new HttpError(400, 'ERR_SHAPE', `shape must be 1 to 4 positive integers, comma separated; got '${v}'`);
  if (shape.reduce((a, b) => a * b, 1) > MAX_ELEMENTS) throw new HttpError(400, 'ERR_SHAPE', `at most ${MAX_ELEMENTS} elements`);
  return shape;
}

async function main(): Promise<void> {
  // The server's weights: quantized in 128x128 blocks and packed once.
  let s = 12345;
  const w = fp8.tensor('f32', [N, K], Float32Array.from({ length: N * K }, () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32 - 0.5) * 0.2));
  const weights = await fp8.packWeights(await fp8.quantize(w, { tile: [128, 128] }));

  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (req.method !== 'POST') throw new HttpError(405, 'ERR_METHOD', 'POST only');
      const bytes = await body(req);
      if (url.pathname === '/quantize') {
        const dtype = url.searchParams.get('dtype') ?? 'f32';
        if (dtype !== 'f32' && dtype !== 'bf16') throw new HttpError(400, 'ERR_DTYPE', `dtype must be f32 or bf16; got '${dtype}'`);
        const tile = (url.searchParams.get('tile') ?? '1,128').split(',').map(Number) as unknown as fp8.Tile;
        const x = fp8.tensorFromBytes(bytes, dtype, shapeParam(url.searchParams.get('shape')));
        const q = await fp8.quantize(x, { tile });
        res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(fp8.encodeQuantized(q));
      } else if (url.pathname === '/gemm') {
        const a = fp8.decodeQuantized(bytes);
        if (a.data.shape[0] > MAX_ROWS) throw new HttpError(400, 'ERR_SHAPE', `at most ${MAX_ROWS} rows`);
        const d = await fp8.gemm(a, weights);
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-shape': d.shape.join(',') }).end(Buffer.from(d.data.buffer, d.data.byteOffset, d.data.byteLength));
      } else throw new HttpError(404, 'ERR_NOT_FOUND', `no route ${url.pathname}`);
    } catch (e) {
      const status = e instanceof HttpError ? e.status : e instanceof fp8.Fp8kitError ? 400 : 500;
      const code = (e as { code?: string }).code ?? 'ERR_INTERNAL';
      if (!res.headersSent) res.writeHead(status, { 'content-type': 'application/json', connection: 'close' }).end(JSON.stringify({ code, message: (e as Error).message }));
    }
  });
  server.listen(Number(process.env.PORT ?? 8080), '127.0.0.1', () => {
    console.log(`listening on http://127.0.0.1:${(server.address() as AddressInfo).port} (weights [${N}, ${K}])`);
  });
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
