// Builds libfp8kit_mpi.so (native/mpi: the `mpi` transport's MPI calls) into build/Release, with the
// MPI compiler wrapper (OpenMPI's mpicxx; MPICXX overrides it). Without one it says so and exits 0
// unless FP8KIT_MPI=1 asks for the library: the addon works without it.
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const cxx = process.env.MPICXX || 'mpicxx';
const required = process.env.FP8KIT_MPI === '1' || process.env.FP8KIT_MPI === 'on';
if (process.platform === 'win32') {
  console.error('fp8kit: the mpi transport is built on Linux only; on Windows clusters run as sim');
  process.exit(required ? 1 : 0);
}
if (spawnSync(cxx, ['--showme:version'], { stdio: 'ignore' }).status !== 0 && spawnSync(cxx, ['--version'], { stdio: 'ignore' }).status !== 0) {
  console.error(`fp8kit: ${cxx} not found: the mpi transport is not built (Debian: apt-get install openmpi-bin libopenmpi-dev)`);
  process.exit(required ? 1 : 0);
}
const out = path.join(root, 'build', 'Release', 'libfp8kit_mpi.so');
fs.mkdirSync(path.dirname(out), { recursive: true });
const args = ['-std=c++17', '-O2', '-DOMPI_SKIP_MPICXX=1', '-DMPICH_SKIP_MPICXX=1', '-fPIC', '-shared', '-fvisibility=hidden', '-Wall', '-Wextra', '-o', out, path.join(root, 'native', 'mpi', 'transport.cc'), '-lpthread'];
const r = spawnSync(cxx, args, { stdio: 'inherit' });
if (r.status !== 0) {
  console.error('fp8kit: the mpi transport failed to build; the addon works without it');
  process.exit(required ? 1 : 0);
}
console.log(`fp8kit: built ${path.relative(root, out)}`);
