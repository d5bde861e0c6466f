/**
 * SPEC §1 pinned to NVIDIA: test/oracle/oracle.cc compiled with g++ against cuda_fp8.h (its host
 * code path needs no GPU) checks every built-in backend, the cpu backend at every SIMD level this
 * CPU has, over all 2^32 f32 inputs, all 2^16 bf16 inputs and all 256 codes of each format
 * (device backends such as cuda-emu: a sample of f32 inputs; see oracle.cc).
 * Where the CUDA headers are absent the test shows as skipped, never as passed.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The CUDA include folder holding cuda_fp8.h: CUDA_HOME, CUDA_PATH, /usr/local/cuda, or next to nvcc on PATH. */
function cudaInclude(): string | undefined {
  const homes = [process.env.CUDA_HOME, process.env.CUDA_PATH, '/usr/local/cuda'];
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, 'nvcc'))) homes.push(dirname(dir));
  }
  for (const home of homes) {
    if (home && existsSync(join(home, 'include', 'cuda_fp8.h'))) return join(home, 'include');
  }
  return undefined;
}

function hasGxx(): boolean {
  try {
    execFileSync('g++', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The SIMD levels the oracle must report for the cpu backend, from the CPU's flags. */
function cpuTargets(): string[] {
  const targets = ['cpu/scalar'];
  let flags = new Set<string>();
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags'));
    flags = new Set((line ?? '').split(':')[1]?.trim().split(/\s+/) ?? []);
  } catch {
    // not Linux: only the scalar level is certain
  }
  if (flags.has('avx2')) targets.push('cpu/avx2');
  if (['avx512f', 'avx512bw', 'avx512vl'].every((f) => flags.has(f))) {
    targets.push('cpu/avx512');
    if (flags.has('avx512vbmi')) targets.push('cpu/avx512vbmi');  // the casts' top level (fp8k_cpu_vector_level)
  }
  return targets;
}

const include = cudaInclude();
const gxx = hasGxx();
const name = !include
  ? 'oracle vs cuda_fp8.h (skipped: cuda_fp8.h not found)'
  : !gxx
    ? 'oracle vs cuda_fp8.h (skipped: g++ not found)'
    : 'oracle: every backend and SIMD level equals cuda_fp8.h on all 2^32 f32 inputs';

test.skipIf(!include || !gxx)(
  name,
  () => {
    const sources = [
      'test/oracle/oracle.cc',
      // common code and the folders of the backends fp8k_builtin_backends() lists (as scripts/sources.cjs does)
      ...['native/common', 'native/ref', 'native/cpu', 'native/cpu/gemm', 'native/emu'].filter((d) => existsSync(join(root, d))).flatMap((d) =>
        readdirSync(join(root, d))
          .filter((f) => f.endsWith('.cc'))
          .sort()
          .map((f) => `${d}/${f}`),
      ),
      'native/builtin_backends.cc',
    ];
    const dir = mkdtempSync(join(tmpdir(), 'fp8kit-oracle-'));
    try {
      const exe = join(dir, 'oracle');
      // -ffp-contract=off: the emulated CUDA kernels are built so (DESIGN.md), harmless for the rest.
      execFileSync('g++', ['-O2', '-std=c++17', '-pthread', '-ffp-contract=off', `-I${include}`, ...sources, '-o', exe], {
        cwd: root,
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      let out: string;
      try {
        out = execFileSync(exe, { encoding: 'utf8', maxBuffer: 64 << 20 });
      } catch (e) {
        // exit code 1: mismatches; show what the oracle printed
        const err = e as { stdout?: string; status?: number };
        throw new Error(`oracle exited with ${err.status}:\n${err.stdout ?? ''}`);
      }
      console.log(out);
      const lines = out.split('\n');
      const checks = [
        ...['e4m3', 'e5m2'].flatMap((f) => [`f32->${f} sat`, `f32->${f} nosat`, `bf16->${f} sat`, `bf16->${f} nosat`]),
        'f32->bf16', 'bf16->f32', 'e4m3->f32', 'e5m2->f32', 'e4m3->bf16', 'e5m2->bf16',
      ];
      const inputs = (check: string) =>
        check.startsWith('f32->') ? 2 ** 32 : check.startsWith('bf16->') ? 2 ** 16 : 256;
      for (const target of ['ref', ...cpuTargets()]) {
        for (const check of checks) {
          const want = `${target} ${check}: ${inputs(check)} inputs, 0 mismatches`;
          expect(lines, `missing line "${want}"`).toContain(want);
        }
      }
      expect(lines.some((l) => /^oracle: 0 mismatches/.test(l)), 'final line "oracle: 0 mismatches"').toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
  900_000,
);
