// The addon for another platform, cross-compiled with a Debian cross compiler from the sources
// scripts/sources.cjs lists for it, with binding.gyp's flags, two compiles at a time:
//   node scripts/cross-build.cjs linux-arm64|win32-x64|darwin-sources-clang OUT.node [--opt=-O1] [--strip]
// linux-arm64 (g++-aarch64-linux-gnu): no x86-64 SIMD code, the cpu backend on the reference kernels.
// win32-x64 (g++-mingw-w64-x86-64-posix): every SIMD tier, no CUDA emulator; it links against node.exe's
// N-API exports through an import library made from node-api-headers' .def, and statically against the
// C++ runtime, so the .node needs nothing beside Windows and node.exe.
// darwin-sources-clang (clang): macOS's source set (no CUDA emulator) built by clang for this machine,
// linux-x64, so that the code a Mac compiles, and the compiler family it uses, run and are checked here.
// Used by `npm run prebuild` (prebuilds/<target>/ for the targets marked prebuild) and
// test/portable.test.ts, which also read `targets`. Exits 1 with the compiler's messages on failure.
const { spawn, spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { parseArgs } = require('util');

const { staticCxxFlags } = require('./static-cxx.cjs');

const root = path.join(__dirname, '..');
const napiHeaders = path.join(root, 'node_modules', 'node-api-headers');
const targets = {
  'linux-arm64': {
    cxx: 'aarch64-linux-gnu-g++',
    arch: 'arm64',
    os: 'linux',
    cflags: ['-fPIC', '-I/usr/include/node', '-include', path.join(root, 'native', 'addon', 'glibc_floor.h')],
    libs: ['-ldl', '-lpthread'],
    staticCxx: true,  // the C++ runtime linked in, as binding.gyp does on Linux
    prebuild: true,
  },
  'darwin-sources-clang': { cxx: 'clang++', arch: 'x64', os: 'darwin', cflags: ['-fPIC', '-I/usr/include/node'], libs: ['-ldl', '-lpthread'] },
  'win32-x64': {
    cxx: 'x86_64-w64-mingw32-g++-posix',
    arch: 'x64',
    os: 'win32',
    cflags: [`-I${path.join(napiHeaders, 'include')}`],
    libs: ['-static'],
    prebuild: true,
    importLib: { dlltool: 'x86_64-w64-mingw32-dlltool', def: path.join(napiHeaders, 'def', 'node_api.def') },
  },
};
module.exports = { targets };

function build() {
  const { values, positionals } = parseArgs({ options: { opt: { type: 'string', default: '-O3' }, strip: { type: 'boolean', default: false } }, allowPositionals: true });
  const target = targets[positionals[0]];
  if (!target) {
    console.error(`cross-build: the target is one of ${Object.keys(targets).join(', ')}; got ${positionals[0]}`);
    process.exit(2);
  }
  const out = path.resolve(positionals[1] ?? path.join(root, 'prebuilds', positionals[0], 'fp8kit.node'));
  const sources = spawnSync(process.execPath, [path.join(__dirname, 'sources.cjs'), target.arch, target.os], { encoding: 'utf8' }).stdout.trim().split(/\s+/);
  const napi = require(path.join(root, 'node_modules', 'node-addon-api')).include_dir;
  const flags = [
    '-std=c++17', values.opt, '-fexceptions', '-frtti', '-ffp-contract=off', '-fvisibility=hidden', '-Wall', '-Wno-unused-function', '-Werror=implicit-function-declaration',
    '-DNAPI_VERSION=8', '-DNAPI_CPP_EXCEPTIONS', '-DNODE_ADDON_API_DISABLE_DEPRECATED', ...target.cflags, `-I${path.resolve(root, napi)}`,
  ];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `fp8kit-${positionals[0]}-obj-`));
  const objects = sources.map((_, i) => path.join(tmp, `${i}.o`));

  async function main() {
    const failures = [];
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < sources.length; i = next++) {
        await new Promise((resolve) => {
          const p = spawn(target.cxx, [...flags, '-c', sources[i], '-o', objects[i]], { cwd: root });
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
    const libs = [...target.libs, ...(target.staticCxx ? staticCxxFlags(target.cxx) : [])];
    if (target.importLib) {
      const lib = path.join(tmp, 'libnode.a');
      const r = spawnSync(target.importLib.dlltool, ['-d', target.importLib.def, '-l', lib], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`dlltool: ${r.stderr || r.error}`);
      libs.push(lib);
    }
    fs.mkdirSync(path.dirname(out), { recursive: true });
    const link = spawnSync(target.cxx, ['-shared', '-o', out, ...objects, ...libs, ...(values.strip ? ['-s'] : [])], { encoding: 'utf8' });
    if (link.status !== 0) throw new Error(`link: ${link.stderr || link.error}`);
    console.log(`cross-build ${positionals[0]}: ${path.relative(process.cwd(), out)} (${sources.length} sources, ${(fs.statSync(out).size / 1e6).toFixed(1)} MB)`);
  }

  main()
    .catch((e) => {
      console.error(e.message);
      process.exitCode = 1;
    })
    .finally(() => fs.rmSync(tmp, { recursive: true, force: true }));
}

if (require.main === module) build();
