/**
 * The shipped declarations narrow as a user expects (test/types/usage.ts): `tsc --noEmit` must accept
 * every plain line and find an error on every `@ts-expect-error` line (an unused one is an error too).
 * The planted variant swaps one expectation and must be rejected, so the check itself can fail.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

test("a strict consumer with TypeScript's defaults (no `types` field) compiles against the packed tarball, CommonJS and ESM", () => {
  const dir = mkdtempSync(join(root, 'test', 'types', 'consumer-'));
  try {
    const tgz = execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], { cwd: root, encoding: 'utf8' }).trim().split('\n').pop()!;
    const pkg = join(dir, 'node_modules', 'fp8kit');
    mkdirSync(pkg, { recursive: true });
    execFileSync('tar', ['-xzf', join(dir, tgz), '-C', pkg, '--strip-components=1']);
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', noEmit: true }, include: ['main.ts', 'main.mts'] }));
    writeFileSync(join(dir, 'main.ts'), "import * as fp8 from 'fp8kit';\nconst q = fp8.quantizeSync(fp8.tensor('f32', [2, 128], new Float32Array(256)));\nconst rows: number = q.data.shape[0];\nconsole.log(rows, fp8.readSafetensorsSync);\n");
    writeFileSync(join(dir, 'main.mts'), "import fp8 from 'fp8kit';\nconst n: number = fp8.tensor('f32', [2], new Float32Array(2)).shape[0];\nconsole.log(n);\n");
    const r = check(join(dir, 'tsconfig.json'));
    expect(r.out).toBe('');
    expect(r.ok).toBe(true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);
