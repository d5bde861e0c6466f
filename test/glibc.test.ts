/**
 * The linux-x64 prebuild is made on Debian 12 (glibc 2.36, GCC 12) but must load wherever Node 20 does:
 * glibc 2.28 and later, with whatever libstdc++ the machine has. The addon built here (the prebuild's
 * very bytes) asks for no glibc symbol version above 2.28 and does not need libstdc++
 * (native/addon/glibc_floor.h), and it runs on Debian 11's glibc 2.31 and libstdc++ (GCC 10) under the
 * registry's official Node binary (.ci/run unpacks them with scripts/old-glibc-node.sh): the same bytes
 * as here for every kind of operation, and `fp8kit check --quick` passes on cpu and cuda-emu.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { expect, test } from 'vitest';

const root = path.join(__dirname, '..');
const addon = path.join(root, 'build', 'Release', 'fp8kit.node');
const hasObjdump = spawnSync('objdump', ['--version'], { stdio: 'ignore' }).status === 0;
const old = process.env.FP8KIT_OLD_GLIBC ?? path.join(root, '.tmp', 'glibc-2.31');
const lib = path.join(old, 'lib', 'x86_64-linux-gnu');
const hasOld = process.arch === 'x64' && existsSync(path.join(old, 'node')) && existsSync(path.join(lib, 'ld-linux-x86-64.so.2'));
if (!hasOld) console.log(`no older glibc and node in ${old} (scripts/old-glibc-node.sh ${old} unpacks them): the run on glibc 2.31 is skipped`);

/** "2.34" > "2.28" as versions, not strings. */
const above = (v: string, floor: string) => {
  const [a, b] = [v.split('.').map(Number), floor.split('.').map(Number)];
  for (let i = 0; i < Math.max(a.length, b.length); i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  return false;
};

test.skipIf(!existsSync(addon) || !hasObjdump || process.platform !== 'linux')('the addon asks for glibc 2.28 at most and does not need libstdc++', () => {
  const dyn = spawnSync('objdump', ['-T', addon], { encoding: 'utf8' }).stdout;
  const versions = [...new Set([...dyn.matchAll(/\(?GLIBC_([\d.]+)\)?\s+(\S+)$/gm)].map((m) => `${m[1]} ${m[2]}`))];
  expect(versions.length).toBeGreaterThan(10);
  expect(versions.filter((v) => above(v.split(' ')[0], '2.28'))).toEqual([]);
  expect(dyn).not.toMatch(/GLIBCXX_|CXXABI_/);
  const needed = [...spawnSync('objdump', ['-p', addon], { encoding: 'utf8' }).stdout.matchAll(/NEEDED\s+(\S+)/g)].map((m) => m[1]);
  expect(needed).toContain('libc.so.6');
  expect(needed).not.toContain('libstdc++.so.6');
});

test.skipIf(!existsSync(addon) || !hasOld)('on Debian 11 (glibc 2.31, GCC 10\'s libstdc++) with the official Node binary: the same bytes, and check passes', () => {
  const run = (args: string[]) =>
    spawnSync(path.join(lib, 'ld-linux-x86-64.so.2'), ['--library-path', `${lib}:${path.join(old, 'usr', 'lib', 'x86_64-linux-gnu')}`, path.join(old, 'node'), ...args], { cwd: root, encoding: 'utf8', timeout: 300_000 });
  const glibc = run(['-p', 'process.report.getReport().header.glibcVersionRuntime']);
  expect(glibc.stdout.trim()).toBe('2.31');
  const smoke = path.join(root, 'test', 'portable', 'smoke.cjs');
  const there = run([smoke, root]);
  expect(there.status, there.stderr).toBe(0);
  const here = spawnSync(process.execPath, [smoke, root], { encoding: 'utf8' });
  expect(JSON.parse(there.stdout).digests).toEqual(JSON.parse(here.stdout).digests);
  for (const backend of ['cpu', 'cuda-emu']) {
    const check = run([path.join(root, 'dist', 'cli', 'main.js'), 'check', '--quick', '--backend', backend]);
    expect(check.status, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toMatch(/\b[1-9]\d* passed, 0 failed/);
  }
}, 300_000);
