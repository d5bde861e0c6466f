/**
 * A package that installs without a compiler: the packed tarball, with the prebuilt binaries
 * `npm run prebuild` puts in prebuilds/ (here: this build's addon and mpi library, the files prebuildify
 * and scripts/prebuild.cjs copy there, so the suite does not rebuild the addon), installed into an empty
 * project with g++, make, python3, cmake, nvcc and mpicxx hidden from PATH. It loads the prebuilt binary,
 * says so in `fp8kit info`, computes, and finds the mpi transport's prebuilt library.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { expect, test } from 'vitest';

import { fp8 } from './helpers.js';

const root = path.join(__dirname, '..');
const built = path.join(root, 'build', 'Release');
const addon = [path.join(built, 'fp8kit.node'), path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'fp8kit.node')].find((p) => existsSync(p));

test.skipIf(!addon)('the packed tarball with prebuilds installs and runs where no compiler is on PATH', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'fp8kit-install-'));
  try {
    // The tarball as npm pack makes it, with prebuilds/<platform>-<arch>/ in it.
    const stage = path.join(dir, 'stage');
    mkdirSync(stage);
    const tgz = execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', stage], { cwd: root, encoding: 'utf8' }).trim().split('\n').pop()!;
    execFileSync('tar', ['-xzf', path.join(stage, tgz), '-C', stage]);
    const pre = path.join(stage, 'package', 'prebuilds', `${process.platform}-${process.arch}`);
    mkdirSync(pre, { recursive: true });
    if (!existsSync(path.join(pre, 'fp8kit.node'))) copyFileSync(addon!, path.join(pre, 'fp8kit.node'));
    const mpiLib = path.join(built, 'libfp8kit_mpi.so');
    if (existsSync(mpiLib) && !existsSync(path.join(pre, 'libfp8kit_mpi.so'))) copyFileSync(mpiLib, path.join(pre, 'libfp8kit_mpi.so'));
    const packed = path.join(dir, 'fp8kit-prebuilt.tgz');
    execFileSync('tar', ['-czf', packed, '-C', stage, 'package']);

    // An empty project; PATH holds node and sh only (npm is run by its path).
    const project = path.join(dir, 'consumer'), bin = path.join(dir, 'bin');
    mkdirSync(project), mkdirSync(bin);
    writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
    symlinkSync(process.execPath, path.join(bin, 'node'));
    symlinkSync('/bin/sh', path.join(bin, 'sh'));  // npm runs install scripts with it
    const npmCli = realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim());  // npm-cli.js
    const env = { ...process.env, PATH: bin, FP8KIT_CUDA: '', npm_config_nodedir: '' };
    for (const tool of ['g++', 'make', 'python3', 'cmake', 'nvcc', 'mpicxx']) expect(spawnSync(tool, ['--version'], { env }).error, `${tool} is hidden`).toBeDefined();
    const install = spawnSync(process.execPath, [npmCli, 'install', packed, '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts'], { cwd: project, env, encoding: 'utf8', timeout: 240_000 });
    expect(install.status, install.stdout + install.stderr).toBe(0);

    const script = "const f = require('fp8kit'); const q = f.quantizeSync(f.tensor('f32', [2, 128], Float32Array.from({ length: 256 }, (_, i) => i - 128))); console.log(JSON.stringify({ scale: q.scales.data[0], mpi: f.mpiStatus().available }));";
    const run = spawnSync(process.execPath, ['-e', script], { cwd: project, env, encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const got = JSON.parse(run.stdout);
    expect(got.scale).toBe(fp8.quantizeSync(fp8.tensor('f32', [2, 128], Float32Array.from({ length: 256 }, (_, i) => i - 128)), { backend: 'ref' }).scales.data[0]);
    expect(got.mpi).toBe(fp8.mpiStatus().available);
    const info = spawnSync(process.execPath, [path.join(project, 'node_modules', 'fp8kit', 'dist', 'cli', 'main.js'), 'info'], { cwd: project, env, encoding: 'utf8' });
    expect(info.stdout).toMatch(/^binary: prebuilt, .*node_modules\/fp8kit\/prebuilds\/linux-x64\/fp8kit\.node$/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 300_000);
