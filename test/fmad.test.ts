// The FMA contraction policy (native/emu/cuda_emu.h): nvcc contracts a*b+c into fma.rn.f32 by
// default (--fmad=true), g++ -ffp-contract=off (the cuda-emu build) does not. fp8kit builds the
// plugin with -fmad=false and a kernel writes fmaf where it means an FMA, so both builds compute
// the same bits. This compiles the plugin's kernels to PTX for sm_90a with the plugin's CUDA flags
// (read from CMakeLists.txt) and checks that no kernel whose source has no fmaf holds an fma --
// and, on planted kernels, that the check sees a contracted a*b+c when -fmad=false is missing.
// The route and quantization kernels write their bit-exact products and sums with __fmul_rn /
// __fadd_rn (FP8K_FMUL / FP8K_FADD), which nvcc never contracts; the GEMM's promotion is plain
// arithmetic, contracted without the flag (as is the planted kernel).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, test } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const hasNvcc = spawnSync('nvcc', ['--version']).status === 0;
if (!hasNvcc) console.log('nvcc not found: the FMA policy check (PTX of the CUDA kernels) is skipped');
const dir = mkdtempSync(join(tmpdir(), 'fp8kit-fmad-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// The plugin's kernels, none of which writes fmaf: each must appear in the PTX, without an fma.
const noFmaKernels = [
  'cast_to_fp8_kernel', 'cast_from_fp8_kernel', 'convert_kernel', 'quantize_1xg_kernel', 'quantize_gxg_kernel',
  'col_quantize_kernel', 'dequantize_kernel', 'cast_transpose_kernel', 'transpose_bytes_kernel', 'transpose_scales_kernel',
  'route_kernel', 'reduce_rows_kernel', 'layout_kernel', 'copy_rows_kernel', 'gemm_kernel', 'gemm_decode_kernel',
  'gemm_pack_b_kernel', 'gemm_pack_scales_kernel',
];
const fma = /\b(?:fma|mad)(?:\.[a-z0-9]+)*\.f32\b/;

// The nvcc flags CMakeLists.txt gives the plugin's CUDA sources (the -gencode list aside).
function pluginFlags(): string[] {
  const cmake = readFileSync(join(root, 'CMakeLists.txt'), 'utf8');
  const m = /\$<\$<COMPILE_LANGUAGE:CUDA>:([^>]*)>/.exec(cmake);
  expect(m, 'the CUDA compile options in CMakeLists.txt').not.toBeNull();
  return m![1].split(/\s+/).filter((f) => f && !f.startsWith('-gencode') && f !== '--resource-usage');
}

// PTX -> the body of each function (.entry and .func), by mangled name.
function functions(ptx: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /^\s*(?:\.visible\s+|\.weak\s+)?\.(?:entry|func)\s+(?:\([^)]*\)\s*)?([\w$]+)/gm;
  const heads = [...ptx.matchAll(re)];
  heads.forEach((h, i) => out.set(h[1], ptx.slice(h.index!, i + 1 < heads.length ? heads[i + 1].index : ptx.length)));
  return out;
}

function ptxOf(flags: string[], source: string, out: string): Map<string, string> {
  const r = spawnSync('nvcc', ['-std=c++17', '-ptx', '-arch=sm_90a', ...flags, source, '-o', out], {
    cwd: root, encoding: 'utf8', timeout: 300_000,
  });
  expect(r.status, r.stderr).toBe(0);
  return functions(readFileSync(out, 'utf8'));
}
const withFma = (fns: Map<string, string>) => [...fns].filter(([, body]) => fma.test(body)).map(([name]) => name);
const named = (fns: Map<string, string>, k: string) => [...fns.keys()].filter((n) => n.includes(`${k.length}${k}`));

test.skipIf(!hasNvcc)('no fma in the PTX of kernels that write no fmaf (plugin flags, sm_90a)', () => {
  const flags = pluginFlags();
  expect(flags, 'CMakeLists.txt builds the plugin with -fmad=false').toContain('-fmad=false');
  const fns = ptxOf(flags, 'test/emu/fmad_check.cu', join(dir, 'plugin.ptx'));
  for (const k of noFmaKernels) {
    const entries = named(fns, k);
    expect(entries.length, `${k} in the PTX`).toBeGreaterThan(0);
    for (const e of entries) expect(fma.test(fns.get(e)!), `${e} holds an fma`).toBe(false);
  }
  // The only fma is the one the source asks for.
  expect(withFma(fns)).toEqual(named(fns, 'fmad_explicit_kernel'));
}, 300_000);

test.skipIf(!hasNvcc)('without -fmad=false the check catches a contracted a*b+c (planted kernel)', () => {
  const flags = pluginFlags().filter((f) => f !== '-fmad=false'); // nvcc's default: --fmad=true
  const fns = ptxOf(flags, 'test/emu/fmad_check.cu', join(dir, 'default.ptx'));
  // The GEMM's promotion (acc + part·s, written plainly) is contracted too: -fmad=false is what keeps it
  // two roundings, as ref's 'limited' with promotionInterval 128 computes it.
  const gemm = [...named(fns, 'gemm_kernel'), ...named(fns, 'gemm_decode_kernel')];
  expect(gemm.length).toBe(16 + 4);  // 4 format pairs x 4 layouts, and the small-M kernel's 4
  expect(withFma(fns).sort()).toEqual([...named(fns, 'fmad_planted_kernel'), ...named(fns, 'fmad_explicit_kernel'), ...gemm].sort());
}, 300_000);
