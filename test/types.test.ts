/**
 * The shipped declarations narrow as a user expects (test/types/usage.ts): `tsc --noEmit` must accept
 * every plain line and find an error on every `@ts-expect-error` line (an unused one is an error too).
 * The planted variant swaps one expectation and must be rejected, so the check itself can fail.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = join(root, 'node_modules', '.bin', 'tsc');

function check(project: string): { ok: boolean; out: string } {
  try {
    return { ok: true, out: execFileSync(tsc, ['-p', project], { cwd: root, encoding: 'utf8' }) };
  } catch (e) {
    return { ok: false, out: String((e as { stdout?: string }).stdout ?? e) };
  }
}

test('tsc --noEmit accepts test/types/usage.ts against dist/*.d.ts', () => {
  const r = check('test/types/tsconfig.json');
  expect(r.out).toBe('');
  expect(r.ok).toBe(true);
}, 120_000);

test('a wrong expectation is rejected (the check can fail)', () => {
  const dir = mkdtempSync(join(root, 'test', 'types', 'planted-'));
  try {
    const usage = readFileSync(join(root, 'test', 'types', 'usage.ts'), 'utf8').replaceAll('../../dist/', '../../../dist/');
    const planted = usage.replace("expectType<Equal<typeof d32, Tensor<'f32'>>>();", "expectType<Equal<typeof d32, Tensor<'bf16'>>>();");
    expect(planted).not.toBe(usage);
    writeFileSync(join(dir, 'usage.ts'), planted);
    writeFileSync(join(dir, 'tsconfig.json'), readFileSync(join(root, 'test', 'types', 'tsconfig.json')));
    const r = check(join(dir, 'tsconfig.json'));
    expect(r.ok).toBe(false);
    expect(r.out).toMatch(/usage\.ts\(\d+,\d+\): error TS2344/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);
