/**
 * The AMX tier (native/cpu/gemm/amx.cc) on a CPU that may have no AMX: test/amx/driver.cc compiles it
 * with g++ against an emulation of the tile instructions (test/amx/emulate.h) and AddressSanitizer, and
 * checks it against SPEC §4 'exact' on random operands. This checks its layouts (tile shapes, strides,
 * pair order, padding, promotion); on an AMX machine the gemm tests run the tier itself as well.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

import { seed } from './helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));

test('the AMX tier on emulated tiles matches exact: calcDiff < 1e-10 (f32 out), every case, and both B forms give the same bits', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fp8kit-amx-'));
  try {
    const exe = join(dir, 'amx');
    const sources = ['test/amx/driver.cc', 'native/cpu/gemm/pack.cc', 'native/cpu/gemm/widen_a.cc', 'native/cpu/gemm/widen_b.cc', 'native/cpu/simd.cc', 'native/cpu/parallel.cc', 'native/common/gemm_check.cc', 'native/common/gemm_packed.cc', 'native/common/status.cc'];
    execFileSync('g++', ['-O1', '-std=c++17', '-pthread', '-ffp-contract=off', '-fsanitize=address', '-Inative', ...sources, '-o', exe], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    const out = execFileSync(exe, [String(seed('amx emulation'))], { encoding: 'utf8', env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0' } });
    const lines = out.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('FAIL')), out).toEqual([]);
    // 11 shapes × 2 layouts × 2 B scalings; the B form and the scales' kind rotate through the cases.
    expect(lines.filter((l) => l.startsWith('ok')).length).toBe(44);
    for (const form of ['B bf16 tiles, scales promoted', 'B bf16 tiles, scales folded', 'B widened, scales promoted', 'B widened, scales folded'])
      expect(lines.filter((l) => l.includes(form)).length, form).toBeGreaterThanOrEqual(8);
    expect(lines.at(-1)).toMatch(/^amx: 44 cases, 0 failures, [1-9]\d* tile products$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);
