// The CUDA-on-CPU emulator (native/emu) and the inline-PTX wrappers
// (native/cuda/ptx): test kernels in test/emu/*.cuh are compiled with g++ into a
// driver that runs them and compares with plain C++, in both thread orders;
// planted faults must be reported with their source line; an out-of-bounds
// write must be caught by AddressSanitizer; a shared-memory race by the
// racecheck build (native/emu/racecheck.cc); and the same kernels must compile
// with nvcc for sm_89 and sm_90a (skipped when nvcc is absent).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
// The emulator's runtime (native/emu/backend.cc, the fp8kit backend built on it, belongs to the addon).
const emuSources = ['fiber.cc', 'scheduler.cc', 'warp.cc', 'cp_async.cc', 'limits.cc', 'profile.cc'].map((f) => join('native/emu', f));
const seed = process.env.FP8KIT_SEED ?? String(Math.floor(Math.random() * 2 ** 31));
console.log(`emu tests: seed ${seed} (set FP8KIT_SEED to repeat)`);

const dir = mkdtempSync(join(tmpdir(), 'fp8kit-emu-'));
const driver = join(dir, 'driver');
const driverAsan = join(dir, 'driver-asan');
const cxxflags = ['-std=c++17', '-g', '-ffp-contract=off', '-Wall', '-Wextra', `-I${root}`];

function build(out: string, extra: string[]): void {
  execFileSync('g++', [...cxxflags, ...extra, 'test/emu/driver.cc', ...emuSources, '-o', out], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

type Run = { rc: number | null; out: string; err: string };
function run(bin: string, name: string, order: string, env: Record<string, string> = {}): Run {
  const r = spawnSync(bin, ['run', name, seed], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, FP8KIT_EMU_ORDER: order, ...env },
    timeout: 60_000,
  });
  return { rc: r.status, out: r.stdout, err: r.stderr };
}

// Line of the `FAULT: <tag>` marker in a test kernel file.
function markerLine(file: string, tag: string): string {
  const lines = readFileSync(join(root, 'test/emu', file), 'utf8').split('\n');
  const i = lines.findIndex((l) => l.includes(`// FAULT: ${tag}`));
  expect(i, `marker ${tag}`).toBeGreaterThanOrEqual(0);
  return `test/emu/${file}:${i + 1}`;
}

beforeAll(() => build(driver, ['-O1']));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const correct = [
  'block_sum', 'warp_max', 'vote', 'scan', 'atomics', 'dynamic_smem', 'transpose',
  'mma_e4m3', 'mma_e5m2', 'mma_e4m3_e5m2', 'mma_e5m2_e4m3',
  'ldmatrix_x1', 'ldmatrix_x2', 'ldmatrix_x4', 'ldmatrix_x1_trans', 'ldmatrix_x2_trans', 'ldmatrix_x4_trans',
  'cp_async', 'cp_async_double_buffer', 'cp_async_publish', 'cvt', 'concurrent', 'warp_exchange',
];
// cp.async landings: FP8KIT_EMU_CP_ASYNC=early (the default, so every test above) lands each pending copy
// at a seeded random sync point of its thread up to its wait; =wait lands it at the wait (the old emulator).
const cpSeeds = ['0', '1', '2', '3', '4', '5', '6', '7'];

for (const order of ['forward', 'reverse']) {
  describe(`cuda-emu, ${order} thread order`, () => {
    for (const name of correct) {
      test(`${name} matches plain C++`, () => {
        const r = run(driver, name, order);
        expect(r.out.trim(), r.err).toBe('OK');
        expect(r.rc).toBe(0);
      });
    }

    // FP8KIT_EMU_MMA: the emulated mma.sync accumulates exactly (default) or as SPEC §4 'limited'.
    test('mma.sync on random e4m3 fragments, exact and limited accumulation, lane for lane', () => {
      const modes: Record<string, string>[] = [{}, { FP8KIT_EMU_MMA: 'exact' }, { FP8KIT_EMU_MMA: 'limited' },
        { FP8KIT_EMU_MMA: 'limited', FP8KIT_EMU_MMA_BITS: '14' }, { FP8KIT_EMU_MMA: 'limited', FP8KIT_EMU_MMA_BITS: '8' }];
      for (const env of modes) {
        const r = run(driver, 'mma_random', order, env);
        expect(r.out.trim().split('\n').at(-1), `${JSON.stringify(env)}: ${r.out}${r.err}`).toBe('OK');
        expect(r.rc).toBe(0);
      }
    });

    test('FP8KIT_EMU_MMA / FP8KIT_EMU_MMA_BITS out of range are faults', () => {
      for (const [env, why] of [[{ FP8KIT_EMU_MMA: 'fast' }, 'FP8KIT_EMU_MMA=fast (expected exact or limited)'],
        [{ FP8KIT_EMU_MMA: 'limited', FP8KIT_EMU_MMA_BITS: '31' }, 'FP8KIT_EMU_MMA_BITS=31 (expected an integer from 1 to 30)']] as const) {
        const r = run(driver, 'mma_random', order, env);
        expect(r.rc, r.out + r.err).toBe(3);
        expect(r.out).toContain(`mma.sync.m16n8k32: ${why}`);
      }
    });

    // Issue 11's planted fault: K = 4096, all-positive inputs, unit scales, against ref 'promoted' (bound 1e-3).
    test('a GEMM that never promotes passes the exact MMA and fails the limited one', () => {
      const err = (out: string) => Number(/max\|ref promoted\| = (\S+)/.exec(out)?.[1]);
      const measured: string[] = [];
      for (const mode of ['exact', 'limited']) {
        const env = { FP8KIT_EMU_MMA: mode };
        const good = run(driver, 'mma_promote_128', order, env), bad = run(driver, 'mma_never_promote', order, env);
        measured.push(`${mode}: promotes every 128 ${err(good.out)}, never promotes ${err(bad.out)}`);
        expect(good.out.trim().split('\n').at(-1), good.out + good.err).toBe('OK');
        expect(err(good.out)).toBeLessThan(1e-3);
        if (mode === 'exact') {
          expect(bad.out.trim().split('\n').at(-1), bad.out + bad.err).toBe('OK'); // why the old emulator missed it
          expect(err(bad.out)).toBeLessThan(1e-3);
        } else {
          expect(good.out).toContain("bit for bit ref 'limited' with promotionInterval 128");
          expect(bad.out).toContain("bit for bit ref 'limited' with no promotion interval");
          expect(bad.rc, bad.out + bad.err).toBe(1);
          expect(bad.out).toMatch(/MISMATCH: kernel never promotes: relative error \S+ against ref promoted, above 1e-3/);
          expect(err(bad.out)).toBeGreaterThan(1e-2);
        }
      }
      console.log(`planted fault (${order}), max|D - ref promoted| / max|ref promoted| at K = 4096:\n  ${measured.join('\n  ')}`);
    });

    test('FP8KIT_EMU_PROFILE counts bank-conflict wavefronts and sectors per request (planted: no swizzle, strided source)', () => {
      type Space = { requests: number; bytes: number; sectors: number; wavefronts: number; idealWavefronts: number };
      const profile = (name: string) => {
        const file = join(dir, `profile-${name}-${order}.jsonl`);
        const r = run(driver, name, order, { FP8KIT_EMU_PROFILE: file });
        expect(r.out.trim(), r.out + r.err).toBe('OK');
        const rows = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
        expect(rows).toHaveLength(1);
        return rows[0] as { blocks: number; barriers: number; globalLoads: Space; sharedLoads: Space; sharedStores: Space };
      };
      const good = profile('profile_swizzled'), flat = profile('profile_unswizzled'), strided = profile('profile_strided');
      for (const p of [good, flat, strided]) {
        expect(p.blocks).toBe(1);
        expect(p.barriers).toBe(1);
        expect(p.globalLoads.requests).toBe(8);  // 8 cp.async per lane, 16 bytes each
        expect(p.globalLoads.bytes).toBe(8 * 32 * 16);
        expect(p.sharedStores.idealWavefronts).toBe(8 * 4);  // 16-byte accesses: 4 phases of 8 lanes
        expect(p.sharedLoads.requests).toBe(1);  // one ldmatrix.x4: 4 phases
        expect(p.sharedLoads.idealWavefronts).toBe(4);
      }
      expect(good.globalLoads.sectors).toBe(8 * 16);  // 512 contiguous bytes: 16 sectors
      expect(strided.globalLoads.sectors).toBe(8 * 32);
      expect(good.sharedLoads.wavefronts).toBe(4);  // conflict-free
      expect(flat.sharedLoads.wavefronts).toBe(4 * 8);  // 8 rows in the same banks: 8-way
      expect(good.sharedStores.wavefronts).toBe(32);  // a phase writes one row's 8 chunks, swizzled or not
      expect(flat.sharedStores.wavefronts).toBe(32);
    });

    test('a missing __syncthreads reads the 0xFF poison (NaN)', () => {
      const r = run(driver, 'missing_sync', order);
      expect(r.rc).toBe(1);
      expect(r.out).toMatch(/MISMATCH: y\[\d+\]: got -?nan/);
    });

    test('a forgotten cp.async wait reads the 0xFF poison', () => {
      // Landing at the wait, a read before the wait sees the poison always (the old emulator caught this
      // bug on every run); landing early, only where a copy the read needs was drawn to stay pending.
      const r = run(driver, 'cp_async_missing_wait', order, { FP8KIT_EMU_CP_ASYNC: 'wait' });
      expect(r.rc).toBe(1);
      expect(r.out).toContain('got 4.2949673e+09'); // 0xFFFFFFFF
      for (const s of cpSeeds) {
        const e = run(driver, 'cp_async_missing_wait', order, { FP8KIT_EMU_SEED: s });
        expect(e.rc, `seed ${s}: ${e.out}`).toBe(1); // 32 copies, each pending with probability 1/8 at the read
      }
    });

    test('cp.async kernels are right under every landing schedule tried', () => {
      for (const name of ['cp_async', 'cp_async_double_buffer', 'cp_async_publish']) {
        const w = run(driver, name, order, { FP8KIT_EMU_CP_ASYNC: 'wait' });
        expect(w.out.trim(), `${name} wait: ${w.err}`).toBe('OK');
        for (const s of cpSeeds) {
          const e = run(driver, name, order, { FP8KIT_EMU_CP_ASYNC: 'early', FP8KIT_EMU_SEED: s });
          expect(e.out.trim(), `${name} seed ${s}: ${e.err}`).toBe('OK');
        }
      }
    });

    // Issue 11's planted cp.async faults: a copy landing only at its wait hides both (they pass under
    // =wait); landing early, every seed tried shows a wrong value.
    for (const [name, what] of [
      ['cp_async_double_buffer_nosync', 'a stage buffer reused without the __syncthreads after its reads'],
      ['cp_async_publish_nosync', 'a cp.async issued before the __syncthreads that publishes its global source'],
    ]) {
      test(`planted: ${what}`, () => {
        const w = run(driver, name, order, { FP8KIT_EMU_CP_ASYNC: 'wait' });
        expect(w.out.trim(), w.err).toBe('OK');
        for (const s of cpSeeds) {
          const e = run(driver, name, order, { FP8KIT_EMU_CP_ASYNC: 'early', FP8KIT_EMU_SEED: s });
          expect(e.rc, `seed ${s}: ${e.out}`).toBe(1);
          expect(e.out).toMatch(/^MISMATCH: cp\.async (double buffer|publish)\[\d+\]/);
        }
      });
    }

    test('FP8KIT_EMU_CP_ASYNC / FP8KIT_EMU_SEED out of range are faults', () => {
      const a = run(driver, 'cp_async', order, { FP8KIT_EMU_CP_ASYNC: 'sometimes' });
      expect(a.rc).toBe(3);
      expect(a.out).toContain('FP8KIT_EMU_CP_ASYNC=sometimes: must be early or wait');
      const b = run(driver, 'cp_async', order, { FP8KIT_EMU_SEED: '-x' });
      expect(b.rc).toBe(3);
      expect(b.out).toContain('FP8KIT_EMU_SEED=-x: must be a decimal integer');
    });

    test('a shuffle whose mask leaves out a participating lane', () => {
      const r = run(driver, 'shfl_mask', order);
      expect(r.rc, r.out + r.err).toBe(3);
      expect(r.out).toContain(markerLine('fault_kernels.cuh', 'shfl-mask'));
      // Which lane notices first depends on the order; both are clear.
      expect(r.out).toMatch(/is not in its own mask 0x0000ffff|reads lane \d+, which is not in the mask/);
    });

    test('a barrier reached by only part of the block', () => {
      const r = run(driver, 'partial_barrier', order);
      expect(r.rc).toBe(3);
      expect(r.out).toContain(`${markerLine('fault_kernels.cuh', 'partial-barrier')}: __syncthreads reached by only 96 of 128`);
      expect(r.out).toContain('threads 96..127: exited');
    });

    test('threads waiting at different __syncthreads', () => {
      const r = run(driver, 'divergent_barrier', order);
      expect(r.rc).toBe(3);
      expect(r.out).toContain('threads wait at different __syncthreads');
      expect(r.out).toContain(`threads 0..63: __syncthreads at ${markerLine('fault_kernels.cuh', 'divergent-barrier-a')}`);
      expect(r.out).toContain(`threads 64..127: __syncthreads at ${markerLine('fault_kernels.cuh', 'divergent-barrier-b')}`);
    });

    test('a deadlock names where every thread is stuck', () => {
      const r = run(driver, 'deadlock', order);
      expect(r.rc).toBe(3);
      expect(r.out).toContain('deadlock');
      expect(r.out).toContain(`__syncwarp(mask 0xffffffff) at ${markerLine('fault_kernels.cuh', 'deadlock-warp')}`);
      expect(r.out).toContain(`__syncthreads at ${markerLine('fault_kernels.cuh', 'deadlock-bar')}`);
    });

    test('an invalid launch configuration', () => {
      const r = run(driver, 'bad_config', order);
      expect(r.rc).toBe(3);
      expect(r.out).toContain('invalid configuration: block (2048,1,1)');
    });

    // Planted faults of alignment and launch limits: what a GPU refuses, the emulator refuses, with the reason.
    test('a misaligned 16-byte load16 / store16 faults with the source line', () => {
      for (const [name, tag, what] of [['misaligned_load16', 'misaligned-load16', 'load16'], ['misaligned_store16', 'misaligned-store16', 'store16']]) {
        const r = run(driver, name, order);
        expect(r.rc, r.out + r.err).toBe(3);
        expect(r.out).toMatch(new RegExp(`${markerLine('fault_kernels.cuh', tag)}: ${what}: address 0x[0-9a-f]+ is not 16-byte aligned`));
      }
    });

    test('launch limits: threads per block, dynamic shared memory and its opt-in, per arch', () => {
      const limits: [string, string, string | null][] = [
        ['threads_1024', 'sm_90', null],
        ['threads_1025', 'sm_90', 'block (1025,1,1): 1025 threads per block, at most 1024'],
        ['smem_48k', 'sm_90', null],
        ['smem_64k_no_optin', 'sm_90', '65536 bytes of dynamic shared memory without the opt-in: above 48 KiB'],
        ['smem_64k_no_optin', 'sm_89', '65536 bytes of dynamic shared memory without the opt-in: above 48 KiB'],
        ['smem_64k_optin', 'sm_89', null],
        ['smem_100k_optin', 'sm_90', null],
        ['smem_100k_optin', 'sm_89', '0 bytes of static + 102400 of dynamic shared memory: above the sm_89 limit of 99 KiB per block'],
        ['smem_228k_optin', 'sm_90', '0 bytes of static + 233472 of dynamic shared memory: above the sm_90 limit of 227 KiB per block'],
      ];
      for (const [name, arch, why] of limits) {
        const r = run(driver, name, order, { FP8KIT_EMU_ARCH: arch });
        if (why === null) {
          expect(r.out.trim(), `${name} on ${arch}: ${r.err}`).toBe('OK');
        } else {
          expect(r.rc, `${name} on ${arch}: ${r.out}${r.err}`).toBe(3);
          expect(r.out).toContain(`launch of big_smem_kernel: invalid configuration: ${why}`);
        }
      }
    });

    test('launch limits from the resource table: registers x threads, static + dynamic shared memory', () => {
      // A table as npm run build:cuda writes it, listing a test kernel (the plugin's kernels are in bench/).
      const table = join(dir, 'resources.txt');
      writeFileSync(table, '# arch\tregisters\tsmem_bytes\tstack_bytes\tspill_stores\tspill_loads\tkernel\n' +
        'sm_90a\t128\t0\t0\t0\t0\tbig_smem_kernel(float*, int)\nsm_89\t32\t81920\t0\t0\t0\tbig_smem_kernel(float*, int)\n');
      let r = run(driver, 'threads_1024', order, { FP8KIT_EMU_RESOURCES: table, FP8KIT_EMU_ARCH: 'sm_90' });
      expect(r.rc, r.out + r.err).toBe(3);
      expect(r.out).toContain('128 registers per thread (ptxas, sm_90a) x 1024 threads need 131072 registers, above the 65536 of an SM');
      r = run(driver, 'smem_32k_128_threads', order, { FP8KIT_EMU_RESOURCES: table, FP8KIT_EMU_ARCH: 'sm_90' });
      expect(r.out.trim(), r.err).toBe('OK'); // 128 x 128 registers fit
      r = run(driver, 'smem_32k_128_threads', order, { FP8KIT_EMU_RESOURCES: table, FP8KIT_EMU_ARCH: 'sm_89' });
      expect(r.rc, r.out + r.err).toBe(3);
      expect(r.out).toContain('81920 bytes of static (ptxas, sm_89) + 32768 of dynamic shared memory: above the sm_89 limit of 99 KiB');
    });
  });
}

test('AddressSanitizer build catches an out-of-bounds kernel write with file:line', () => {
  build(driverAsan, ['-O1', '-fsanitize=address', '-fno-omit-frame-pointer']);
  for (const name of ['block_sum', 'deadlock', 'mma_e4m3', 'cp_async']) {
    const r = run(driverAsan, name, 'forward'); // fibers and fault unwinding are clean under ASan
    expect(r.err).not.toContain('AddressSanitizer');
  }
  const r = run(driverAsan, 'oob', 'forward');
  expect(r.rc).not.toBe(0);
  expect(r.err).toContain('heap-buffer-overflow');
  expect(r.err).toContain(`in oob_kernel(float*, int) ${markerLine('fault_kernels.cuh', 'oob')}`);
});

test('speeds of the emulator (printed)', () => {
  const out = execFileSync(driver, ['bench'], { cwd: root, encoding: 'utf8' });
  console.log(out);
  expect(out).toMatch(/blocks\/s/);
});

// The racecheck build: kernel TUs instrumented by -fsanitize=thread, linked
// without libtsan against racecheck.cc's __tsan_* hooks; the emulator's own
// files stay uninstrumented. -gdwarf-4: addr2line 2.40 misnames g++ 12's DWARF 5 files.
const driverRc = join(dir, 'driver-rc');
const racecheckFlags = ['-O1', '-gdwarf-4', '-fsanitize=thread'];
function buildRacecheck(): void {
  const opts = { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] as const };
  execFileSync('g++', [...cxxflags, ...racecheckFlags, '-c', 'test/emu/driver.cc', '-o', `${driverRc}.o`], opts);
  execFileSync('g++', [...cxxflags, '-O1', `${driverRc}.o`, ...emuSources, 'native/emu/racecheck.cc', '-o', driverRc], opts);
}

describe('racecheck build', () => {
  beforeAll(buildRacecheck, 120_000);

  for (const order of ['forward', 'reverse']) {
    test(`no report on the correct kernels, ${order} order`, () => {
      for (const name of correct) {
        const r = run(driverRc, name, order);
        expect(r.out.trim(), `${name}: ${r.out}${r.err}`).toBe('OK');
      }
    }, 120_000);

    // Forward order sees the write after the neighbour's read, reverse the read after the write.
    test(`a missing __syncthreads is a race with both lines, ${order} order`, () => {
      const r = run(driverRc, 'missing_sync', order);
      expect(r.rc, r.out + r.err).toBe(3);
      const read = markerLine('fault_kernels.cuh', 'missing-sync'), write = markerLine('fault_kernels.cuh', 'racing-write');
      expect(r.out).toMatch(/racecheck: thread \d+ (reads|writes) shared memory (written|read) by thread \d+ since the last __syncthreads/);
      expect(r.out).toContain(`write at ${write}`);
      expect(r.out).toContain(`read at ${read}`);
      expect(r.out).toContain('in kernel missing_sync_kernel');
    });

    test(`two threads writing one word before the barrier, ${order} order`, () => {
      const r = run(driverRc, 'write_write', order);
      expect(r.rc, r.out + r.err).toBe(3);
      const line = markerLine('fault_kernels.cuh', 'write-write');
      expect(r.out).toMatch(/racecheck: thread \d+ writes shared memory written by thread \d+/);
      expect(r.out).toContain(`(write at ${line}, write at ${line})`);
    });

    // The planted reuse of a stage buffer: its early cp.async write races with the other threads' reads
    // (landing at the wait, after the next barrier, it does not: racecheck was blind to it too).
    test(`a cp.async refilling a stage buffer before the barrier, ${order} order`, () => {
      const w = run(driverRc, 'cp_async_double_buffer_nosync', order, { FP8KIT_EMU_CP_ASYNC: 'wait' });
      expect(w.out.trim(), w.err).toBe('OK');
      for (const s of cpSeeds) {
        const r = run(driverRc, 'cp_async_double_buffer_nosync', order, { FP8KIT_EMU_CP_ASYNC: 'early', FP8KIT_EMU_SEED: s });
        expect(r.rc, `seed ${s}: ${r.out}${r.err}`).toBe(3);
        expect(r.out).toMatch(/racecheck: thread \d+ (writes shared memory read|reads shared memory written) by thread \d+/);
        expect(r.out).toContain(`cp.async write at ${markerLine('fault_kernels.cuh', 'reuse-before-sync')}`);
        const a = markerLine('fault_kernels.cuh', 'stage-read-a'), b = markerLine('fault_kernels.cuh', 'stage-read-b');
        expect(r.out.includes(`read at ${a}`) || r.out.includes(`read at ${b}`), r.out).toBe(true);
      }
    });

    test(`lanes exchanging through shared memory without __syncwarp, ${order} order`, () => {
      const r = run(driverRc, 'missing_syncwarp', order);
      expect(r.rc, r.out + r.err).toBe(3);
      expect(r.out).toContain(`at ${markerLine('fault_kernels.cuh', 'missing-syncwarp')}`);
      expect(r.out).toContain('since the last __syncthreads or __syncwarp');
    });
  }

  test('slowdown of racecheck (printed)', () => {
    // Best of three runs of each build: the emulator's speed is noisy on shared machines.
    const best = (bin: string) => {
      const rates = new Map<string, number>();
      for (let i = 0; i < 3; ++i)
        for (const m of execFileSync(bin, ['bench'], { cwd: root, encoding: 'utf8' }).matchAll(/^(.*): (\d+) blocks\/s/gm))
          rates.set(m[1], Math.max(rates.get(m[1]) ?? 0, Number(m[2])));
      return rates;
    };
    const plain = best(driver), rc = best(driverRc);
    expect(plain.size).toBeGreaterThan(0);
    for (const [k, v] of plain) console.log(`${k}: ${v} blocks/s, racecheck ${rc.get(k)} blocks/s (${(v / rc.get(k)!).toFixed(2)}x slower)`);
  }, 120_000);
});

const hasNvcc = spawnSync('nvcc', ['--version']).status === 0;
if (!hasNvcc) console.log('nvcc not found: the sm_89/sm_90a compile check is skipped');
test.skipIf(!hasNvcc)('test kernels and PTX wrappers compile with nvcc for sm_89 and sm_90a', () => {
  const r = spawnSync(
    'nvcc',
    ['-std=c++17', '-fmad=false', '-gencode', 'arch=compute_89,code=sm_89', '-gencode', 'arch=compute_90a,code=sm_90a',
      '--resource-usage', '-Werror', 'all-warnings', '-c', 'test/emu/nvcc_check.cu', '-o', join(dir, 'nvcc_check.o')],
    { cwd: root, encoding: 'utf8', timeout: 300_000 },
  );
  expect(r.status, r.stderr).toBe(0);
  const log = r.stdout + r.stderr;
  for (const arch of ['sm_89', 'sm_90a']) expect(log).toContain(`_Z15mma_gemm_kernelILi0ELi0EEvPKhS1_PKfPfiii' for '${arch}'`);
  expect(log).not.toMatch(/[1-9]\d* bytes spill stores/);
}, 300_000);
