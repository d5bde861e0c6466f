// `npm run build:cuda`: builds the CUDA plugin (CMakeLists.txt, nvcc for sm_89 and sm_90a), writes what
// ptxas reports per kernel (registers, shared memory, spills) to bench/cuda-resource-usage.txt, and fails
// on a local-memory spill that is not listed in ALLOWED_SPILLS. The nvcc flags are CMakeLists.txt's (among them
// -fmad=false, the FMA policy that test/fmad.test.ts checks); this script passes none of its own.
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
// Kernels allowed to spill, with the reason. None so far.
const ALLOWED_SPILLS = {};

// ptxas re-reports only what it compiles: drop the plugin's objects so every kernel is listed.
fs.rmSync(path.join(root, 'build-cmake', 'CMakeFiles', 'fp8kit_cuda.dir'), { recursive: true, force: true });
let cmakeJs;
try {
  cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root, process.cwd()] });
} catch {
  console.error('build:cuda: the cmake-js package is missing (it is a devDependency of fp8kit): run `npm install cmake-js` here, then `npm run build:cuda`');
  process.exit(1);
}
const r = spawnSync(process.execPath, [cmakeJs, 'compile', '--out', 'build-cmake', '--target', 'fp8kit_cuda', '--CDFP8KIT_CUDA=ON'], {
  cwd: root,
  encoding: 'utf8',
  maxBuffer: 256 << 20,
});
const log = `${r.stdout}\n${r.stderr}`;
if (r.status !== 0) {
  process.stderr.write(log);
  process.stderr.write(`\nbuild:cuda: the CUDA plugin failed to build (exit ${r.status})\n`);
  process.exit(1);
}

// ptxas info : Compiling entry function '<mangled>' for 'sm_90a'
//     N bytes stack frame, N bytes spill stores, N bytes spill loads
// ptxas info : Used N registers, used N barriers, N bytes smem, …
const rows = [];
let cur = null;
for (const line of log.split('\n')) {
  let m;
  if ((m = /Compiling entry function '([^']+)' for '(sm_\w+)'/.exec(line))) {
    cur = { kernel: m[1], arch: m[2], registers: 0, smem: 0, stack: 0, spillStores: 0, spillLoads: 0 };
    rows.push(cur);
  } else if (cur && (m = /(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads/.exec(line))) {
    [cur.stack, cur.spillStores, cur.spillLoads] = [+m[1], +m[2], +m[3]];
  } else if (cur && (m = /Used (\d+) registers/.exec(line))) {
    cur.registers = +m[1];
    cur.smem = +(/(\d+) bytes smem/.exec(line)?.[1] ?? 0);
  }
}
if (rows.length === 0) {
  process.stderr.write(log + '\nbuild:cuda: ptxas reported no kernels (was --resource-usage dropped?)\n');
  process.exit(1);
}
const demangle = (s) => {
  const d = spawnSync('c++filt', [s], { encoding: 'utf8' });
  return d.status === 0 ? d.stdout.trim() : s;
};
const lines = [
  `# ptxas --resource-usage for the CUDA plugin (nvcc ${/release ([\d.]+)/.exec(spawnSync('nvcc', ['--version'], { encoding: 'utf8' }).stdout ?? '')?.[1] ?? '?'}), written by npm run build:cuda`,
  '# arch\tregisters\tsmem_bytes\tstack_bytes\tspill_stores\tspill_loads\tkernel',
  ...rows.map((k) => [k.arch, k.registers, k.smem, k.stack, k.spillStores, k.spillLoads, demangle(k.kernel)].join('\t')),
];
fs.mkdirSync(path.join(root, 'bench'), { recursive: true });
fs.writeFileSync(path.join(root, 'bench', 'cuda-resource-usage.txt'), lines.join('\n') + '\n');

const spills = rows.filter((k) => (k.spillStores || k.spillLoads) && !ALLOWED_SPILLS[demangle(k.kernel)]);
console.log(`build:cuda: ${rows.length} kernel builds (${[...new Set(rows.map((k) => k.arch))].join(', ')}), ` +
  `max ${Math.max(...rows.map((k) => k.registers))} registers, ${spills.length} unexpected spills; see bench/cuda-resource-usage.txt`);
if (spills.length) {
  for (const k of spills) console.error(`  spill: ${k.arch} ${demangle(k.kernel)}: ${k.spillStores} B stored, ${k.spillLoads} B loaded`);
  process.exit(1);
}
