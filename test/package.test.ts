import { describe, expect, test } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { addon, fp8 } from './helpers.js';

const root = path.join(__dirname, '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');

describe('the package', () => {
  test('is usable from require and from import, with the same names', () => {
    // Child processes resolve 'fp8kit' through package.json "exports", as a user's code does.
    const probe = "const q = m.castToFp8Sync({dtype: 'f32', shape: [2], data: Float32Array.of(448, -0.5)});" +
      "console.log(JSON.stringify({names: Object.keys(m).filter((n) => n !== 'default' && n !== '__esModule').sort(), q: [...q.data]}))";
    const run = (args: string[]) => JSON.parse(execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8' }));
    const cjs = run(['-e', `const m = require('fp8kit'); ${probe}`]);
    const esm = run(['--input-type=module', '-e', `import * as m from 'fp8kit'; ${probe}`]);
    expect(cjs.names).toContain('castToFp8');
    expect(esm.names).toEqual(cjs.names);
    expect(cjs.q).toEqual([0x7e, 0xb0]);
    expect(esm.q).toEqual([0x7e, 0xb0]);
  });

  test('backends() lists ref and cpu as available, each with a reason when not', () => {
    const list = fp8.backends();
    for (const name of ['ref', 'cpu']) expect(list.find((b) => b.name === name)?.available).toBe(true);
    for (const b of list) {
      if (b.available) expect(b.reason).toBeNull();
      else expect(b.reason, b.name).toMatch(/\w/);
    }
  });
});

describe('the fp8kit command', () => {
  test('info names the version, backends, SIMD path and the CUDA state', () => {
    const out = execFileSync(process.execPath, [cli, 'info'], { encoding: 'utf8' });
    expect(out).toContain(`fp8kit ${fp8.version}`);
    // Any level FP8KIT_SIMD names (README), amx included: which one depends on the CPU.
    expect(out).toMatch(/SIMD path: (scalar|avx2|avx512|avx512vbmi|avx512bf16|amx) \(/);
    expect(out).toMatch(/^ {2}cpu +available/m);
    expect(out).toMatch(/cuda toolkit: /);
    expect(out).toMatch(/cuda driver: /);
    expect(out).toMatch(/^binary: (built here|prebuilt), \/.*fp8kit\.node$/m);
    expect(out).toMatch(fp8.mpiStatus().available ? /mpi transport: available \(Open MPI v\d/ : /mpi transport: unavailable: /);
    const json = JSON.parse(execFileSync(process.execPath, [cli, 'info', '--json'], { encoding: 'utf8' }));
    expect(json.backends.map((b: { name: string }) => b.name)).toEqual(fp8.backends().map((b) => b.name));
  });

  test('bench cast measures every cast next to a copy of the same bytes', () => {
    const out = JSON.parse(execFileSync(process.execPath, [cli, 'bench', 'cast', '--n', '300000', '--reps', '3', '--json'], { encoding: 'utf8' }));
    type Row = { name: string; bytes: number; gbps: number; copyGbps: number; ofCopy: number; hugeCopyGbps: number; ofHugeCopy: number; notes?: string[] };
    const all = out.results.cast as Row[];
    // onnxruntime-node's Casts follow fp8kit's rows where it is installed
    const rows = all.filter((r) => !r.name.startsWith('onnxruntime')), peers = all.filter((r) => r.name.startsWith('onnxruntime'));
    expect(rows.map((r) => r.name)).toContain('f32 -> e4m3');
    const f32e4m3 = rows.find((r) => r.name === 'f32 -> e4m3')!;
    expect(f32e4m3.bytes).toBe(300000 * 5);
    for (const r of all) {
      expect(r.gbps, r.name).toBeGreaterThan(0);
      expect(r.copyGbps, r.name).toBeGreaterThan(0);
      expect(r.ofCopy).toBeCloseTo(r.gbps / r.copyGbps, 6);
    }
    for (const r of all as (Row & { medianMs: number; minMs: number; maxMs: number })[]) {
      expect(r.minMs, r.name).toBeGreaterThan(0);
      expect(r.minMs, r.name).toBeLessThanOrEqual(r.medianMs);
      expect(r.maxMs, r.name).toBeGreaterThanOrEqual(r.medianMs);
    }
    for (const r of rows) {
      expect(r.hugeCopyGbps, r.name).toBeGreaterThan(0);
      expect(r.ofHugeCopy).toBeCloseTo(r.gbps / r.hugeCopyGbps, 6);
    }
    const notes = all.flatMap((r) => r.notes ?? []).join('\n');
    if (peers.length === 0) expect(notes).toMatch(/onnxruntime-node not installed: ONNXRUNTIME_NODE_INSTALL=skip npm install/);
    else {
      expect(peers.map((r) => r.name)).toEqual(['f32 -> e4m3', 'f32 -> e4m3 (no saturate)', 'f32 -> e5m2'].map((n) => `onnxruntime Cast ${n} (kernel time)`));
      // its saturating casts agree with cuda_fp8.h's on every code (test/peers.test.ts covers the rest)
      expect(notes).toMatch(/Cast f32 -> e4m3: [\d.]+x .*codes differing from fp8kit's: 0 of 300000/);
      expect(notes).toMatch(/Cast f32 -> e5m2: [\d.]+x .*codes differing from fp8kit's: 0 of 300000/);
    }
  });

  test('bench cast times every cast with into and with a new output, in turn', () => {
    const out = JSON.parse(execFileSync(process.execPath, [cli, 'bench', 'cast', '--n', '300000', '--reps', '3', '--json'], { encoding: 'utf8' }));
    const rows = out.results.cast as { name: string; medianMs: number; overInto?: number }[];
    for (const r of rows.filter((x) => !x.name.endsWith('(new output)') && !x.name.startsWith('onnxruntime'))) {
      const fresh = rows.find((x) => x.name === `${r.name} (new output)`);
      expect(fresh, r.name).toBeDefined();
      expect(fresh!.overInto).toBeCloseTo(fresh!.medianMs / r.medianMs, 6);
    }
  });

  test('bench accumulation prints the study and writes its chart', () => {
    const svg = path.join(os.tmpdir(), `fp8kit-acc-${process.pid}.svg`);
    const out = JSON.parse(execFileSync(process.execPath, [cli, 'bench', 'accumulation', '--json', '--plot', svg], { encoding: 'utf8' }));
    const rows = out.results.accumulation as { k: number; inputs: string; mode: string; maxRel: number; normwise: number }[];
    expect(rows.length).toBe(2 * 6 * 3);
    const at = (inputs: string, mode: string) => rows.find((r) => r.k === 4096 && r.inputs === inputs && r.mode === mode)!.maxRel;
    for (const inputs of ['normal', 'positive']) {
      expect(at(inputs, 'limited, no promotion')).toBeGreaterThan(5 * at(inputs, 'limited, N_C = 128'));
      expect(at(inputs, 'limited, N_C = 128')).toBeGreaterThan(at(inputs, 'promoted'));
    }
    const text = fs.readFileSync(svg, 'utf8');
    expect(text).toMatch(/^<svg /);
    expect((text.match(/<polyline /g) ?? []).length).toBe(6);
    fs.rmSync(svg);
  });

  test('bench gemm: every shape asked for, packed and unpacked, the path, its peak and (M <= 16) a copy; peers or how to get them', () => {
    const out = JSON.parse(execFileSync(process.execPath, [cli, 'bench', 'gemm', '--shape', '1x96x200,40x64x130', '--reps', '2', '--json'], { encoding: 'utf8' }));
    const rows = out.results.gemm as { shape: number[]; path: string; instruction?: string; packedMs: number; unpackedMs: number; packMs: number; gflops: number; peakGflops: number; ofPeak: number; ofCopy?: number; peers: { name: string; ms: number }[]; notes: string[] }[];
    expect(rows.map((r) => r.shape)).toEqual([[1, 96, 200], [40, 64, 130]]);
    for (const r of rows) {
      expect(r.path).toBe(addon.cpuSimd().gemm);
      // Below 8 rows no tier runs the AMX tiles.
      expect(r.instruction).toMatch(r.shape[0] < 8 ? /^(vdpbf16ps|fma)$/ : /^(amx|vdpbf16ps|fma)$/);
      for (const v of [r.packedMs, r.unpackedMs, r.packMs, r.gflops]) expect(v).toBeGreaterThan(0);
      const t = r as unknown as { packedMinMs: number; packedMaxMs: number };
      expect(t.packedMinMs).toBeLessThanOrEqual(r.packedMs);
      expect(t.packedMaxMs).toBeGreaterThanOrEqual(r.packedMs);
      expect(r.ofPeak).toBeCloseTo(r.gflops / r.peakGflops, 10);
      // Each peer either ran or says how to install it.
      for (const peer of ['onednn', 'openblas'])
        expect(r.peers.some((p) => p.name === peer && p.ms > 0) || rows.some((x) => x.notes.some((n) => n.startsWith(`${peer} not available`) && /apt-get install/.test(n)))).toBe(true);
    }
    expect(rows[0].ofCopy).toBeGreaterThan(0);
    expect(rows[1].ofCopy).toBeUndefined();
  }, 120_000);

  test('bench gemm --backend cuda-emu: the CUDA kernel on device operands and device-packed B, no CPU peak or host copy', () => {
    const out = JSON.parse(execFileSync(process.execPath, [cli, 'bench', 'gemm', '--backend', 'cuda-emu', '--shape', '4x136x130', '--reps', '1', '--no-peers', '--json'], { encoding: 'utf8' }));
    const [r] = out.results.gemm as { shape: number[]; path: string; packedMs: number; unpackedMs: number; packMs: number | null; gflops: number; peakGflops: number | null; ofCopy?: number; notes: string[] }[];
    expect(r.shape).toEqual([4, 136, 130]);
    expect(r.path).toBe('cuda-emu gemm kernel');
    for (const v of [r.packedMs, r.unpackedMs, r.gflops, r.packMs!]) expect(v).toBeGreaterThan(0);
    expect(r.peakGflops).toBeNull();
    expect(r.ofCopy).toBeUndefined();
    expect(r.notes.filter((x) => /does not pack/.test(x))).toEqual([]);
  }, 120_000);

  test('--version, help <command> and <command> --help on every command; bad usage exits 2', () => {
    expect(execFileSync(process.execPath, [cli, '--version'], { encoding: 'utf8' })).toBe(`${fp8.version}\n`);
    for (const cmd of ['info', 'check', 'bench', 'simulate', 'convert']) {
      const a = execFileSync(process.execPath, [cli, 'help', cmd], { encoding: 'utf8' });
      expect(a.startsWith(`usage: fp8kit ${cmd} [options]\n\n  ${cmd}`), a).toBe(true);
      expect(execFileSync(process.execPath, [cli, cmd, '--help'], { encoding: 'utf8' })).toBe(a);
    }
    for (const args of [['help', 'nosuch'], ['nosuch'], []]) {
      const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
      expect(r.status, args.join(' ')).toBe(2);
    }
  });

  test('bench quant and cast-transpose take --shape MxK (the 3- and 4-dimension entries go to gemm and grouped-gemm)', () => {
    const out = JSON.parse(execFileSync(process.execPath, [cli, 'bench', 'quant', 'cast-transpose', '--shape', '256x512,64x64x64', '--reps', '1', '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
    const names = (rows: { name: string }[]) => rows.map((r) => r.name).filter((n) => !/new output\)$/.test(n) && !n.startsWith('onnxruntime'));
    expect(names(out.results.quant)).toEqual(['1x128 bf16 [256, 512]', '128x128 bf16 [256, 512]', '1x128 f32 [256, 512]']);
    // 1x128 also as a user calls it: an input made in JavaScript, a new output
    expect(out.results.quant.map((r: { name: string }) => r.name)).toContain('1x128 bf16 [256, 512] (JS input, new output)');
    expect(names(out.results['cast-transpose'])).toEqual(['1x128 bf16 [256, 512]', '128x128 bf16 [256, 512]']);
    // bf16 read, e4m3 written, one f32 scale per 1x128 tile
    expect(out.results.quant[0].bytes).toBe(256 * 512 * 3 + 4 * 256 * 4);
    const bad = spawnSync(process.execPath, [cli, 'bench', 'quant', '--shape', '256', '--reps', '1'], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/--shape takes MxK \(quant, cast-transpose\), TxE \(route\)/);
  }, 120_000);

  test('bench grouped-gemm: contiguous and masked next to a dense GEMM of the same FLOPs and the peak', () => {
    const run = spawnSync(process.execPath, [cli, 'bench', 'grouped-gemm', '--shape', '2x64x256x256', '--reps', '1', '--json'], { encoding: 'utf8' });
    expect(run.stderr).toBe('fp8kit bench: 1/2 grouped-gemm…\nfp8kit bench: 2/2 done\n');  // progress: plain lines off a terminal
    const out = JSON.parse(run.stdout);
    const [r] = out.results['grouped-gemm'];
    expect(r.shape).toEqual([2, 64, 256, 256]);
    for (const v of [r.contiguousMs, r.newOutputMs, r.maskedMs, r.denseMs, r.contiguousGflops, r.peakGflops]) expect(v).toBeGreaterThan(0);
    expect(r.contiguousMinMs).toBeLessThanOrEqual(r.contiguousMs);
    expect(r.contiguousMaxMs).toBeGreaterThanOrEqual(r.contiguousMs);
    expect(r.contiguousGflops).toBeCloseTo((2 * 2 * 64 * 256 * 256) / r.contiguousMs / 1e6, 6);
    expect(r.ofDense).toBeCloseTo(r.denseMs / r.contiguousMs, 9);
    // each peer timed on the dense GEMM of the same rows, or named with how to install it
    for (const name of ['onednn', 'openblas']) {
      const p = r.peers.find((x: { name: string }) => x.name === name);
      if (p) expect(p.fp8kitSpeedup).toBeCloseTo(p.ms / r.contiguousMs, 9);
      else expect(r.notes.join('\n')).toMatch(new RegExp(`${name} not available .*install it with: apt-get install`));
    }
  }, 120_000);

  test('bad usage exits non-zero with a message', () => {
    let status = 0;
    let stderr = '';
    try {
      execFileSync(process.execPath, [cli, 'bench', 'nosuch'], { encoding: 'utf8', stdio: 'pipe' });
    } catch (e) {
      status = (e as { status: number }).status;
      stderr = String((e as { stderr: string }).stderr);
    }
    expect(status).toBe(1);
    expect(stderr).toMatch(/unknown benchmark 'nosuch'/);
  });
});
