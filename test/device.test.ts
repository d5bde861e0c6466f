/**
 * Device tensors and streams, through the cuda-emu backend (its device memory is host memory, the
 * code paths are cuda's): host tensors are staged in and out, device tensors are used in place.
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';

import { castInputs, firstMismatch, fp8, seed } from './helpers.js';

const backend = 'cuda-emu';
const root = path.join(__dirname, '..');

describe('device tensors (cuda-emu)', () => {
  test('upload, operate on the device, download: equals the host computation', async () => {
    const s = seed('device');
    const x = fp8.tensor('f32', [37, 129], castInputs(37 * 129, s));
    const d = await fp8.upload(x, { backend });
    expect(d).toBeInstanceOf(fp8.DeviceTensor);
    expect(d.shape).toEqual([37, 129]);
    expect(d.bytes).toBe(37 * 129 * 4);
    const q = await fp8.castToFp8(d, { format: 'e5m2' });
    expect(q).toBeInstanceOf(fp8.DeviceTensor);
    expect(q.backend).toBe(backend);
    const back = fp8.castFromFp8Sync(q, { out: 'bf16' });
    expect(back).toBeInstanceOf(fp8.DeviceTensor);
    const host = await back.download();
    const want = fp8.castFromFp8Sync(fp8.castToFp8Sync(x, { format: 'e5m2', backend: 'ref' }), { out: 'bf16', backend: 'ref' });
    expect(host.dtype).toBe('bf16');
    expect(firstMismatch(host.data, want.data)).toBe(-1);
    expect(firstMismatch(new Uint32Array(d.downloadSync().data.buffer), new Uint32Array(x.data.buffer))).toBe(-1);
    for (const t of [d, q, back]) t.free();
  });

  test('a host tensor given to a device backend is copied in and out', () => {
    const x = fp8.tensor('f32', [1000], castInputs(1000, seed('staging')));
    const got = fp8.castToFp8Sync(x, { backend });
    expect(got).not.toBeInstanceOf(fp8.DeviceTensor);
    expect(firstMismatch(got.data, fp8.castToFp8Sync(x, { backend: 'ref' }).data)).toBe(-1);
  });

  test('freeing: explicit, idempotent, refused afterwards, deferred while an operation runs', async () => {
    const x = fp8.tensor('f32', [1 << 16], castInputs(1 << 16, seed('free')));
    const d = fp8.uploadSync(x, { backend });
    const pending = fp8.castToFp8(d);
    d.free(); // the operation already holds the memory: it is freed when the operation settles
    d.free();
    expect(d.freed).toBe(true);
    const q = await pending;
    expect(firstMismatch((await q.download()).data, fp8.castToFp8Sync(x, { backend: 'ref' }).data)).toBe(-1);
    expect(() => fp8.castToFp8Sync(d)).toThrow(/x is a device tensor that was freed/);
    expect(() => d.downloadSync()).toThrow(/freed/);
  });

  test('streams: operations queue on the stream given, synchronize waits', async () => {
    const stream = fp8.createStream({ backend });
    const x = fp8.tensor('bf16', [4096], new Uint16Array(4096).map((_, i) => 0x3f80 + (i % 97)));
    const d = await fp8.upload(x, { backend, stream });
    const q = await fp8.castToFp8(d, { stream });
    await stream.synchronize();
    stream.synchronizeSync();
    const host = await q.download({ stream });
    expect(firstMismatch(host.data, fp8.castToFp8Sync(x, { backend: 'ref' }).data)).toBe(-1);
  });

  test('mismatched backends and misuse are Fp8kitErrors', () => {
    const d = fp8.uploadSync(fp8.tensor('f32', [4]), { backend });
    expect(() => fp8.castToFp8Sync(d, { backend: 'cpu' })).toThrow(/a device tensor of backend 'cuda-emu' cannot be used with backend 'cpu'/);
    expect(() => fp8.createStream({ backend: 'cpu' })).toThrow(/works on host memory/);
    expect(() => fp8.castToFp8Sync(d, { stream: {} as never })).toThrow(/options\.stream must be a Stream/);
    expect(() => fp8.castFromFp8Sync(d)).toThrow(/q\.dtype must be e4m3 or e5m2 or u8; got 'f32'/);
    expect(() => fp8.uploadSync(fp8.tensor('f32', [4]), { backend: 'cuda' })).toThrow(/backend 'cuda' is unavailable|ERR/);
    d.free();
  });
});

test('device memory dropped without free() is reclaimed by garbage collection', () => {
  // 300 device tensors of 16 MiB each (4.8 GB if none were freed), dropped at once.
  const script = `
    const fp8 = require(${JSON.stringify(root)});
    const x = fp8.tensor('f32', [4 << 20]);
    (async () => {
      for (let i = 0; i < 300; i++) {
        fp8.uploadSync(x, { backend: 'cuda-emu' });
        if (i % 20 === 0) { global.gc(); await new Promise((r) => setImmediate(r)); }
      }
      global.gc(); await new Promise((r) => setImmediate(r));
      console.log(process.memoryUsage().rss);
    })();`;
  const rss = Number(execFileSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8' }));
  // Leaked, they would hold 4.8 GB; freed, RSS stays near what malloc keeps cached (about 1.3 GB seen here).
  expect(rss).toBeLessThan(2.5e9);
});
