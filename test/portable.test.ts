/**
 * Everywhere Node runs: the portable addon cross-compiles for linux-arm64 (Debian's
 * g++-aarch64-linux-gnu, which .ci/run installs) from the sources scripts/sources.cjs lists for that
 * architecture — no x86-64 SIMD code, the cpu backend on the scalar reference kernels — and links into an
 * AArch64 shared object. Where qemu-user and Debian's arm64 node are there (.ci/run unpacks them with
 * scripts/arm64-node.sh), that object then runs: every kind of operation gives the same bytes as here,
 * and `fp8kit check --quick` passes. (The whole suite under qemu-user is not run: vitest's esbuild has no
 * arm64 binary here, and it would not fit CI's time.)
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, expect, test } from 'vitest';

const root = path.join(__dirname, '..');
const cxx = 'aarch64-linux-gnu-g++';
const hasCross = spawnSync(cxx, ['--version'], { stdio: 'ignore' }).status === 0;
if (!hasCross) console.log(`${cxx} not found (Debian: apt-get install g++-aarch64-linux-gnu): the linux-arm64 cross-compile is skipped`);
// arm64 node unpacked by scripts/arm64-node.sh, run by qemu-user
const arm64Root = process.env.FP8KIT_ARM64_ROOT ?? path.join(root, '.tmp', 'arm64-root');
const hasQemu = spawnSync('qemu-aarch64', ['--version'], { stdio: 'ignore' }).status === 0 && existsSync(path.join(arm64Root, 'usr', 'bin', 'node'));
if (!hasQemu) console.log(`qemu-aarch64 or an arm64 node in ${arm64Root} not found (scripts/arm64-node.sh ${arm64Root} unpacks one): the linux-arm64 run is skipped`);
const dir = mkdtempSync(path.join(tmpdir(), 'fp8kit-arm64-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
/** The linked linux-arm64 addon, once the first test has built it. */
let built: string | undefined;

test.skipIf(!hasCross)('the addon cross-compiles and links for linux-arm64', () => {
  const sources = spawnSync(process.execPath, [path.join(root, 'scripts', 'sources.cjs'), 'arm64'], { encoding: 'utf8' }).stdout.trim().split(/\s+/);
  expect(sources).toContain('native/cpu/portable/backend.cc');
  expect(sources.filter((s) => /^native\/cpu\/[^/]+\.cc$|native\/cpu\/gemm\//.test(s))).toEqual([]);
  // scripts/build-arm64.cjs, as npm run prebuild runs it (-O1 rather than -O3: kept short)
  const out = path.join(dir, 'fp8kit.node');
  const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'build-arm64.cjs'), out, '--opt=-O1'], { cwd: root, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  const elf = readFileSync(out);
  expect(elf.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
  expect(elf.readUInt16LE(18)).toBe(183);  // e_machine: EM_AARCH64
  built = out;
}, 600_000);

test.skipIf(!hasCross || !hasQemu)('the linux-arm64 prebuild loads and runs under qemu-user: the same bytes as x86-64 for every kind of operation, and fp8kit check passes', () => {
  expect(built, 'the cross-compile above did not produce the addon').toBeDefined();
  // the package as npm would install it from a tarball with prebuilds/linux-arm64 (npm run prebuild's)
  const pkg = path.join(dir, 'pkg');
  mkdirSync(path.join(pkg, 'prebuilds', 'linux-arm64'), { recursive: true });
  cpSync(path.join(root, 'package.json'), path.join(pkg, 'package.json'));
  cpSync(path.join(root, 'dist'), path.join(pkg, 'dist'), { recursive: true });
  cpSync(path.join(root, 'node_modules', 'node-gyp-build'), path.join(pkg, 'node_modules', 'node-gyp-build'), { recursive: true });
  cpSync(built!, path.join(pkg, 'prebuilds', 'linux-arm64', 'fp8kit.node'));
  const arm = (args: string[]) => spawnSync('qemu-aarch64', ['-L', arm64Root, path.join(arm64Root, 'usr', 'bin', 'node'), ...args], { cwd: pkg, encoding: 'utf8', timeout: 300_000 });
  const smoke = path.join(root, 'test', 'portable', 'smoke.cjs');
  const a = arm([smoke, pkg]);
  expect(a.status, a.stderr).toBe(0);
  const host = spawnSync(process.execPath, [smoke, root], { encoding: 'utf8' });
  expect(host.status, host.stderr).toBe(0);
  const there = JSON.parse(a.stdout), here = JSON.parse(host.stdout);
  expect(there.arch).toBe('arm64');
  expect(Object.keys(there.digests.ref).length).toBeGreaterThanOrEqual(9);
  expect(there.digests.ref).toEqual(here.digests.ref);  // the reference: the same bytes on both machines
  expect(there.digests.cpu).toEqual(there.digests.ref);  // arm64's cpu backend is the reference kernels
  const info = arm([path.join(pkg, 'dist', 'cli', 'main.js'), 'info']);
  expect(info.stdout).toMatch(/^binary: prebuilt, .*prebuilds\/linux-arm64\/fp8kit\.node$/m);
  expect(info.stdout).toMatch(/linux-arm64/);
  const check = arm([path.join(pkg, 'dist', 'cli', 'main.js'), 'check', '--quick']);
  expect(check.status, check.stdout + check.stderr).toBe(0);
  expect(check.stdout).toMatch(/\b[1-9]\d* passed, 0 failed/);
}, 600_000);
