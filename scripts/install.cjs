// `npm install`: the portable addon always (node-gyp-build: a prebuild, else node-gyp), the mpi
// transport's library where mpicxx exists (FP8KIT_MPI=1 requires it), then the CUDA
// plugin when this looks like a machine that can use it. FP8KIT_CUDA=1 forces the plugin build
// (failing without nvcc), FP8KIT_CUDA=0 skips it; by default it is built when nvcc is on PATH and
// a CUDA driver (libcuda.so.1) is installed. The plugin never blocks the portable install.
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const run = (cmd, args) => spawnSync(cmd, args, { cwd: root, stdio: 'inherit', shell: false }).status;

// Windows has the prebuild only (MinGW-built; binding.gyp's sources are not MSVC's dialect).
if (process.platform === 'win32' && !fs.existsSync(path.join(root, 'prebuilds', `win32-${process.arch}`, 'fp8kit.node'))) {
  console.error(`fp8kit: no prebuilt binary for win32-${process.arch}, and no source build on Windows: fp8kit ships win32-x64 only`);
  process.exit(1);
}
const gypBuild = require.resolve('node-gyp-build/bin.js');
const status = run(process.execPath, [gypBuild]);
if (status !== 0) process.exit(status ?? 1);

// The mpi transport's library, where OpenMPI's mpicxx exists (the script says so and moves on otherwise).
const mpi = run(process.execPath, [path.join(__dirname, 'build-mpi.cjs')]);
if (mpi !== 0) process.exit(mpi ?? 1);

const want = process.env.FP8KIT_CUDA;
if (want === '0' || want === 'off') process.exit(0);
const hasNvcc = spawnSync('nvcc', ['--version'], { stdio: 'ignore' }).status === 0;
const hasDriver = ['/usr/lib/x86_64-linux-gnu/libcuda.so.1', '/usr/lib64/libcuda.so.1', '/usr/local/nvidia/lib64/libcuda.so.1']
  .some((p) => fs.existsSync(p));
if (want === '1' || want === 'on' || (hasNvcc && hasDriver)) {
  if (!hasNvcc) {
    console.error('fp8kit: FP8KIT_CUDA=1 but nvcc is not on PATH');
    process.exit(1);
  }
  try {
    require.resolve('cmake-js/bin/cmake-js');
  } catch {
    console.error('fp8kit: building the CUDA plugin needs cmake-js (npm install --save-dev cmake-js) and cmake');
    process.exit(want === '1' || want === 'on' ? 1 : 0);
  }
  const s = run(process.execPath, [path.join(__dirname, 'build-cuda.cjs')]);
  if (s !== 0 && (want === '1' || want === 'on')) process.exit(s ?? 1);
  if (s !== 0) console.error('fp8kit: the CUDA plugin failed to build; the cpu backend works regardless');
}
