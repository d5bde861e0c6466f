import { describe, expect, test } from 'vitest';

import { addon, fp8 } from './helpers.js';

const good = () => ({ dtype: 'f32' as const, shape: [2, 3], data: new Float32Array(6).fill(1.5) });

/** Runs `fn` expecting an Fp8kitError with `code` whose message matches `text`. */
function expectError(fn: () => unknown, code: string, text: RegExp) {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected an error').toBeInstanceOf(fp8.Fp8kitError);
  const e = caught as InstanceType<typeof fp8.Fp8kitError>;
  expect(e.code).toBe(code);
  expect(e.message).toMatch(text);
}

describe('bad input becomes an Fp8kitError naming the argument', () => {
  test('wrong typed-array type for the dtype', () => {
    expectError(() => fp8.castToFp8Sync({ dtype: 'f32', shape: [4], data: new Uint16Array(4) as never }), 'ERR_DTYPE', /x\.data must be a Float32Array for dtype 'f32'/);
    expectError(() => fp8.castFromFp8Sync({ dtype: 'e4m3', shape: [4], data: new Int8Array(4) as never }), 'ERR_DTYPE', /q\.data must be a Uint8Array/);
    expectError(() => fp8.castToFp8Sync({ dtype: 'bf16', shape: [4], data: new Float32Array(4) as never }), 'ERR_DTYPE', /x\.data must be a Uint16Array/);
  });

  test('a dtype the operation does not take, and an unknown dtype', () => {
    expectError(() => fp8.castToFp8Sync({ dtype: 'i32', shape: [1], data: new Int32Array(1) } as never), 'ERR_DTYPE', /x\.dtype must be f32 or bf16/);
    expectError(() => fp8.castToFp8Sync({ dtype: 'f64', shape: [1], data: new Float64Array(1) } as never), 'ERR_DTYPE', /x\.dtype is unknown: 'f64'/);
  });

  test('length that does not match the shape', () => {
    expectError(() => fp8.castToFp8Sync({ ...good(), shape: [2, 4] }), 'ERR_SHAPE', /x\.data has 6 elements but x\.shape \[2, 4\] needs 8/);
    expectError(() => fp8.castToFp8Sync({ ...good(), shape: [5] }), 'ERR_SHAPE', /needs 5/);
  });

  test('negative, fractional and non-numeric dimensions', () => {
    expectError(() => fp8.castToFp8Sync({ ...good(), shape: [-2, -3] }), 'ERR_SHAPE', /x\.shape\[0\] must be a non-negative integer; got -2/);
    expectError(() => fp8.castToFp8Sync({ ...good(), shape: [2, 3.5] }), 'ERR_SHAPE', /x\.shape\[1\] must be a non-negative integer; got 3\.5/);
    expectError(() => fp8.castToFp8Sync({ ...good(), shape: [2, '3'] as never }), 'ERR_SHAPE', /x\.shape\[1\] .* got '3'/);
    expectError(() => fp8.castToFp8Sync({ ...good(), shape: [NaN] }), 'ERR_SHAPE', /x\.shape\[0\]/);
    expectError(() => fp8.castToFp8Sync({ ...good(), shape: 6 as never }), 'ERR_SHAPE', /x\.shape must be an array/);
  });

  test('a shape whose element count overflows', () => {
    expectError(() => fp8.castToFp8Sync({ ...good(), shape: [2 ** 30, 2 ** 30, 2 ** 30] }), 'ERR_SHAPE', /element count that overflows/);
    expectError(() => fp8.tensor('f32', [2 ** 27, 2 ** 27]), 'ERR_SHAPE', /overflows/);
  });

  test('a detached ArrayBuffer', () => {
    const x = good();
    structuredClone(x.data.buffer, { transfer: [x.data.buffer] });
    expectError(() => fp8.castToFp8Sync(x), 'ERR_ARGUMENT', /x\.data is backed by a detached ArrayBuffer/);
  });

  test('unknown format, option and backend; wrong option types', () => {
    expectError(() => fp8.castToFp8Sync(good(), { format: 'e3m4' as never }), 'ERR_ARGUMENT', /options\.format must be one of 'e4m3', 'e5m2'; got 'e3m4'/);
    expectError(() => fp8.castToFp8Sync(good(), { saturation: true } as never), 'ERR_ARGUMENT', /unknown option 'saturation'/);
    expectError(() => fp8.castToFp8Sync(good(), { saturate: 1 } as never), 'ERR_ARGUMENT', /options\.saturate must be a boolean; got 1/);
    expectError(() => fp8.castToFp8Sync(good(), { backend: 'tpu' }), 'ERR_ARGUMENT', /options\.backend must be one of/);
    expectError(() => fp8.castToFp8Sync(good(), 'e4m3' as never), 'ERR_ARGUMENT', /options must be an object/);
    expectError(() => fp8.castFromFp8Sync({ dtype: 'e4m3', shape: [1], data: new Uint8Array(1) }, { format: 'e5m2' }), 'ERR_ARGUMENT', /disagrees with q\.dtype/);
    expectError(() => fp8.castFromFp8Sync({ dtype: 'u8', shape: [1], data: new Uint8Array(1) }), 'ERR_ARGUMENT', /options\.format is required/);
    expectError(() => fp8.castFromFp8Sync({ dtype: 'e4m3', shape: [1], data: new Uint8Array(1) }, { out: 'f16' as never }), 'ERR_ARGUMENT', /options\.out/);
  });

  test('not a tensor at all', () => {
    expectError(() => fp8.castToFp8Sync(null as never), 'ERR_ARGUMENT', /x must be a tensor/);
    expectError(() => fp8.castToFp8Sync(new Float32Array(3) as never), 'ERR_ARGUMENT', /x must be a tensor \{dtype, shape, data\}, not a bare array; got a Float32Array of 3 elements\. Wrap it with fp8\.tensor\('f32', \[3\], data\)/);
  });

  test('a Promise form rejects (not throws) with the same error and the caller in its stack', async () => {
    const p = fp8.castToFp8({ ...good(), shape: [7] });
    await expect(p).rejects.toBeInstanceOf(fp8.Fp8kitError);
    await expect(p).rejects.toMatchObject({ code: 'ERR_SHAPE' });
  });

  test('the addon itself refuses what the TypeScript layer would have caught', () => {
    const call = (fn: () => unknown, code: string) => {
      try {
        fn();
      } catch (e) {
        expect((e as { code: string }).code).toBe(code);
        return;
      }
      throw new Error('expected the addon to throw');
    };
    call(() => addon.castToFp8('cpu', new Float32Array(4), 0, 8, new Uint8Array(8), 0, true, false), 'ERR_SHAPE');
    call(() => addon.castToFp8('cpu', new Float32Array(4), 0, 4, new Uint8Array(2), 0, true, false), 'ERR_SHAPE');
    call(() => addon.castToFp8('cpu', new Uint8Array(4), 0, 4, new Uint8Array(4), 0, true, false), 'ERR_DTYPE');
    call(() => addon.castToFp8('cpu', new Float32Array(4), 0, -1, new Uint8Array(4), 0, true, false), 'ERR_ARGUMENT');
    call(() => addon.castToFp8('cpu', new Float32Array(4), 0, 4, new Uint8Array(4), 9, true, false), 'ERR_ARGUMENT');
    call(() => addon.castToFp8('nope', new Float32Array(4), 0, 4, new Uint8Array(4), 0, true, false), 'ERR_ARGUMENT');
    call(() => addon.castToFp8('cpu', 'x', 0, 4, new Uint8Array(4), 0, true, false), 'ERR_DTYPE');
  });
});

test('an impossible allocation is ERR_OUT_OF_MEMORY, not a crash', () => {
  // 2^40 elements is a valid shape but more than any typed array may hold here.
  expectError(() => fp8.tensor('f32', [2 ** 20, 2 ** 20]), 'ERR_OUT_OF_MEMORY', /cannot allocate/);
});
