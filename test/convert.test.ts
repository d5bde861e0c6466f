import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';

import { blockQuantizeSync } from '../dist/checkpoint/blocks.js';
import { bf16ToFp8, bf16ToFp8Sync, fp8ToBf16, fp8ToBf16Sync } from '../dist/checkpoint/convert.js';
import { runConvert } from '../dist/cli/convert.js';
import { readSafetensorsSync, writeSafetensorsSync } from '../dist/safetensors.js';
import { fp8, rng, seed, uniform } from './helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = path.join(root, 'dist');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fp8kit-convert-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const at = (...p: string[]) => path.join(tmp, ...p);

type T = { dtype: string; shape: number[]; data: ArrayBufferView & ArrayLike<number> };
const INDEX = 'model.safetensors.index.json';
const SHARDS = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
const FP8_WEIGHTS = ['model.layers.0.self_attn.q_proj.weight', 'model.layers.0.mlp.experts.0.down_proj.weight', 'model.layers.0.mlp.experts.0.up_proj.weight'];
const E4M3_MAX = 448;
const EPS = Math.fround(1e-4);

const bf16 = (f: Float32Array) => fp8.castToBf16Sync({ dtype: 'f32', shape: [f.length], data: f }).data as Uint16Array;
const f32of = (h: Uint16Array) => new Float32Array(Uint32Array.from(h, (v) => v << 16).buffer);
const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/**
 * Weights spanning many binades row by row (so some blocks quantize to e4m3 subnormals), with an
 * all-zero 128×128 block (the eps path) and a block of values below eps.
 */
function weight(shape: [number, number], s: number): T {
  const [M, K] = shape;
  const u = uniform(rng(s));
  const f = new Float32Array(M * K);
  for (let r = 0; r < M; r++) {
    const mag = 2 ** (u() * 24 - 16);
    for (let c = 0; c < K; c++) {
      const g = Math.sqrt(-2 * Math.log(u() + 1e-12)) * Math.cos(2 * Math.PI * u());
      // every ~37th element huge within its row: most of the block lands in e4m3 subnormals
      f[r * K + c] = mag * g * (c % 37 === 5 ? 2 ** 12 : 1);
    }
  }
  if (M >= 128 && K >= 256) {
    for (let r = 0; r < 128; r++) for (let c = 128; c < 256; c++) f[r * K + c] = 0;
    if (M > 256) for (let r = 256; r < Math.min(M, 384); r++) for (let c = 0; c < 128; c++) f[r * K + c] = (u() - 0.5) * 1e-5;
  }
  // bf16 values in [0.9·eps, eps) are doubled (exactly): see 'the eps exception' below.
  const h = bf16(f), v = f32of(h);
  for (let i = 0; i < h.length; i++) if (Math.abs(v[i]) >= 0.9 * EPS && Math.abs(v[i]) < EPS) h[i] += 0x80;
  return { dtype: 'bf16', shape, data: h };
}

function vector(n: number, s: number): T {
  const u = uniform(rng(s));
  return { dtype: 'bf16', shape: [n], data: bf16(Float32Array.from({ length: n }, () => 1 + u() / 8)) };
}

/** A two-shard DeepSeek-V3-style BF16 checkpoint with weights of awkward shapes. */
function makeBf16Checkpoint(dir: string, s: number): Record<string, T> {
  fs.mkdirSync(dir, { recursive: true });
  const shard1: Record<string, T> = {
    'model.embed_tokens.weight': weight([50, 64], s + 1),
    'model.layers.0.input_layernorm.weight': vector(200, s + 2),
    'model.layers.0.self_attn.q_proj.weight': weight([300, 200], s + 3),
    'model.layers.0.mlp.gate.weight': weight([8, 200], s + 4),
    'model.layers.0.mlp.gate.e_score_correction_bias': { dtype: 'f32', shape: [8], data: Float32Array.from({ length: 8 }, (_, i) => i / 8) },
  };
  const shard2: Record<string, T> = {
    'model.layers.0.mlp.experts.0.down_proj.weight': weight([128, 256], s + 5),
    'model.layers.0.mlp.experts.0.up_proj.weight': weight([129, 1], s + 6),
    'model.norm.weight': vector(64, s + 7),
    'lm_head.weight': weight([50, 64], s + 8),
  };
  writeSafetensorsSync(path.join(dir, SHARDS[0]), shard1 as never, { format: 'pt' });
  writeSafetensorsSync(path.join(dir, SHARDS[1]), shard2 as never, { format: 'pt' });
  const weight_map: Record<string, string> = {};
  for (const n of Object.keys(shard1)) weight_map[n] = SHARDS[0];
  for (const n of Object.keys(shard2)) weight_map[n] = SHARDS[1];
  fs.writeFileSync(path.join(dir, INDEX), JSON.stringify({ metadata: { total_size: 0 }, weight_map }));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ model_type: 'deepseek_v3', hidden_size: 64 }));
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), '{"tok": true}');
  return { ...shard1, ...shard2 };
}

/** All tensors of a checkpoint directory, through the index. */
function load(dir: string): { tensors: Map<string, T>; index: { metadata: Record<string, unknown>; weight_map: Record<string, string> } } {
  const index = JSON.parse(fs.readFileSync(path.join(dir, INDEX), 'utf8'));
  const tensors = new Map<string, T>();
  for (const f of new Set(Object.values(index.weight_map) as string[]))
    for (const [n, t] of readSafetensorsSync(path.join(dir, f)).tensors) {
      expect(index.weight_map[n], `${n} indexed in ${f}`).toBe(f);
      tensors.set(n, t as never);
    }
  expect([...tensors.keys()].sort()).toEqual(Object.keys(index.weight_map).sort());
  return { tensors, index };
}

/** SPEC §2 for one 128×128-blocked weight, written out independently of lib/checkpoint/blocks.ts. */
function reference(w: T): { q: Uint8Array; scales: Float32Array } {
  const [M, K] = w.shape;
  const x = f32of(w.data as Uint16Array);
  const nb = Math.ceil(K / 128);
  const scales = new Float32Array(Math.ceil(M / 128) * nb);
  for (let br = 0; br < Math.ceil(M / 128); br++)
    for (let bc = 0; bc < nb; bc++) {
      let amax = 0;
      for (let r = br * 128; r < Math.min(M, br * 128 + 128); r++)
        for (let c = bc * 128; c < Math.min(K, bc * 128 + 128); c++) amax = Math.max(amax, Math.abs(x[r * K + c]));
      scales[br * nb + bc] = Math.fround(Math.max(amax, EPS) / E4M3_MAX);
    }
  const prod = new Float32Array(M * K);
  for (let r = 0; r < M; r++)
    for (let c = 0; c < K; c++) prod[r * K + c] = x[r * K + c] * Math.fround(1 / scales[Math.floor(r / 128) * nb + Math.floor(c / 128)]);
  return { q: fp8.castToFp8Sync({ dtype: 'f32', shape: [M * K], data: prod }, { format: 'e4m3' }).data as Uint8Array, scales };
}

function expectSameFiles(a: string, b: string) {
  for (const f of fs.readdirSync(a)) expect(fs.readFileSync(path.join(b, f)).equals(fs.readFileSync(path.join(a, f))), `${f} identical`).toBe(true);
  expect(fs.readdirSync(b).sort()).toEqual(fs.readdirSync(a).sort());
}

let original: Record<string, T>;
beforeAll(() => {
  original = makeBf16Checkpoint(at('bf16'), seed('checkpoint'));
  bf16ToFp8Sync(at('bf16'), at('fp8'));
  fp8ToBf16Sync(at('fp8'), at('back'));
});

describe('BF16 → FP8', () => {
  test('quantizes the DeepSeek-V3 set of weights by SPEC §2 and copies the rest', () => {
    const { tensors, index } = load(at('fp8'));
    expect(Object.keys(index.weight_map).sort()).toEqual([...Object.keys(original), ...FP8_WEIGHTS.map((n) => `${n}_scale_inv`)].sort());
    for (const [name, t] of Object.entries(original)) {
      const got = tensors.get(name)!;
      if (!FP8_WEIGHTS.includes(name)) {
        expect(got.dtype, name).toBe(t.dtype);
        expect(bytes(got.data).equals(bytes(t.data)), `${name} copied`).toBe(true);
        continue;
      }
      const scale = tensors.get(`${name}_scale_inv`)!;
      expect(index.weight_map[`${name}_scale_inv`]).toBe(index.weight_map[name]);
      expect(got).toMatchObject({ dtype: 'e4m3', shape: t.shape });
      expect(scale).toMatchObject({ dtype: 'f32', shape: [Math.ceil(t.shape[0] / 128), Math.ceil(t.shape[1] / 128)] });
      const want = reference(t);
      expect(bytes(scale.data).equals(bytes(want.scales)), `${name} scales`).toBe(true);
      expect(bytes(got.data).equals(bytes(want.q)), `${name} data`).toBe(true);
    }
    // the all-zero block of down_proj gets the eps scale
    expect(tensors.get('model.layers.0.mlp.experts.0.down_proj.weight_scale_inv')!.data[1]).toBe(Math.fround(EPS / E4M3_MAX));
    expect(index.metadata.total_size).toBe(SHARDS.reduce((a, f) => {
      const buf = fs.readFileSync(at('fp8', f));
      return a + buf.length - 8 - Number(buf.readBigUInt64LE(0));
    }, 0));
  });

  test('config.json gains quantization_config; other files are copied', () => {
    const config = JSON.parse(fs.readFileSync(at('fp8', 'config.json'), 'utf8'));
    expect(config).toEqual({ model_type: 'deepseek_v3', hidden_size: 64, quantization_config: { activation_scheme: 'dynamic', fmt: 'e4m3', quant_method: 'fp8', weight_block_size: [128, 128] } });
    expect(fs.readFileSync(at('fp8', 'tokenizer.json'), 'utf8')).toBe('{"tok": true}');
    expect(JSON.parse(fs.readFileSync(at('back', 'config.json'), 'utf8'))).toEqual({ model_type: 'deepseek_v3', hidden_size: 64 });
  });

  test('NaN / inf blocks: NaN scale and 0x7F bytes in that block only', () => {
    const f = new Float32Array(130 * 2).fill(1);
    f[3] = NaN;
    f[129 * 2] = Infinity; // row 129: the second block row
    const r = blockQuantizeSync({ dtype: 'bf16', shape: [130, 2], data: bf16(f) } as never);
    expect(r.scales.data[0]).toBeNaN();
    expect(r.scales.data[1]).toBeNaN();
    expect(new Set(r.data.data)).toEqual(new Set([0x7f]));
    const g = new Float32Array(130 * 2).fill(1);
    g[0] = NaN;
    const r2 = blockQuantizeSync({ dtype: 'bf16', shape: [130, 2], data: bf16(g) } as never);
    expect(r2.scales.data[1]).toBe(Math.fround(1 / 448));
    expect([...r2.data.data.subarray(256)]).toEqual([0x7e, 0x7e, 0x7e, 0x7e]);
  });
});

describe('round trips', () => {
  test('BF16 → FP8 → BF16 stays within the quantization error', () => {
    // x' = bf16(y), y = fl(f32(q)·s), q = e4m3(v), v = fl(x·inv), inv = fl(1/s); every fl has |δ| ≤ 2^-24.
    // v·s = x(1+δ1)(1+δ2). q − v = e: a normal e4m3 value is off by at most half an ulp, |e| ≤ 2^-4·|v|
    // (3 mantissa bits); a subnormal one by |e| ≤ 2^-10 (half of 2^-9); saturation only trims
    // |v| ≤ 448(1+2^-22) to 448. So |y − x| ≤ A = max(2^-4·|x|(1+2^-22), 2^-10·s)(1+2^-23) + 2^-22·|x|,
    // and bf16 (8 significant bits) adds at most 2^-8·|y| ≤ 2^-8(|x| + A):
    //   |x' − x| ≤ A·(1 + 2^-8) + 2^-8·|x|.
    const { tensors, index } = load(at('back'));
    expect(Object.keys(index.weight_map).sort()).toEqual(Object.keys(original).sort());
    const fp8Files = load(at('fp8')).tensors;
    let worst = 0;
    for (const [name, t] of Object.entries(original)) {
      const got = tensors.get(name)!;
      expect(got.dtype, name).toBe(t.dtype);
      if (!FP8_WEIGHTS.includes(name)) {
        expect(bytes(got.data).equals(bytes(t.data)), `${name} unchanged`).toBe(true);
        continue;
      }
      const [M, K] = t.shape, nb = Math.ceil(K / 128);
      const s = fp8Files.get(`${name}_scale_inv`)!.data;
      const x = f32of(t.data as Uint16Array), y = f32of(got.data as Uint16Array);
      for (let i = 0; i < M * K; i++) {
        const sc = s[Math.floor(i / K / 128) * nb + Math.floor((i % K) / 128)];
        const ax = Math.abs(x[i]);
        const A = Math.max(2 ** -4 * ax * (1 + 2 ** -22), 2 ** -10 * sc) * (1 + 2 ** -23) + 2 ** -22 * ax;
        const bound = A * (1 + 2 ** -8) + 2 ** -8 * ax;
        const err = Math.abs(y[i] - x[i]);
        if (!(err <= bound)) expect.fail(`${name}[${Math.floor(i / K)}, ${i % K}]: x=${x[i]} x'=${y[i]} |err| ${err} > bound ${bound} (scale ${sc})`);
        worst = Math.max(worst, err / bound);
      }
    }
    expect(worst, 'the bound is attained to within a factor 2 (so it tests something)').toBeGreaterThan(0.5);
  });

  test('FP8 → BF16 → FP8 reproduces every byte', () => {
    bf16ToFp8Sync(at('back'), at('fp8-again'));
    expectSameFiles(at('fp8'), at('fp8-again'));
  });

  test('FP8 → BF16 → FP8 with the scale in another shard than its weight, and no index', () => {
    const s = seed('checkpoint-split');
    const dir = at('split');
    fs.mkdirSync(dir);
    const w = weight([260, 300], s);
    const { data, scales } = blockQuantizeSync(w as never);
    writeSafetensorsSync(path.join(dir, 'a.safetensors'), { 'x.o_proj.weight': data, 'x.norm.weight': vector(300, s + 1) } as never);
    writeSafetensorsSync(path.join(dir, 'b.safetensors'), { 'x.o_proj.weight_scale_inv': scales, 'x.kv_b_proj.weight': weight([1, 128], s + 2) } as never);
    fp8ToBf16Sync(dir, at('split-bf16'));
    const mid = load(at('split-bf16')).tensors;
    expect(mid.get('x.o_proj.weight')!.dtype).toBe('bf16');
    expect(mid.has('x.o_proj.weight_scale_inv')).toBe(false);
    bf16ToFp8Sync(at('split-bf16'), at('split-fp8'));
    const again = load(at('split-fp8')).tensors;
    expect(bytes(again.get('x.o_proj.weight')!.data).equals(bytes(data.data))).toBe(true);
    expect(bytes(again.get('x.o_proj.weight_scale_inv')!.data).equals(bytes(scales.data))).toBe(true);
    expect(again.get('x.kv_b_proj.weight')!.dtype).toBe('e4m3'); // bf16 in the source: quantized now
  });

  test('the eps exception: a block clamped to eps whose amax is within 1/32 of eps', () => {
    // amax ∈ [432/448·eps, eps) quantizes its largest element to 448 with s = eps/448; dequantized, that
    // is bf16(448·s) = bf16(eps) > eps, so quantizing again finds amax = bf16(eps) and a new scale. Only
    // such blocks fail to reproduce; a block with amax ≥ eps dequantizes its largest element to amax exactly.
    const x = bf16(Float32Array.of(0.98e-4, -0.5e-4));
    const a = blockQuantizeSync({ dtype: 'bf16', shape: [1, 2], data: x } as never);
    const [s0] = a.scales.data;
    expect(s0).toBe(Math.fround(EPS / E4M3_MAX));
    expect(a.data.data[0]).toBe(0x7e);
    const y = f32of(bf16(Float32Array.of(448 * s0)))[0];
    expect(y).toBeGreaterThan(EPS);
    const again = blockQuantizeSync({ dtype: 'bf16', shape: [1, 2], data: bf16(Float32Array.of(y, -0.5e-4)) } as never);
    expect(again.scales.data[0]).toBe(Math.fround(y / E4M3_MAX));
    expect(again.scales.data[0]).not.toBe(s0);
  });

  test('the Promise forms write the same files', async () => {
    await bf16ToFp8(at('bf16'), at('fp8-async'));
    expectSameFiles(at('fp8'), at('fp8-async'));
    await fp8ToBf16(at('fp8-async'), at('back-async'));
    expectSameFiles(at('back'), at('back-async'));
  });
});

describe('fp8kit convert', () => {
  const wired = fs.existsSync(path.join(dist, 'cli', 'main.js')) && fs.readFileSync(path.join(dist, 'cli', 'main.js'), 'utf8').includes('runConvert');

  test('runConvert both ways gives the files the functions give', async () => {
    expect(await runConvert([at('bf16'), at('cli-fp8'), '--to', 'fp8'])).toBe(0);
    expectSameFiles(at('fp8'), at('cli-fp8'));
    expect(await runConvert(['--to', 'bf16', at('cli-fp8'), at('cli-back')])).toBe(0);
    expectSameFiles(at('back'), at('cli-back'));
  });

  test.skipIf(!wired)('the installed command, spawned', () => {
    const cli = path.join(dist, 'cli', 'main.js');
    execFileSync(process.execPath, [cli, 'convert', at('bf16'), at('spawn-fp8'), '--to', 'fp8']);
    expectSameFiles(at('fp8'), at('spawn-fp8'));
    execFileSync(process.execPath, [cli, 'convert', at('spawn-fp8'), at('spawn-back'), '--to', 'bf16', '--progress']);
    expectSameFiles(at('back'), at('spawn-back'));
    const r = spawnSync(process.execPath, [cli, 'convert', at('nope'), at('x'), '--to', 'bf16'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/ERR_ARGUMENT: source .*nope does not exist/);
  });

  test('--include picks the weights to quantize', async () => {
    expect(await runConvert([at('bf16'), at('cli-include'), '--to', 'fp8', '--include', 'down_proj|lm_head'])).toBe(0);
    const { tensors } = load(at('cli-include'));
    const quantized = [...tensors].filter(([, t]) => t.dtype === 'e4m3').map(([n]) => n).sort();
    expect(quantized).toEqual(['lm_head.weight', 'model.layers.0.mlp.experts.0.down_proj.weight']);
  });

  test('--progress prints per-shard lines when stderr is not a terminal', async () => {
    const lines: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => (lines.push(String(s)), true));
    try {
      await runConvert([at('fp8'), at('cli-progress'), '--to', 'bf16', '--progress']);
    } finally {
      spy.mockRestore();
    }
    const out = lines.join('');
    expect(out).toMatch(new RegExp(`converted ${SHARDS[0]}: \\d+/9 tensors`));
    expect(out).toMatch(new RegExp(`converted ${SHARDS[1]}: 9/9 tensors`));
    expect(out).toMatch(/done: 9 tensors/);
  });

  test('clear errors', async () => {
    const err = (args: string[]) => runConvert(args).then(() => expect.fail(`${args.join(' ')} should fail`), (e) => e);
    fs.mkdirSync(at('empty'));
    fs.mkdirSync(at('full'));
    fs.writeFileSync(at('full', 'x'), 'x');
    expect(await err([at('nope'), at('d1'), '--to', 'bf16'])).toMatchObject({ code: 'ERR_ARGUMENT', message: expect.stringMatching(/source .*nope does not exist/) });
    expect(await err([at('empty'), at('d1'), '--to', 'bf16'])).toMatchObject({ code: 'ERR_ARGUMENT', message: expect.stringMatching(/not a checkpoint directory/) });
    expect(await err([at('bf16'), at('full'), '--to', 'fp8'])).toMatchObject({ code: 'ERR_ARGUMENT', message: expect.stringMatching(/exists and is not empty .*--overwrite/) });
    expect(await err([at('bf16'), at('bf16'), '--to', 'fp8', '--force'])).toMatchObject({ code: 'ERR_ARGUMENT', message: expect.stringMatching(/is the source/) });
    expect(await err([at('bf16'), at('d1'), '--to', 'fp16'])).toMatchObject({ code: 'ERR_ARGUMENT', message: expect.stringMatching(/--to must be bf16 or fp8; got 'fp16'/) });
    expect(await err([at('bf16'), at('d1')])).toMatchObject({ code: 'ERR_ARGUMENT', message: expect.stringMatching(/--to must be/) });
    expect(await err([at('bf16'), '--to', 'fp8'])).toMatchObject({ code: 'ERR_ARGUMENT', message: expect.stringMatching(/needs <src> and <dst>/) });
    expect(await err([at('bf16'), at('d1'), '--to', 'fp8', '--frobnicate'])).toMatchObject({ code: 'ERR_ARGUMENT', message: expect.stringMatching(/Unknown option '--frobnicate'/) });
    expect(await err([at('bf16'), at('d1'), '--to', 'fp8', '--include', '(['])).toMatchObject({ code: 'ERR_ARGUMENT', message: expect.stringMatching(/invalid regular expression/) });
    expect(fs.existsSync(at('d1'))).toBe(false); // nothing created by a failed call
    expect(await runConvert([at('bf16'), at('full'), '--to', 'fp8', '--force'])).toBe(0);
    expect(await runConvert([at('bf16'), at('full'), '--to', 'fp8', '--overwrite'])).toBe(0);  // the API's name
    expect(fs.existsSync(at('full', SHARDS[0]))).toBe(true);
  });

  test('malformed checkpoints', () => {
    const copy = (name: string) => {
      fs.cpSync(at('fp8'), at(name), { recursive: true });
      return at(name);
    };
    // a scale_inv of the wrong shape
    const d1 = copy('bad-scale');
    const f = path.join(d1, SHARDS[1]);
    const st = readSafetensorsSync(f);
    const name = 'model.layers.0.mlp.experts.0.down_proj.weight_scale_inv';
    st.tensors.set(name, { dtype: 'f32', shape: [2, 2], data: new Float32Array(4) });
    writeSafetensorsSync(f, st.tensors, st.metadata);
    expect(() => fp8ToBf16Sync(d1, at('o1'))).toThrow(expect.objectContaining({ code: 'ERR_SHAPE', message: expect.stringContaining(`'${name}' of [128, 256] must be [1, 2]; got [2, 2]`) }));
    // an index naming a shard that is not there, and a tensor in the wrong shard
    const d2 = copy('bad-index');
    const index = JSON.parse(fs.readFileSync(path.join(d2, INDEX), 'utf8'));
    fs.rmSync(path.join(d2, SHARDS[1]));
    expect(() => fp8ToBf16Sync(d2, at('o2'))).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT', message: expect.stringMatching(/shard model-00002-of-00002\.safetensors named by the index is missing/) }));
    index.weight_map['lm_head.weight'] = SHARDS[0];
    fs.cpSync(at('fp8', SHARDS[1]), path.join(d2, SHARDS[1]));
    fs.writeFileSync(path.join(d2, INDEX), JSON.stringify(index));
    expect(() => fp8ToBf16Sync(d2, at('o2'))).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT', message: expect.stringMatching(/says 'lm_head\.weight' is in model-00001/) }));
    fs.writeFileSync(path.join(d2, INDEX), '{"weight_map": ');
    expect(() => fp8ToBf16Sync(d2, at('o2'))).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT', message: expect.stringMatching(/not valid JSON/) }));
    // a predicate that selects a vector
    expect(() => bf16ToFp8Sync(at('bf16'), at('o3'), { include: (n: string) => n.includes('norm') })).toThrow(expect.objectContaining({ code: 'ERR_SHAPE', message: expect.stringMatching(/must be 2-D/) }));
    expect(() => bf16ToFp8Sync(at('bf16'), at('o3'), { colour: 1 } as never)).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT', message: expect.stringMatching(/unknown option 'colour'/) }));
  });
});

describe('memory', () => {
  const MiB = 1024 * 1024;
  const TENSOR = 32 * MiB; // bf16 [4096, 4096]
  const COUNT = 8;

  test(`peak RSS grows by a small multiple of the largest tensor, not the checkpoint (${COUNT} × 32 MiB)`, () => {
    const s = seed('checkpoint-memory');
    const dir = at('mem');
    // Made in its own process, so the measuring process never held these tensors.
    const make = `
      const { writeSafetensorsSync } = require(${JSON.stringify(path.join(dist, 'safetensors.js'))});
      const fs = require('fs'), path = require('path'), dir = ${JSON.stringify(dir)};
      let x = ${s} >>> 0 || 1;
      const w = new Uint16Array(4096 * 4096);
      const put = (d, shards) => {
        fs.mkdirSync(d, { recursive: true });
        const map = {};
        shards.forEach((names, i) => {
          const f = 'model-' + i + '.safetensors', t = {};
          for (const n of names) { t[n] = { dtype: 'bf16', shape: [4096, 4096], data: w }; map[n] = f; }
          writeSafetensorsSync(path.join(d, f), t);
        });
        fs.writeFileSync(path.join(d, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: map }));
      };
      for (let i = 0; i < w.length; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; w[i] = (x & 0x807f) | ((112 + ((x >>> 8) & 15)) << 7); }
      const names = Array.from({ length: ${COUNT} }, (_, i) => 'model.layers.' + i + '.mlp.down_proj.weight');
      put(path.join(dir, 'bf16'), [names.slice(0, ${COUNT / 2}), names.slice(${COUNT / 2})]);
      const tiny = { 'a.q_proj.weight': { dtype: 'bf16', shape: [256, 256], data: w.subarray(0, 65536) } };
      fs.mkdirSync(path.join(dir, 'tiny'));
      writeSafetensorsSync(path.join(dir, 'tiny', 'model.safetensors'), tiny);
    `;
    execFileSync(process.execPath, ['-e', make]);
    const measure = (fn: string, src: string, dst: string) => {
      // maxRSS (KiB) after a tiny warm-up conversion, then after the real one.
      const script = `
        const c = require(${JSON.stringify(path.join(dist, 'checkpoint', 'convert.js'))});
        (async () => {
          await c.${fn}(${JSON.stringify(path.join(dir, 'tiny'))}, ${JSON.stringify(path.join(dir, 'warm-' + fn))});
          await c.${fn}(${JSON.stringify(path.join(dir, 'warm-' + fn))}, ${JSON.stringify(path.join(dir, 'warm2-' + fn))}).catch(() => {});
          const before = process.resourceUsage().maxRSS;
          const t0 = Date.now();
          await c.${fn}(${JSON.stringify(src)}, ${JSON.stringify(dst)});
          console.log(JSON.stringify({ before, after: process.resourceUsage().maxRSS, secs: (Date.now() - t0) / 1000 }));
        })();
      `;
      const r = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }));
      return { growthMiB: ((r.after - r.before) * 1024) / MiB, secs: r.secs };
    };
    const toFp8 = measure('bf16ToFp8', path.join(dir, 'bf16'), path.join(dir, 'fp8'));
    const toBf16 = measure('fp8ToBf16', path.join(dir, 'fp8'), path.join(dir, 'back'));
    console.log(`[memory] checkpoint ${COUNT} × 32 MiB bf16: peak RSS growth bf16→fp8 ${toFp8.growthMiB.toFixed(1)} MiB (${toFp8.secs} s), fp8→bf16 ${toBf16.growthMiB.toFixed(1)} MiB (${toBf16.secs} s)`);
    for (const g of [toFp8.growthMiB, toBf16.growthMiB]) {
      expect(g * MiB).toBeLessThan(6 * TENSOR);
      expect(g * MiB).toBeLessThan((COUNT * TENSOR) / 2); // far below the checkpoint
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
