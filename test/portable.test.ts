/**
 * Everywhere Node runs: the portable addon cross-compiles for linux-arm64 (Debian's
 * g++-aarch64-linux-gnu, which .ci/run installs) from the sources scripts/sources.cjs lists for that
 * architecture — no x86-64 SIMD code, the cpu backend on the scalar reference kernels — and links into an
 * AArch64 shared object. (Running the suite under qemu-user is not done: it would not fit CI's time.)
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { expect, test } from 'vitest';

const root = path.join(__dirname, '..');
const cxx = 'aarch64-linux-gnu-g++';
const hasCross = spawnSync(cxx, ['--version'], { stdio: 'ignore' }).status === 0;
if (!hasCross) console.log(`${cxx} not found (Debian: apt-get install g++-aarch64-linux-gnu): the linux-arm64 cross-compile is skipped`);

/** Runs `jobs` compiles at a time; resolves with the failures' output. */
async function compileAll(cmds: string[][], jobs: number): Promise<string[]> {
  const failures: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < cmds.length) {
      const args = cmds[next++];
      await new Promise<void>((resolve) => {
        const p = spawn(cxx, args, { cwd: root });
        let err = '';
        p.stderr.on('data', (d) => (err += d));
        p.on('close', (code) => {
          if (code !== 0) failures.push(`${args[args.length - 3]}: ${err}`);
          resolve();
        });
      });
    }
  };
  await Promise.all(Array.from({ length: jobs }, worker));
  return failures;
}

test.skipIf(!hasCross)('the addon cross-compiles and links for linux-arm64', async () => {
  const sources = spawnSync(process.execPath, [path.join(root, 'scripts', 'sources.cjs'), 'arm64'], { encoding: 'utf8' }).stdout.trim().split(/\s+/);
  expect(sources).toContain('native/cpu/portable/backend.cc');
  expect(sources.filter((s) => /^native\/cpu\/[^/]+\.cc$|native\/cpu\/gemm\//.test(s))).toEqual([]);
  const napi = spawnSync(process.execPath, ['-p', "require('node-addon-api').include_dir"], { cwd: root, encoding: 'utf8' }).stdout.trim();
  const dir = mkdtempSync(path.join(tmpdir(), 'fp8kit-arm64-'));
  try {
    // binding.gyp's flags (-O1 rather than -O3: a compile check, kept short)
    const flags = ['-std=c++17', '-O1', '-fPIC', '-fexceptions', '-frtti', '-ffp-contract=off', '-fvisibility=hidden', '-Wall', '-Wno-unused-function', '-Werror=implicit-function-declaration',
      '-DNAPI_VERSION=8', '-DNAPI_CPP_EXCEPTIONS', '-DNODE_ADDON_API_DISABLE_DEPRECATED', '-I/usr/include/node', `-I${path.resolve(root, napi)}`];
    const objects = sources.map((s, i) => path.join(dir, `${i}.o`));
    const failures = await compileAll(sources.map((s, i) => [...flags, '-c', s, '-o', objects[i]]), 2);
    expect(failures).toEqual([]);
    const out = path.join(dir, 'fp8kit.node');
    const link = spawnSync(cxx, ['-shared', '-o', out, ...objects, '-ldl', '-lpthread'], { encoding: 'utf8' });
    expect(link.status, link.stderr).toBe(0);
    const elf = readFileSync(out);
    expect(elf.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    expect(elf.readUInt16LE(18)).toBe(183);  // e_machine: EM_AARCH64
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 600_000);
