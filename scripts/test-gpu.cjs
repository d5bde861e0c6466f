// `npm run test:gpu`: `fp8kit check --backend cuda`, then the whole suite with the cuda backend required (every cross-backend test then
// includes it), under compute-sanitizer's memcheck when the toolkit has it. For machines with a GPU.
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const fp8 = require(root);
const cuda = fp8.backends().find((b) => b.name === 'cuda');
if (!cuda || !cuda.available) {
  console.error(`test:gpu: the cuda backend is unavailable: ${cuda ? cuda.reason : 'unknown'}`);
  process.exit(1);
}
console.log(`test:gpu: cuda on ${cuda.device}`);

// First every operation of the cuda backend against ref (fp8kit check), then the suite.
const check = spawnSync(process.execPath, [path.join(root, 'dist', 'cli', 'main.js'), 'check', '--backend', 'cuda'], { cwd: root, stdio: 'inherit' });
if (check.status !== 0) {
  console.error('test:gpu: fp8kit check --backend cuda failed (above); the suite runs all the same');
}

const vitest = [require.resolve('vitest/vitest.mjs'), 'run', ...process.argv.slice(2)];
const homes = [process.env.CUDA_HOME, process.env.CUDA_PATH, '/usr/local/cuda'].filter(Boolean);
const sanitizer = [...(process.env.PATH || '').split(path.delimiter), ...homes.map((h) => path.join(h, 'bin'))]
  .map((d) => path.join(d, 'compute-sanitizer'))
  .find((p) => fs.existsSync(p));
const [cmd, args] = sanitizer
  ? [sanitizer, ['--tool', 'memcheck', '--target-processes', 'all', '--error-exitcode', '86', process.execPath, ...vitest]]
  : [process.execPath, vitest];
if (!sanitizer) console.log('test:gpu: compute-sanitizer not found; running without it');
const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, FP8KIT_REQUIRE_CUDA: '1' } });
process.exit(check.status !== 0 ? 1 : (r.status ?? 1));
