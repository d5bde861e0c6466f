// The linux-arm64 addon, cross-compiled with Debian's g++-aarch64-linux-gnu from the sources
// scripts/sources.cjs lists for arm64 (no x86-64 SIMD code: the cpu backend on the reference kernels),
// with binding.gyp's flags, two compiles at a time:
//   node scripts/build-arm64.cjs OUT.node [--opt=-O1] [--strip]
// Used by `npm run prebuild` (prebuilds/linux-arm64/) and test/portable.test.ts. Exits 1 with the
// compiler's messages on failure.
const { spawn, spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { parseArgs } = require('util');

const root = path.join(__dirname, '..');
const cxx = 'aarch64-linux-gnu-g++';
const { values, positionals } = parseArgs({ options: { opt: { type: 'string', default: '-O3' }, strip: { type: 'boolean', default: false } }, allowPositionals: true });
const out = path.resolve(positionals[0] ?? path.join(root, 'prebuilds', 'linux-arm64', 'fp8kit.node'));
const sources = spawnSync(process.execPath, [path.join(__dirname, 'sources.cjs'), 'arm64'], { encoding: 'utf8' }).stdout.trim().split(/\s+/);
const napi = require(path.join(root, 'node_modules', 'node-addon-api')).include_dir;
const flags = [
  '-std=c++17', values.opt, '-fPIC', '-fexceptions', '-frtti', '-ffp-contract=off', '-fvisibility=hidden', '-Wall', '-Wno-unused-function', '-Werror=implicit-function-declaration',
  '-DNAPI_VERSION=8', '-DNAPI_CPP_EXCEPTIONS', '-DNODE_ADDON_API_DISABLE_DEPRECATED', '-I/usr/include/node', `-I${path.resolve(root, napi)}`,
];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fp8kit-arm64-obj-'));
const objects = sources.map((_, i) => path.join(tmp, `${i}.o`));

async function main() {
  const failures = [];
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < sources.length; i = next++) {
      await new Promise((resolve) => {
        const p = spawn(cxx, [...flags, '-c', sources[i], '-o', objects[i]], { cwd: root });
        let err = '';
        p.stderr.on('data', (d) => (err += d));
        p.on('error', (e) => (err += e.message));
        p.on('close', (code) => {
          if (code !== 0) failures.push(`${sources[i]}: ${err}`);
          resolve();
        });
      });
    }
  };
  await Promise.all([worker(), worker()]);
  if (failures.length) throw new Error(failures.join('\n'));
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const link = spawnSync(cxx, ['-shared', '-o', out, ...objects, '-ldl', '-lpthread', ...(values.strip ? ['-s'] : [])], { encoding: 'utf8' });
  if (link.status !== 0) throw new Error(`link: ${link.stderr || link.error}`);
  console.log(`build-arm64: ${path.relative(process.cwd(), out)} (${sources.length} sources, ${(fs.statSync(out).size / 1e6).toFixed(1)} MB)`);
}

main()
  .catch((e) => {
    console.error(e.message);
    process.exitCode = 1;
  })
  .finally(() => fs.rmSync(tmp, { recursive: true, force: true }));
