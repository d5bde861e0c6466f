/**
 * The CUDA plugin slot: a missing, corrupt or mismatched plugin leaves `cuda` unavailable with the
 * precise reason and never takes the process down; the real plugin (when built) says why it cannot
 * run here.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';

const root = path.join(__dirname, '..');
const dir = mkdtempSync(path.join(tmpdir(), 'fp8kit-plugin-'));

/** backends()'s cuda entry and a cpu cast, in a fresh process whose plugin path is `plugin`. */
function cudaIn(plugin: string | undefined): { cuda: { available: boolean; reason: string }; castWorks: boolean; cudaCall: string } {
  const script = `
    const fp8 = require(${JSON.stringify(root)});
    const cuda = fp8.backends().find((b) => b.name === 'cuda');
    const q = fp8.castToFp8Sync({ dtype: 'f32', shape: [1], data: Float32Array.of(1) });
    let cudaCall = 'ok';
    try { fp8.castToFp8Sync({ dtype: 'f32', shape: [1], data: Float32Array.of(1) }, { backend: 'cuda' }); }
    catch (e) { cudaCall = e.code + ': ' + e.message; }
    console.log(JSON.stringify({ cuda, castWorks: q.data[0] === 0x38, cudaCall }));`;
  const env = { ...process.env };
  if (plugin === undefined) delete env.FP8KIT_CUDA_PLUGIN;
  else env.FP8KIT_CUDA_PLUGIN = plugin;
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { env, encoding: 'utf8' }));
}

function fake(kind: number): string {
  const out = path.join(dir, `fake${kind}.so`);
  execFileSync('g++', ['-std=c++17', '-shared', '-fPIC', `-DFAKE_KIND=${kind}`, path.join(root, 'test/plugin/fake_plugin.cc'), '-o', out]);
  return out;
}

describe('a broken cuda plugin leaves the process running and says why', () => {
  test('missing file', () => {
    const r = cudaIn(path.join(dir, 'nothing-here.so'));
    expect(r.cuda.available).toBe(false);
    expect(r.cuda.reason).toMatch(/cuda plugin is not built \(looked for .*nothing-here\.so\).*npm run build:cuda/);
    expect(r.castWorks).toBe(true);
    expect(r.cudaCall).toMatch(/^ERR_BACKEND_UNAVAILABLE: backend 'cuda' is unavailable: the cuda plugin is not built/);
  });

  test('not a shared library', () => {
    const p = path.join(dir, 'garbage.so');
    writeFileSync(p, 'this is not an ELF file\n');
    const r = cudaIn(p);
    expect(r.cuda.reason).toMatch(/cuda plugin failed to load: .*garbage\.so: .*(file too short|invalid ELF header)/);
    expect(r.castWorks).toBe(true);
  });

  test('a library without the entry point', () => {
    const p = path.join(dir, 'noentry.so');
    writeFileSync(path.join(dir, 'noentry.cc'), 'extern "C" int unrelated() { return 1; }\n');
    execFileSync('g++', ['-shared', '-fPIC', path.join(dir, 'noentry.cc'), '-o', p]);
    expect(cudaIn(p).cuda.reason).toMatch(/no fp8k_plugin_backend entry point/);
  });

  test('another ABI version, another backend, a probe that throws, no device', () => {
    expect(cudaIn(fake(1)).cuda.reason).toMatch(/backend ABI 999, this addon speaks \d+/);
    expect(cudaIn(fake(3)).cuda.reason).toMatch(/does not provide the 'cuda' backend/);
    expect(cudaIn(fake(2)).cuda.reason).toMatch(/probe threw/);
    const r = cudaIn(fake(4));
    expect(r.cuda.reason).toBe('no CUDA device (fake plugin)');
    expect(r.cudaCall).toMatch(/ERR_BACKEND_UNAVAILABLE: .*no CUDA device/);
  });
});

const built = path.join(root, 'build-cmake', 'Release', 'fp8kit_cuda.so');
test.skipIf(!existsSync(built))(
  existsSync(built) ? 'the built cuda plugin loads and reports its device or why there is none' : 'the built cuda plugin (skipped: not built; npm run build:cuda)',
  () => {
    const r = cudaIn(undefined);
    if (r.cuda.available) expect(r.cudaCall).toBe('ok');
    // Without a GPU: error 35 from cudaGetDeviceCount (no driver), or no device, or too old a device.
    else expect(r.cuda.reason).toMatch(/cudaGetDeviceCount returned \d+|no CUDA device|compute capability/);
  },
);
