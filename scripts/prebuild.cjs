// `npm run prebuild`: the prebuilt binaries `npm pack` ships and node-gyp-build loads. prebuildify
// (N-API, stripped) builds the addon into prebuilds/<platform>-<arch>/ (and on linux-x64 a cross-compiled
// linux-arm64 one); beside it go the libraries the
// addon opens at run time when they were built: the mpi transport's (built here where mpicxx exists) and
// the CUDA plugin (npm run build:cuda). Run through npm, so node-gyp and the npm config's nodedir (the
// local Node headers: nothing is downloaded) are there.
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
const prebuildify = path.join(root, 'node_modules', '.bin', 'prebuildify');
run(prebuildify, ['--napi', '--strip', `--target=${process.versions.node}`]);
// prebuildify's node-gyp rebuild emptied build/: the mpi library again (when mpicxx exists).
run(process.execPath, [path.join(__dirname, 'build-mpi.cjs')]);
const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
for (const lib of [path.join(root, 'build', 'Release', 'libfp8kit_mpi.so'), path.join(root, 'build-cmake', 'Release', 'fp8kit_cuda.so')]) {
  if (!fs.existsSync(lib)) continue;
  fs.copyFileSync(lib, path.join(dir, path.basename(lib)));
  spawnSync('strip', ['--strip-unneeded', path.join(dir, path.basename(lib))], { stdio: 'inherit' });
}
// linux-arm64 and win32-x64 too, cross-compiled where Debian's cross compilers are installed
// (scripts/cross-build.cjs; no mpi library or CUDA plugin for them).
const dirs = [dir];
const { targets } = require('./cross-build.cjs');
for (const [target, { cxx, prebuild }] of Object.entries(targets)) {
  if (!prebuild || process.platform !== 'linux' || process.arch !== 'x64' || spawnSync(cxx, ['--version'], { stdio: 'ignore' }).status !== 0) continue;
  run(process.execPath, [path.join(__dirname, 'cross-build.cjs'), target, path.join(root, 'prebuilds', target, 'fp8kit.node'), '--strip']);
  dirs.push(path.join(root, 'prebuilds', target));
}
for (const dir of dirs) for (const f of fs.readdirSync(dir)) console.log(`prebuild: ${path.join('prebuilds', path.basename(dir), f)} (${(fs.statSync(path.join(dir, f)).size / 1e6).toFixed(1)} MB)`);
